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
* status codes come from the capture's ``*_log.json`` files; paths it lacks answer 404;
  every path is GET-only (405 otherwise) but ``POST /ivp/livedata/stream``;
* ``POST /ivp/livedata/stream`` with ``{"enable": 1}`` (or 0) switches the live stream on
  (off); it lapses by itself after ``stream_timeout`` seconds (default 900); ``GET
  /ivp/livedata/status`` then reports it (``sc_stream``, ``last_update``). The answer is
  ``{"sc_stream": "enabled"}`` (or ``"disabled"``); 400 for a body without ``enable``;
  404 where the capture has no ``/ivp/livedata/status``. With ``stream_owner_refusal``
  set to 401 or 403, owner tokens are refused with that status (installer tokens pass),
  as some firmware may do.
* the numbers can move over time, and lifetime counters can play scenarios (dips, drops,
  roll-overs): see ``site.py`` and ``scenarios.py``.

It counts requests and JWT validations per path, stream switches, and the most requests it
ever had in flight at once, and can be told to misbehave (``faults``, ``latency``,
``single_worker``, ``outage``) from Python or over its control API under ``/__simulator/``:

=========================  ================================================================
``GET|DELETE stats``        ``{"requests": {path: n}, "jwt_validations": {path: n},
                            "total_requests", "total_jwt_validations", "max_in_flight",
                            "stream_posts"}``; DELETE starts afresh
``GET|POST settings``       ``latency``, ``session_idle`` (seconds), ``single_worker``,
                            ``outage``, ``moving`` (true/false), ``report_interval`` and
                            ``stream_timeout`` (seconds), ``stream_owner_refusal`` (null,
                            401 or 403)
``GET|POST clock``          see ``server.py``: ``{"advance": 300}`` moves time on
``GET|POST|DELETE faults``  list, add (``{"kind", "count", "path", "status"}``), clear
``GET|POST|DELETE counters``  counter scenarios: list, add (``{"kind": "dip"|"drop"|
                            "rollover", "path", "field", "polls", "factor", "modulus"}``),
                            clear (every counter reads its real value again)
``POST token``              ``{"role": "owner"|"installer", "lifetime": s}`` -> ``{"token"}``
``DELETE sessions``         forget every cookie session (a gateway restart)
=========================  ================================================================
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import secrets
import time
from typing import Any

from aiohttp import web

from .capture import Capture
from .clock import Clock
from .faults import Fault, FaultKind, FaultList
from .scenarios import CounterScenario, ScenarioKind
from .server import (
    CONTROL_PREFIX,
    ControlError,
    ControlHandler,
    JSONObject,
    SimulatorServer,
    boolean,
    number,
    one_of,
)
from .site import DEFAULT_STREAM_TIMEOUT, LIVEDATA_PATH, SiteModel
from .tls import ServerCertificate, shared_certificate
from .tokens import LIFETIMES, TokenAuthority, TokenRejectedError

__all__ = ["CONTROL_PREFIX", "GatewaySimulator", "Stats", "dump_stats"]

SESSION_COOKIE = "sessionId"
UNAUTHENTICATED_PATHS = frozenset({"/info"})
STREAM_PATH = "/ivp/livedata/stream"
HTML_ERROR_PAGE = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    b"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    b"<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
)
UNAUTHORIZED_PAGE = b"<html><body><h2>401 Unauthorized</h2></body></html>"
FORBIDDEN_PAGE = b"<html><body><h2>403 Forbidden</h2></body></html>"
NOT_FOUND_PAGE = b"<html><body><h2>404 Not Found</h2></body></html>"
VALID_TOKEN_PAGE = b"<!DOCTYPE html><h2>Valid token.</h2>\n"


@dataclass(slots=True)
class Stats:
    """What the simulator saw."""

    requests: Counter[str] = field(default_factory=Counter)
    jwt_validations: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    stream_posts: int = 0

    def reset(self) -> None:
        """Start counting afresh."""
        self.requests.clear()
        self.jwt_validations.clear()
        self.max_in_flight = self.in_flight
        self.stream_posts = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "requests": dict(self.requests),
            "jwt_validations": dict(self.jwt_validations),
            "total_requests": sum(self.requests.values()),
            "total_jwt_validations": sum(self.jwt_validations.values()),
            "max_in_flight": self.max_in_flight,
            "stream_posts": self.stream_posts,
        }


@dataclass(slots=True)
class _Session:
    expires_at: float
    last_used: float
    role: str | None


class GatewaySimulator(SimulatorServer):
    """Serves one capture like the gateway it was taken from."""

    SETTINGS = {  # noqa: RUF012 - a read-only table
        "latency": number,
        "session_idle": number,
        "single_worker": boolean,
        "outage": boolean,
        "moving": boolean,
        "report_interval": number,
        "stream_timeout": number,
        "stream_owner_refusal": one_of(None, 401, 403),
    }

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
        clock: Clock | None = None,
        moving: bool = False,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
        live_stream: bool | None = None,
    ) -> None:
        """Prepare the simulator; ``start()`` opens the port (0: any free port).

        ``clock`` drives the numbers, ``moving`` makes them change (see ``site.py``);
        ``live_stream`` starts the live stream on (True), off (False) or leaves the live
        data as captured until a client switches it (None).
        """
        self.capture = capture if isinstance(capture, Capture) else Capture.load(capture)
        super().__init__(
            host=host,
            port=port,
            tls=self.capture.requires_token if tls is None else tls,
            certificate=certificate,
            clock=clock,
        )
        self.authority = authority or TokenAuthority()
        self.session_idle = session_idle
        self.hang_seconds = hang_seconds
        self.stats = Stats()
        self.faults = FaultList()
        self.latency = 0.0
        self.single_worker = False
        self.outage = False
        self.stream_owner_refusal: int | None = None
        self.site = SiteModel(
            self.capture,
            self.clock,
            moving=moving,
            stream_timeout=stream_timeout,
            live_stream=live_stream,
        )
        self.on_delay: list[Callable[[float], None]] = []
        """Called with the seconds a request is about to wait before its answer (``latency``,
        or ``hang_seconds`` for a timeout fault): a test's fake timer lets a client's
        timeout run out then, on the simulated time rather than the machine's."""
        self.session_time: Callable[[], float] = _real_time
        """The real time (UNIX seconds) cookie sessions keep to: their idle lapse and the
        expiry of the token that opened them (a test may bring a fake one)."""
        self._worker = asyncio.Lock()
        self._sessions: dict[str, _Session] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on ``host``:``port`` (HTTPS with the shared certificate unless given one)."""
        if self.tls and self.certificate is None:
            self.certificate = shared_certificate()
        await super().start()

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def serial(self) -> str:
        """The gateway's serial number."""
        return self.capture.serial

    @property
    def ca_path(self) -> Path | None:
        """The CA that signed the gateway's certificate (for ``curl --cacert``)."""
        return self.certificate.ca_path if self.certificate else None

    # ------------------------------------------------------------------ Python API

    @property
    def moving(self) -> bool:
        """Whether the numbers change over time (see ``site.py``)."""
        return self.site.moving

    @moving.setter
    def moving(self, value: bool) -> None:
        self.site.moving = value

    @property
    def report_interval(self) -> float:
        """Seconds between two reports of a microinverter (0: each request is one)."""
        return self.site.report_interval

    @report_interval.setter
    def report_interval(self, value: float) -> None:
        self.site.report_interval = value

    @property
    def stream_timeout(self) -> float:
        """Seconds after which a switched-on live stream lapses."""
        return self.site.stream.timeout

    @stream_timeout.setter
    def stream_timeout(self, value: float) -> None:
        self.site.stream.timeout = value

    @property
    def live_stream_on(self) -> bool:
        """Whether the live stream is on now."""
        return self.site.stream.is_on(self.clock.now())

    def switch_live_stream(self, enable: bool) -> None:
        """Switch the live stream on or off, as a client's POST would."""
        self.site.stream.switch(enable, self.clock.now())

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

    def add_counter_scenario(
        self,
        kind: ScenarioKind | str,
        *,
        path: str | None = None,
        field: str | None = None,
        polls: int | None = 1,
        factor: float | None = None,
        modulus: float | None = None,
        phase: int = 1,
        meter: int | None = None,
    ) -> CounterScenario:
        """Start a counter scenario or firmware quirk (see ``scenarios.py``)."""
        return self.site.scenarios.add(
            CounterScenario(
                ScenarioKind(kind),
                path=path,
                field=field,
                polls=polls,
                factor=factor,
                modulus=modulus,
                phase=phase,
                meter=meter,
            )
        )

    def clear_counter_scenarios(self) -> None:
        """End every counter scenario: the counters read their real values again."""
        self.site.scenarios.clear()

    def expire_sessions(self) -> None:
        """Forget every cookie session, as the gateway does after a restart or idle time."""
        self._sessions.clear()

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.Request) -> web.StreamResponse:
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
            await self._wait(self.latency)
        if self.outage:
            return _reset(request)
        fault = self.faults.take(path)
        if fault is not None and fault.kind is not FaultKind.TRUNCATED:
            return await self._fault_response(request, fault)
        if request.path == STREAM_PATH:
            return await self._stream(request)
        if request.method != "GET":
            return web.Response(status=405)
        if request.path == "/auth/check_jwt" and self.capture.requires_token:
            return self._check_jwt(request)  # older firmware has no such endpoint: 404
        captured = self.capture.get(path)
        if captured is None:
            return web.Response(status=404, body=NOT_FOUND_PAGE)
        if (
            self.capture.requires_token
            and request.path not in UNAUTHENTICATED_PATHS
            and self._role(request) is None
        ):
            return _page(401, UNAUTHORIZED_PAGE)
        body = captured.body
        if captured.status == 200:
            body = self.site.render(path, body)
        if fault is not None:  # truncated
            body = body[: len(body) // 2]
        headers = {"Content-Type": captured.content_type} if captured.content_type else {}
        return web.Response(status=captured.status, body=body, headers=headers)

    async def _stream(self, request: web.Request) -> web.Response:
        """``POST /ivp/livedata/stream``: switch the live stream on or off."""
        if request.method != "POST":
            return web.Response(status=405)
        self.stats.stream_posts += 1
        if self.capture.get(LIVEDATA_PATH) is None:
            return web.Response(status=404, body=NOT_FOUND_PAGE)
        if self.capture.requires_token:
            role = self._role(request)
            if role is None:
                return _page(401, UNAUTHORIZED_PAGE)
            if role == "owner" and self.stream_owner_refusal is not None:
                refusal = self.stream_owner_refusal
                return _page(refusal, UNAUTHORIZED_PAGE if refusal == 401 else FORBIDDEN_PAGE)
        try:
            data: Any = await request.json()
        except ValueError:
            data = None
        enable = data.get("enable") if isinstance(data, dict) else None
        if isinstance(enable, bool) or enable not in (0, 1):
            return web.json_response({"error": 'expected {"enable": 1} or 0'}, status=400)
        self.switch_live_stream(bool(enable))
        return web.json_response({"sc_stream": "enabled" if self.live_stream_on else "disabled"})

    async def _fault_response(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind is FaultKind.UNAUTHORIZED:
            return _page(401, UNAUTHORIZED_PAGE)
        if fault.kind is FaultKind.SERVER_ERROR:
            return _page(fault.status, HTML_ERROR_PAGE)
        if fault.kind is FaultKind.HTML:
            return _page(200, HTML_ERROR_PAGE)
        if fault.kind is FaultKind.TIMEOUT:
            await self._wait(self.hang_seconds)
            return web.Response(status=504)
        return _reset(request)

    async def _wait(self, seconds: float) -> None:
        """Wait ``seconds`` before answering (a stopping server waits no longer)."""
        for listener in self.on_delay:
            listener(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ------------------------------------------------------------------ tokens

    def _check_jwt(self, request: web.Request) -> web.Response:
        token = _bearer(request)
        if token is None:
            return _page(401, UNAUTHORIZED_PAGE)
        self.stats.jwt_validations[request.path] += 1
        try:
            claims = self.authority.verify(token, self.serial)
        except TokenRejectedError:
            return _page(401, UNAUTHORIZED_PAGE)
        session_id = secrets.token_hex(16)
        self._sessions[session_id] = _Session(
            expires_at=float(claims["exp"]),
            last_used=self.session_time(),
            role=claims.get("enphaseUser"),
        )
        response = _page(200, VALID_TOKEN_PAGE)
        response.set_cookie(SESSION_COOKIE, session_id, path="/", httponly=True, secure=self.tls)
        return response

    def _role(self, request: web.Request) -> str | None:
        """The role of a live session cookie, or (without a cookie) of a valid bearer token.

        None: refused. A session cookie the gateway does not know (lapsed, or from before a
        restart) is refused even with a valid token beside it: the client must open a new
        session. A token without a role claim counts as an owner's.
        """
        now = self.session_time()
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id is not None:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now < session.expires_at and now - session.last_used < self.session_idle:
                session.last_used = now
                return session.role or "owner"
            del self._sessions[session_id]
            return None
        token = _bearer(request)
        if token is None:
            return None
        self.stats.jwt_validations[request.path] += 1
        try:
            claims = self.authority.verify(token, self.serial)
        except TokenRejectedError:
            return None
        return str(claims.get("enphaseUser") or "owner")

    # ------------------------------------------------------------------ control API

    def stats_dict(self) -> JSONObject:
        """What the gateway counted (see the module doc)."""
        return self.stats.as_dict()

    def reset_stats(self) -> None:
        """Start counting afresh."""
        self.stats.reset()

    def _control_actions(self) -> dict[tuple[str, str], ControlHandler]:
        return {
            **super()._control_actions(),
            ("GET", "faults"): lambda _: self.faults.as_list(),
            ("POST", "faults"): self._add_fault,
            ("DELETE", "faults"): self._clear_faults,
            ("GET", "counters"): lambda _: self.site.scenarios.as_list(),
            ("POST", "counters"): self._add_scenario,
            ("DELETE", "counters"): self._clear_scenarios,
            ("POST", "token"): self._token,
            ("DELETE", "sessions"): self._forget_sessions,
        }

    def _add_fault(self, data: JSONObject) -> list[JSONObject]:
        try:
            self.faults.add(Fault.from_dict(data))
        except (KeyError, TypeError, ValueError) as err:
            raise ControlError(f"bad fault: {err}") from err
        return self.faults.as_list()

    def _clear_faults(self, _: JSONObject) -> list[JSONObject]:
        self.faults.clear()
        return []

    def _add_scenario(self, data: JSONObject) -> list[JSONObject]:
        try:
            self.site.scenarios.add(CounterScenario.from_dict(data))
        except ValueError as err:
            raise ControlError(f"bad counter scenario: {err}") from err
        return self.site.scenarios.as_list()

    def _clear_scenarios(self, _: JSONObject) -> list[JSONObject]:
        self.clear_counter_scenarios()
        return []

    def _token(self, data: JSONObject) -> JSONObject:
        role = str(data.get("role", "owner"))
        if role not in LIFETIMES:
            raise ControlError(f"unknown role {role}")
        lifetime = data.get("lifetime")
        try:
            seconds = None if lifetime is None else float(lifetime)
        except (TypeError, ValueError) as err:
            raise ControlError("lifetime must be seconds") from err
        return {"token": self.issue_token(role, lifetime=seconds)}

    def _forget_sessions(self, _: JSONObject) -> JSONObject:
        self.expire_sessions()
        return {}


def _real_time() -> float:
    # Looked up at each call, so that a test library patching ``time.time`` is followed.
    return time.time()


def _page(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type="text/html")


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
