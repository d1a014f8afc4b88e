"""The gateway simulator's control API under /__simulator/, over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from simulator import GatewaySimulator

from .conftest import Answer, fetch

PRODUCTION = "/api/v1/production"
Session = aiohttp.ClientSession


async def control(
    session: Session, gateway: GatewaySimulator, action: str, method: str = "GET", **kwargs: Any
) -> Answer:
    """One control API call."""
    return await fetch(session, gateway, f"/__simulator/{action}", method=method, **kwargs)


async def test_stats_get_and_delete(gateway: GatewaySimulator, raw_session: Session) -> None:
    """Stats as JSON; DELETE starts counting afresh. Control calls are not counted."""
    await fetch(raw_session, gateway, PRODUCTION, token=gateway.issue_token())
    stats = await control(raw_session, gateway, "stats")
    assert stats.status == 200
    body = stats.json()
    assert body["requests"] == {PRODUCTION: 1}
    assert body["jwt_validations"] == {PRODUCTION: 1}
    assert body["total_requests"] == 1
    cleared = await control(raw_session, gateway, "stats", "DELETE")
    assert cleared.json()["total_requests"] == 0
    assert gateway.stats.requests == {}


async def test_faults(gateway: GatewaySimulator, raw_session: Session) -> None:
    """List, add (with defaults), take effect, clear."""
    assert (await control(raw_session, gateway, "faults")).json() == []
    added = await control(
        raw_session, gateway, "faults", "POST", json={"kind": "server_error", "path": "/info"}
    )
    assert added.status == 200
    assert added.json() == [{"kind": "server_error", "count": 1, "path": "/info", "status": 503}]
    await control(
        raw_session, gateway, "faults", "POST", json={"kind": "reset", "count": None, "status": 599}
    )
    assert len((await control(raw_session, gateway, "faults")).json()) == 2
    cleared = await control(raw_session, gateway, "faults", "DELETE")
    assert cleared.json() == []
    assert len(gateway.faults) == 0

    await control(raw_session, gateway, "faults", "POST", json={"kind": "server_error"})
    assert (await fetch(raw_session, gateway, "/info")).status == 503
    assert (await fetch(raw_session, gateway, "/info")).status == 200


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"kind": "meltdown"},
        {"kind": "reset", "count": "x"},
        {"kind": "reset", "count": True},
        {"kind": "reset", "count": 1.5},
        {"kind": "reset", "path": 3},
        {"kind": "server_error", "status": "teapot"},
        {"kind": "server_error", "status": [500]},
    ],
)
async def test_bad_fault(gateway: GatewaySimulator, raw_session: Session, fault: object) -> None:
    """A fault that cannot be understood is refused, and the simulator keeps working."""
    answer = await control(raw_session, gateway, "faults", "POST", json=fault)
    assert answer.status == 400
    assert "bad fault" in answer.json()["error"]
    assert len(gateway.faults) == 0
    assert (await fetch(raw_session, gateway, "/info")).status == 200


DEFAULT_SETTINGS = {
    "latency": 0.0,
    "session_idle": 600.0,
    "single_worker": False,
    "outage": False,
    "moving": False,
    "report_interval": 300.0,
    "stream_timeout": 900.0,
    "stream_owner_refusal": None,
}


async def test_settings(gateway: GatewaySimulator, raw_session: Session) -> None:
    """GET shows every setting; POST changes some and answers them all."""
    current = await control(raw_session, gateway, "settings")
    assert current.json() == DEFAULT_SETTINGS
    gateway.latency = 0  # an int now: a new value keeps its own type
    changes = {
        "latency": 0.01,
        "single_worker": True,
        "session_idle": 5,
        "moving": True,
        "report_interval": 0,
        "stream_timeout": 60,
        "stream_owner_refusal": 403,
    }
    changed = await control(raw_session, gateway, "settings", "POST", json=changes)
    assert changed.json() == {
        **DEFAULT_SETTINGS,
        **changes,
        "session_idle": 5.0,
        "report_interval": 0.0,
    }
    assert gateway.latency == 0.01
    assert gateway.single_worker is True
    assert gateway.session_idle == 5.0
    assert gateway.moving is True
    assert gateway.site.moving is True
    assert gateway.site.stream.timeout == 60.0
    assert gateway.site.report_interval == 0.0
    assert gateway.stream_owner_refusal == 403


@pytest.mark.parametrize(
    "settings",
    [
        {"latency": "slow"},
        {"latency": -1},
        {"latency": True},
        {"outage": "false"},
        {"single_worker": 1},
        {"latency": 0.5, "outage": "yes"},
        {"moving": "on"},
        {"stream_owner_refusal": 404},
        {"latency": 0.5, "unknown": 1},
    ],
)
async def test_bad_settings(
    gateway: GatewaySimulator, raw_session: Session, settings: dict[str, object]
) -> None:
    """A value of the wrong kind is refused and nothing changes."""
    answer = await control(raw_session, gateway, "settings", "POST", json=settings)
    assert answer.status == 400
    assert (await control(raw_session, gateway, "settings")).json() == DEFAULT_SETTINGS


async def test_token(gateway: GatewaySimulator, raw_session: Session) -> None:
    """Issue an owner token, or one of a role and lifetime; it is accepted."""
    owner = (await control(raw_session, gateway, "token", "POST")).json()["token"]
    claims = gateway.authority.verify(owner, gateway.serial)
    assert claims["enphaseUser"] == "owner"
    assert (await fetch(raw_session, gateway, PRODUCTION, token=owner)).status == 200

    answer = await control(
        raw_session, gateway, "token", "POST", json={"role": "installer", "lifetime": 60}
    )
    claims = gateway.authority.verify(answer.json()["token"], gateway.serial)
    assert claims["enphaseUser"] == "installer"
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize(
    "request_body",
    [
        {"role": "admin"},
        {"role": "admin", "lifetime": 60},
        {"lifetime": "forever"},
        {"lifetime": [1]},
    ],
)
async def test_bad_token_request(
    gateway: GatewaySimulator, raw_session: Session, request_body: dict[str, object]
) -> None:
    """An unknown role or a lifetime that is no number: 400, no token."""
    answer = await control(raw_session, gateway, "token", "POST", json=request_body)
    assert answer.status == 400
    assert "token" not in answer.json()


async def test_sessions_delete(gateway: GatewaySimulator, raw_session: Session) -> None:
    """Forget every session, as a gateway restart does."""
    check = await fetch(raw_session, gateway, "/auth/check_jwt", token=gateway.issue_token())
    assert (
        await fetch(raw_session, gateway, PRODUCTION, session_id=check.session_id)
    ).status == 200
    assert (await control(raw_session, gateway, "sessions", "DELETE")).status == 200
    assert (
        await fetch(raw_session, gateway, PRODUCTION, session_id=check.session_id)
    ).status == 401


@pytest.mark.parametrize(
    ("action", "method"),
    [("nothing", "GET"), ("stats", "POST"), ("token", "GET"), ("sessions", "GET"), ("", "GET")],
)
async def test_unknown_action(
    gateway: GatewaySimulator, raw_session: Session, action: str, method: str
) -> None:
    """An action (or method) the API does not have: 404."""
    answer = await control(raw_session, gateway, action, method)
    assert answer.status == 404
    assert "no control action" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{not json", "body must be JSON"), (b"[1, 2]", "body must be a JSON object")],
)
async def test_body_that_is_not_a_json_object(
    gateway: GatewaySimulator, raw_session: Session, body: bytes, error: str
) -> None:
    """Every action wants a JSON object, or no body."""
    answer = await control(
        raw_session,
        gateway,
        "faults",
        "POST",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 400
    assert answer.json() == {"error": error}
