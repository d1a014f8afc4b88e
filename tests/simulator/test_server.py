"""What the gateway and cloud simulators share: start/stop, the clock, the control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
import socket
from typing import Any

import aiohttp
import pytest

from simulator import Capture, Clock, CloudSimulator, GatewaySimulator, TokenAuthority
from simulator.server import ControlError, SimulatorServer, http_status_or_none, one_of, whole
from tests.conftest import FIXTURES, RICH_CAPTURE

# --------------------------------------------------------------------------- validators


@pytest.mark.parametrize(
    ("validator", "good", "bad"),
    [
        (whole(1), [1, 5], [0, 1.5, True, "2", None]),
        (one_of(None, 401, 403), [None, 401, 403], [401.0, "401", 404, True]),
        (one_of("503", "reset"), ["503", "reset"], [503, "RESET"]),
        (http_status_or_none, [None, 404, 500], [99, 600, "404", True, 404.0]),
    ],
)
def test_setting_validators(validator: Any, good: list[Any], bad: list[Any]) -> None:
    """Each validator takes its own kind of value as is and refuses any other."""
    for value in good:
        assert validator("x", value) == value
    for value in bad:
        with pytest.raises(ControlError, match="x must be"):
            validator("x", value)


# --------------------------------------------------------------------------- both servers


@pytest.fixture(params=["gateway", "cloud"])
async def server(
    request: pytest.FixtureRequest, authority: TokenAuthority, loopback: None
) -> AsyncIterator[SimulatorServer]:
    """Each simulator in turn, on one clock frozen at a known time."""
    clock = Clock(start=1_700_000_000)
    simulator: SimulatorServer
    if request.param == "gateway":
        simulator = GatewaySimulator(
            Capture.load(FIXTURES / RICH_CAPTURE), authority=authority, clock=clock
        )
    else:
        simulator = CloudSimulator(authority, clock=clock)
    async with simulator:
        yield simulator


async def call(server: SimulatorServer, method: str, action: str, **kwargs: Any) -> tuple[int, Any]:
    """One control API request: status and JSON answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{server.control_url}/{action}", ssl=False, **kwargs) as response,
    ):
        return response.status, await response.json()


async def test_lifecycle(server: SimulatorServer) -> None:
    """A free port was picked and read back; URLs follow it; stop closes it for good."""
    assert server.port != 0
    assert server.url == f"https://127.0.0.1:{server.port}"
    assert server.control_url == f"{server.url}/__simulator"
    await server.stop()
    await server.stop()  # stopping twice is harmless
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0


async def test_clock_action(server: SimulatorServer) -> None:
    """GET shows the clock; POST advance moves it; a bad advance is refused."""
    assert await call(server, "GET", "clock") == (
        200,
        {"now": 1_700_000_000, "frozen": True, "advanced": 0},
    )
    status, body = await call(server, "POST", "clock", json={"advance": 90})
    assert status == 200
    assert body["now"] == 1_700_000_090
    assert server.clock.now() == 1_700_000_090
    for bad in ({}, {"advance": -5}, {"advance": "soon"}, {"advance": True}):
        status, body = await call(server, "POST", "clock", json=bad)
        assert status == 400
        assert "advance must be a number" in body["error"]
    assert server.clock.now() == 1_700_000_090


async def test_settings_are_all_or_nothing(server: SimulatorServer) -> None:
    """One wrong or unknown setting refuses the whole change."""
    before = (await call(server, "GET", "settings"))[1]
    assert before["outage"] is False
    status, body = await call(server, "POST", "settings", json={"outage": True, "typo": 1})
    assert status == 400
    assert body == {"error": "unknown setting(s): typo"}
    status, _ = await call(server, "POST", "settings", json={"outage": True, "outage_mode": 1})
    if isinstance(server, GatewaySimulator):  # the gateway has no outage_mode
        assert status == 400
    status, body = await call(server, "POST", "settings", json={"outage": True, "otp_lifetime": -1})
    assert status == 400
    assert await call(server, "GET", "settings") == (200, before)
    status, body = await call(server, "POST", "settings", json={"outage": True})
    assert (status, body) == (200, {**before, "outage": True})


async def test_stats_reset(server: SimulatorServer) -> None:
    """DELETE stats starts counting afresh, for both."""
    async with aiohttp.ClientSession() as session:
        await (await session.post(f"{server.url}/login/login.json", ssl=False)).release()
        await (await session.get(f"{server.url}/info", ssl=False)).release()
    status, counted = await call(server, "GET", "stats")
    assert status == 200
    assert sum(_counts(counted)) > 0
    status, cleared = await call(server, "DELETE", "stats")
    assert status == 200
    assert sum(_counts(cleared)) == 0


def _counts(stats: dict[str, Any]) -> list[int]:
    """Every count in a stats answer (nested per-path counts included)."""
    counts: list[int] = []
    for value in stats.values():
        if isinstance(value, dict):
            counts.extend(value.values())
        elif isinstance(value, int) and not isinstance(value, bool):
            counts.append(value)
    return counts


@pytest.mark.parametrize(
    ("method", "action"), [("GET", "nothing"), ("PUT", "settings"), ("GET", "")]
)
async def test_unknown_action(server: SimulatorServer, method: str, action: str) -> None:
    """An action or method the API does not have: 404, saying which."""
    status, body = await call(server, method, action)
    assert status == 404
    assert body == {"error": f"no control action {method} {action}"}


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{not json", "body must be JSON"), (b"[1, 2]", "body must be a JSON object")],
)
async def test_body_must_be_a_json_object(server: SimulatorServer, body: bytes, error: str) -> None:
    """Every action takes a JSON object, or no body."""
    status, answer = await call(
        server, "POST", "settings", data=body, headers={"Content-Type": "application/json"}
    )
    assert (status, answer) == (400, {"error": error})


async def test_port_in_use(authority: TokenAuthority, loopback: None) -> None:
    """A port that is taken raises, and nothing is left half started."""
    async with CloudSimulator(authority) as first:
        second = CloudSimulator(authority, port=first.port)
        with pytest.raises(OSError):
            await second.start()
        assert second._runner is None


async def test_shared_clock(authority: TokenAuthority, loopback: None) -> None:
    """Gateway and cloud on one clock: advancing either moves both."""
    clock = Clock(start=0)
    gateway = GatewaySimulator(
        Capture.load(FIXTURES / RICH_CAPTURE), authority=authority, clock=clock
    )
    async with gateway, CloudSimulator(authority, clock=clock) as cloud:
        await call(gateway, "POST", "clock", json={"advance": 10})
        await call(cloud, "POST", "clock", json={"advance": 5})
        assert (await call(cloud, "GET", "clock"))[1]["now"] == 15
        assert gateway.clock.now() == cloud.clock.now() == 15


def test_a_tls_server_needs_a_certificate(authority: TokenAuthority) -> None:
    """Without a certificate there is no HTTPS to serve."""
    gateway = GatewaySimulator(Capture.load(FIXTURES / RICH_CAPTURE), authority=authority)
    with pytest.raises(RuntimeError, match="certificate"):
        gateway._ssl_context()
