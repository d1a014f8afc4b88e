"""Helpers shared by the client tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
import dataclasses
from datetime import datetime, timedelta
from enum import Enum
import json
import ssl
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest

from custom_components.enphase_iq_gateway.iqgateway import IQGateway, IQGatewayError
from custom_components.enphase_iq_gateway.iqgateway.endpoints import Endpoint
from simulator import GatewaySimulator

# Exception types the client must never let out: its callers catch IQGatewayError only.
FOREIGN_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    json.JSONDecodeError,
    ET.ParseError,
    ssl.SSLError,
    OSError,
    TimeoutError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
)


async def raises[E: IQGatewayError](kind: type[E], awaitable: Awaitable[Any]) -> E:
    """Await and return the error, which must be exactly ``kind`` and nothing foreign.

    ``pytest.raises(IQGatewayError)`` lets any other exception through, failing the test:
    that is the check that no aiohttp, json or xml exception escapes.
    """
    with pytest.raises(IQGatewayError) as caught:
        await awaitable
    error = caught.value
    assert type(error) is kind, f"expected {kind.__name__}, got {error!r}"
    assert not isinstance(error, FOREIGN_ERRORS)
    return error


def plain(value: Any) -> Any:
    """A JSON-like form of a model, stable across Python versions (for snapshots).

    Endpoints become their paths, dataclasses dicts of their fields (``raw`` left out),
    mappings dicts with string keys in sorted order, sets sorted lists, datetimes ISO
    strings, enums values.
    """
    if isinstance(value, Endpoint):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "raw"
        }
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return {str(plain(k)): plain(v) for k, v in items}
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def opened(client: IQGateway) -> IQGateway:
    """The client once it knows its gateway's scheme and holds a cookie session."""
    await client.detect()
    await client.check_jwt()
    return client


class Clock:
    """A clock the test moves by hand (seconds), for the client's slow cadences."""

    def __init__(self) -> None:
        """Start at an arbitrary time."""
        self.now = 1_000_000.0

    def __call__(self) -> float:
        """The time now."""
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the time on."""
        self.now += delta.total_seconds()


class GatewayTime:
    """The client's request timeouts, run on the simulated gateway's time.

    Give it to a client as its ``timer`` and listen to a simulator with ``follow()``. A
    request then times out exactly when the gateway is to take longer than its timeout to
    answer (``latency``, or a hanging ``timeout`` fault), at once, and never because the
    machine running the test is slow. ``given`` holds each request's timeout, in order,
    and ``expired`` those that ran out.
    """

    def __init__(self) -> None:
        """No request yet."""
        self.given: list[float] = []
        self.expired: list[float] = []
        self._running: list[tuple[float, asyncio.Timeout]] = []

    def follow(self, simulator: GatewaySimulator) -> None:
        """Learn from ``simulator`` how long its answers take."""
        if self.delayed not in simulator.on_delay:
            simulator.on_delay.append(self.delayed)

    @asynccontextmanager
    async def __call__(self, seconds: float) -> AsyncIterator[None]:
        """Bound one request by ``seconds`` of the gateway's time."""
        self.given.append(seconds)
        async with asyncio.timeout(None) as timeout:
            running = (seconds, timeout)
            self._running.append(running)
            try:
                yield
            finally:
                self._running.remove(running)

    def delayed(self, seconds: float) -> None:
        """The gateway waits ``seconds`` before it answers: longer timeouts run out now."""
        now = asyncio.get_running_loop().time()
        for limit, timeout in self._running:
            if seconds > limit and not timeout.expired():
                self.expired.append(limit)
                timeout.reschedule(now)
