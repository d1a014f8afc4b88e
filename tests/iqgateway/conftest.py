"""Fixtures for the client tests: clients on simulated gateways, and snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
import socket
from typing import Any

import aiohttp
from aiohttp import web
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.amber import AmberSnapshotExtension
from syrupy.location import PyTestLocation

from custom_components.enphase_iq_gateway.iqgateway import IQGateway
from simulator import GatewaySimulator
from simulator.tls import shared_certificate

from .common import GatewayTime

ClientFactory = Callable[..., IQGateway]
AUTO = "auto"


class ClientSnapshots(AmberSnapshotExtension):
    """Plain amber snapshots in ``tests/iqgateway/snapshots``, one set for every leg.

    The snapshots hold plain data (see ``common.plain``), never Home Assistant types, so
    both Python versions and both syrupy versions write the same text.
    """

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """``snapshots`` next to the test file."""
        return str(Path(test_location.filepath).parent / "snapshots")


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with syrupy's own amber serializer (not Home Assistant's)."""
    return snapshot.use_extension(ClientSnapshots)


@pytest.fixture
def gateway_time() -> GatewayTime:
    """The request timeouts of the test's clients, on the simulated gateways' time."""
    return GatewayTime()


@pytest.fixture
def make_client(http_session: aiohttp.ClientSession, gateway_time: GatewayTime) -> ClientFactory:
    """A client for a simulated gateway, with a token when its firmware wants one.

    ``retry_delay`` is 0 unless given: the tests count retries, they do not wait for them.
    Its requests time out on the gateway's time (``gateway_time``), never on the machine's.
    """

    def make(
        simulator: GatewaySimulator,
        *,
        token: str | None = AUTO,
        session: aiohttp.ClientSession | None = None,
        **kwargs: Any,
    ) -> IQGateway:
        if token == AUTO:
            token = simulator.issue_token() if simulator.capture.requires_token else None
        kwargs.setdefault("retry_delay", 0)
        gateway_time.follow(simulator)
        kwargs.setdefault("timer", gateway_time)
        return IQGateway(simulator.address, session or http_session, token=token, **kwargs)

    return make


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Apps:
    """Tiny aiohttp apps on 127.0.0.1 for answers no simulator gives."""

    def __init__(self) -> None:
        """No app yet."""
        self._runners: list[web.AppRunner] = []
        self._released = asyncio.Event()

    async def start(self, routes: Mapping[str, Handler], *, tls: bool = False) -> str:
        """Serve ``routes`` (HTTPS with the simulators' CA if ``tls``); return the base URL."""
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        self._runners.append(runner)
        context = shared_certificate().server_context() if tls else None
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def hang(self) -> None:
        """Never answer (until the test ends, so no handler outlives it)."""
        await self._released.wait()

    async def close(self) -> None:
        """Release hanging handlers and stop every app."""
        self._released.set()
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def apps(loopback: None) -> AsyncIterator[Apps]:
    """Small web apps, stopped after the test."""
    apps = Apps()
    yield apps
    await apps.close()


@pytest.fixture
def free_port(loopback: None) -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
