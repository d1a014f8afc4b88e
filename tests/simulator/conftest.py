"""Helpers for the simulator tests: plain HTTP requests whose every header is explicit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
import json
from typing import Any

import aiohttp
import pytest

from simulator import GatewaySimulator


@dataclass(frozen=True)
class Answer:
    """What the simulator answered."""

    status: int
    body: bytes
    headers: dict[str, str]
    session_id: str | None
    set_cookie: str | None

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@pytest.fixture
async def raw_session(loopback: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A session that keeps no cookies: each request says which cookie it sends."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def fetch(
    session: aiohttp.ClientSession,
    simulator: GatewaySimulator,
    path: str,
    *,
    method: str = "GET",
    token: str | None = None,
    session_id: str | None = None,
    wait: float = 5,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Answer:
    """One request to the simulator, with a bearer token and a session cookie if given."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session_id is not None:
        headers["Cookie"] = f"sessionId={session_id}"
    async with session.request(
        method,
        f"{simulator.url}{path}",
        headers=headers,
        ssl=False,
        timeout=aiohttp.ClientTimeout(total=wait),
        **kwargs,
    ) as response:
        morsel = response.cookies.get("sessionId")
        return Answer(
            status=response.status,
            body=await response.read(),
            headers=dict(response.headers),
            session_id=morsel.value if morsel is not None else None,
            set_cookie=response.headers.get("Set-Cookie"),
        )
