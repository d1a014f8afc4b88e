"""A fake IQ Gateway serving a capture folder over loopback.

It behaves like the real device where a client can tell the difference:

* HTTPS with a certificate made at start for token firmware (7+), plain HTTP for legacy
  captures (``tls`` overrides);
* token firmware wants a valid bearer token (signed by the simulator's token authority,
  for this serial, not expired) on every endpoint but ``/info``;
* ``GET /auth/check_jwt`` validates the token and sets a ``sessionId`` cookie; while a
  client presents a live session cookie, the token is not validated again (a session
  lapses after ``session_idle`` seconds without use, or when its token expires, and a
  request with a lapsed or unknown session cookie is answered 401, token or not); firmware
  before 7 has no ``/auth/check_jwt`` (404);
* status codes come from the capture's ``*_log.json`` files; paths it lacks answer 404.

It counts requests and JWT validations per path, and the most requests it ever had in
flight at once, and can be told to misbehave (``faults``, ``latency``, ``single_worker``,
``outage``) from Python or over its control API under ``/__simulator/``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import secrets
import time
from typing import Any, Self

from aiohttp import web

from .capture import Capture
from .faults import Fault, FaultKind, FaultList
from .tls import ServerCertificate, shared_certificate
from .tokens import LIFETIMES, TokenAuthority, TokenRejectedError

CONTROL_PREFIX = "/__simulator"
SESSION_COOKIE = "sessionId"
UNAUTHENTICATED_PATHS = frozenset({"/info"})
# What the control API's settings action can change, and the type of each.
SETTINGS = {"latency": float, "session_idle": float, "single_worker": bool, "outage": bool}
HTML_ERROR_PAGE = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    b"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    b"<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
)
UNAUTHORIZED_PAGE = b"<html><body><h2>401 Unauthorized</h2></body></html>"
VALID_TOKEN_PAGE = b"<!DOCTYPE html><h2>Valid token.</h2>\n"


@dataclass(slots=True)
class Stats:
    """What the simulator saw."""

    requests: Counter[str] = field(default_factory=Counter)
    jwt_validations: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def reset(self) -> None:
        """Start counting afresh."""
        self.requests.clear()
        self.jwt_validations.clear()
        self.max_in_flight = self.in_flight

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "requests": dict(self.requests),
            "jwt_validations": dict(self.jwt_validations),
            "total_requests": sum(self.requests.values()),
            "total_jwt_validations": sum(self.jwt_validations.values()),
            "max_in_flight": self.max_in_flight,
        }


@dataclass(slots=True)
class _Session:
    expires_at: float
    last_used: float


class GatewaySimulator:
    """Serves one capture like the gateway it was taken from."""

    def __init__(
        self,
        capture: Capture | str | Path,
        *,
        authority: TokenAuthority | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool | None = None,
        certificate: ServerCertificate | None = None,
        session_idle: float = 600.0,
        hang_seconds: float = 3600.0,
    ) -> None:
        """Prepare the simulator; ``start()`` opens the port (0: any free port)."""
        self.capture = capture if isinstance(capture, Capture) else Capture.load(capture)
        self.authority = authority or TokenAuthority()
        self.host = host
        self.port = port
        self.tls = self.capture.requires_token if tls is None else tls
        self._certificate = certificate
        self.session_idle = session_idle
        self.hang_seconds = hang_seconds
        self.stats = Stats()
        self.faults = FaultList()
        self.latency = 0.0
        self.single_worker = False
        self.outage = False
        self._worker = asyncio.Lock()
        self._stopping = asyncio.Event()  # ends hanging requests when the simulator stops
        self._sessions: dict[str, _Session] = {}
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on ``host``:``port``."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        ssl_context = None
        if self.tls:
            self._certificate = self._certificate or shared_certificate()
            ssl_context = self._certificate.server_context()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_context)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the port and every connection, ending requests that hang (timeout faults)."""
        if self._runner is not None:
            self._stopping.set()
            try:
                await self._runner.cleanup()
            finally:
                self._runner = None
                self._stopping.clear()

    async def __aenter__(self) -> Self:
        """Start on entering."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop on leaving."""
        await self.stop()

    @property
    def address(self) -> str:
        """``host:port``, as a user would type it into the config flow."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL."""
        return f"{'https' if self.tls else 'http'}://{self.address}"

    @property
    def serial(self) -> str:
        """The gateway's serial number."""
        return self.capture.serial

    @property
    def ca_path(self) -> Path | None:
        """The CA that signed the gateway's certificate (for ``curl --cacert``)."""
        return self._certificate.ca_path if self._certificate else None

    def issue_token(self, role: str = "owner", **kwargs: Any) -> str:
        """A token this gateway accepts, as Entrez would issue it."""
        return self.authority.issue(self.serial, role=role, **kwargs)

    def add_fault(
        self,
        kind: FaultKind | str,
        *,
        count: int | None = 1,
        path: str | None = None,
        status: int = 503,
    ) -> None:
        """Misbehave for the next ``count`` requests (to ``path``, if given)."""
        self.faults.add(Fault(FaultKind(kind), count=count, path=path, status=status))

    def expire_sessions(self) -> None:
        """Forget every cookie session, as the gateway does after a restart or idle time."""
        self._sessions.clear()

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await self._control(request)
        path = request.path_qs
        self.stats.requests[request.path] += 1
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            if self.single_worker:
                async with self._worker:
                    return await self._answer(request, path)
            return await self._answer(request, path)
        finally:
            self.stats.in_flight -= 1

    async def _answer(self, request: web.Request, path: str) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.outage:
            return _reset(request)
        fault = self.faults.take(path)
        if fault is not None and fault.kind is not FaultKind.TRUNCATED:
            return await self._fault_response(request, fault)
        if request.method != "GET":
            return web.Response(status=405)
        if request.path == "/auth/check_jwt" and self.capture.requires_token:
            return self._check_jwt(request)  # older firmware has no such endpoint: 404
        captured = self.capture.get(path)
        if captured is None:
            return web.Response(
                status=404, body=b"<html><body><h2>404 Not Found</h2></body></html>"
            )
        if (
            self.capture.requires_token
            and request.path not in UNAUTHENTICATED_PATHS
            and not self._authorized(request)
        ):
            return web.Response(status=401, body=UNAUTHORIZED_PAGE, content_type="text/html")
        body = captured.body
        if fault is not None:  # truncated
            body = body[: len(body) // 2]
        headers = {"Content-Type": captured.content_type} if captured.content_type else {}
        return web.Response(status=captured.status, body=body, headers=headers)

    async def _fault_response(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind is FaultKind.UNAUTHORIZED:
            return web.Response(status=401, body=UNAUTHORIZED_PAGE, content_type="text/html")
        if fault.kind is FaultKind.SERVER_ERROR:
            return web.Response(status=fault.status, body=HTML_ERROR_PAGE, content_type="text/html")
        if fault.kind is FaultKind.HTML:
            return web.Response(status=200, body=HTML_ERROR_PAGE, content_type="text/html")
        if fault.kind is FaultKind.TIMEOUT:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)
            return web.Response(status=504)
        return _reset(request)

    # ------------------------------------------------------------------ tokens

    def _check_jwt(self, request: web.Request) -> web.Response:
        token = _bearer(request)
        if token is None:
            return web.Response(status=401, body=UNAUTHORIZED_PAGE, content_type="text/html")
        self.stats.jwt_validations[request.path] += 1
        try:
            claims = self.authority.verify(token, self.serial)
        except TokenRejectedError:
            return web.Response(status=401, body=UNAUTHORIZED_PAGE, content_type="text/html")
        session_id = secrets.token_hex(16)
        now = time.time()
        self._sessions[session_id] = _Session(expires_at=float(claims["exp"]), last_used=now)
        response = web.Response(status=200, body=VALID_TOKEN_PAGE, content_type="text/html")
        response.set_cookie(SESSION_COOKIE, session_id, path="/", httponly=True, secure=self.tls)
        return response

    def _authorized(self, request: web.Request) -> bool:
        """A live session cookie, or (without any session cookie) a valid bearer token.

        A session cookie the gateway does not know (lapsed, or from before a restart) is
        refused even with a valid token beside it: the client must open a new session.
        """
        now = time.time()
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id is not None:
            session = self._sessions.get(session_id)
            if session is None:
                return False
            if now < session.expires_at and now - session.last_used < self.session_idle:
                session.last_used = now
                return True
            del self._sessions[session_id]
            return False
        token = _bearer(request)
        if token is None:
            return False
        self.stats.jwt_validations[request.path] += 1
        try:
            self.authority.verify(token, self.serial)
        except TokenRejectedError:
            return False
        return True

    # ------------------------------------------------------------------ control API

    async def _control(self, request: web.Request) -> web.Response:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        data: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body: Any = await request.json()
            except ValueError:
                return web.json_response({"error": "body must be JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            data = body
        if action == "stats" and request.method == "GET":
            return web.json_response(self.stats.as_dict())
        if action == "stats" and request.method == "DELETE":
            self.stats.reset()
            return web.json_response(self.stats.as_dict())
        if action == "faults" and request.method == "GET":
            return web.json_response(self.faults.as_list())
        if action == "faults" and request.method == "POST":
            try:
                self.faults.add(Fault.from_dict(data))
            except (KeyError, TypeError, ValueError) as err:
                return web.json_response({"error": f"bad fault: {err}"}, status=400)
            return web.json_response(self.faults.as_list())
        if action == "faults" and request.method == "DELETE":
            self.faults.clear()
            return web.json_response([])
        if action == "settings" and request.method in ("GET", "POST"):
            try:
                changes = {key: _setting(key, data[key]) for key in SETTINGS if key in data}
            except ValueError as err:
                return web.json_response({"error": str(err)}, status=400)
            for key, value in changes.items():
                setattr(self, key, value)
            return web.json_response(
                {
                    "latency": self.latency,
                    "single_worker": self.single_worker,
                    "outage": self.outage,
                    "session_idle": self.session_idle,
                }
            )
        if action == "token" and request.method == "POST":
            role = str(data.get("role", "owner"))
            if role not in LIFETIMES:
                return web.json_response({"error": f"unknown role {role}"}, status=400)
            lifetime = data.get("lifetime")
            try:
                seconds = None if lifetime is None else float(lifetime)
            except (TypeError, ValueError):
                return web.json_response({"error": "lifetime must be seconds"}, status=400)
            return web.json_response({"token": self.issue_token(role, lifetime=seconds)})
        if action == "sessions" and request.method == "DELETE":
            self.expire_sessions()
            return web.json_response({})
        return web.json_response(
            {"error": f"no control action {request.method} {action}"}, status=404
        )


def _setting(key: str, value: Any) -> float | bool:
    """A control API setting, of its own type whatever the attribute holds now."""
    if SETTINGS[key] is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a number of seconds")
    return float(value)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _reset(request: web.Request) -> web.Response:
    """Drop the connection without an answer (the client sees a disconnect)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def dump_stats(simulator: GatewaySimulator) -> str:
    """The statistics as pretty JSON."""
    return json.dumps(simulator.stats.as_dict(), indent=2, sort_keys=True)
