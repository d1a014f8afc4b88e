"""Fixtures shared by every test: capture folders and running simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

# Home Assistant's loader finds custom integrations through the top-level
# ``custom_components`` package; in tests that name otherwise resolves to the test
# plugin's own testing_config. Importing ours here, at collection time, makes it win.
import custom_components.enphase_iq_gateway  # noqa: F401
from simulator import Capture, CloudSimulator, GatewaySimulator, TokenAuthority

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
RICH_CAPTURE = "8.2.127_with_3cts_and_battery_split"
TOKEN_CAPTURES = [c for c in CAPTURES if Capture.load(FIXTURES / c).requires_token]
LEGACY_CAPTURES = [c for c in CAPTURES if c not in TOKEN_CAPTURES]

GatewayFactory = Callable[..., Awaitable[GatewaySimulator]]


@pytest.fixture
def authority() -> TokenAuthority:
    """The token authority shared by the simulated cloud and gateways of one test."""
    return TokenAuthority()


@pytest.fixture
def loopback(socket_enabled: None) -> None:
    """Let the test open sockets; the test plugin still allows only 127.0.0.1."""


@pytest.fixture
async def start_gateway(authority: TokenAuthority, loopback: None) -> AsyncIterator[GatewayFactory]:
    """Start simulated gateways on demand; all are stopped after the test."""
    started: list[GatewaySimulator] = []

    async def start(capture: str = RICH_CAPTURE, **kwargs: object) -> GatewaySimulator:
        simulator = GatewaySimulator(
            Capture.load(FIXTURES / capture),
            authority=authority,
            **kwargs,  # type: ignore[arg-type]
        )
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def gateway(start_gateway: GatewayFactory) -> GatewaySimulator:
    """The rich capture (3 CTs, batteries, split phase) served over HTTPS."""
    return await start_gateway(RICH_CAPTURE)


@pytest.fixture
async def cloud(authority: TokenAuthority, loopback: None) -> AsyncIterator[CloudSimulator]:
    """The simulated Enlighten + Entrez cloud."""
    simulator = CloudSimulator(authority)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def http_session(loopback: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session as the integration makes it: a cookie jar that accepts IP hosts."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def cloud_session(loopback: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A session for the Enphase cloud as the integration makes it: it keeps no cookies."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session
