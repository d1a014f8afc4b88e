"""What the gateway and cloud simulators share: a port of their own, and the control API.

Both listen with an aiohttp ``AppRunner`` + ``TCPSite`` (port 0: any free port, read back
after start), stop on leaving ``async with``, and answer a small JSON control API under
``/__simulator/`` that tests, ``scripts/develop`` users and bug reporters drive:

====================  =====================================================================
``GET    stats``       what the simulator counted
``DELETE stats``       start counting afresh
``GET    settings``    the settings and their values
``POST   settings``    change some: ``{"name": value, ...}`` (all or nothing; 400 if a name
                       is unknown or a value of the wrong kind)
``GET    clock``       ``{"now": UNIX seconds, "frozen": bool, "advanced": seconds}``
``POST   clock``       ``{"advance": seconds}`` moves the simulator's clock forward
====================  =====================================================================

Each simulator adds its own actions (see ``gateway.py`` and ``cloud.py``). A request body,
when there is one, must be a JSON object; answers are JSON, errors ``{"error": text}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import ssl
from typing import Any, ClassVar, Self

from aiohttp import web

from .clock import Clock
from .tls import ServerCertificate

CONTROL_PREFIX = "/__simulator"

JSONObject = dict[str, Any]
ControlHandler = Callable[[JSONObject], Any]
Validator = Callable[[str, Any], Any]


class ControlError(ValueError):
    """A control request that cannot be carried out (answered 400 with the message)."""


# --------------------------------------------------------------------------- settings


def boolean(name: str, value: Any) -> bool:
    """A true/false setting (JSON true or false, nothing else)."""
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false")
    return value


def number(name: str, value: Any) -> float:
    """A number of at least zero (seconds, a fraction...)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ControlError(f"{name} must be a number, at least 0")
    return float(value)


def whole(minimum: int) -> Validator:
    """A whole number of at least ``minimum``."""

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ControlError(f"{name} must be a whole number, at least {minimum}")
        return value

    return check


def one_of(*choices: Any) -> Validator:
    """One of a few values."""

    def check(name: str, value: Any) -> Any:
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise ControlError(f"{name} must be one of {', '.join(map(repr, choices))}")
        return value

    return check


def http_status_or_none(name: str, value: Any) -> int | None:
    """An HTTP status code (100-599), or null for "none"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ControlError(f"{name} must be an HTTP status code or null")
    return value


# --------------------------------------------------------------------------- the server


class SimulatorServer:
    """An aiohttp server on ``host``:``port`` with the control API under ``/__simulator/``.

    Subclasses add their routes (``_add_routes``), their settings (``SETTINGS``: name ->
    validator, each an attribute of the simulator), their statistics and their own control
    actions (``_control_actions``).
    """

    SETTINGS: ClassVar[Mapping[str, Validator]] = {}

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: bool,
        certificate: ServerCertificate | None,
        clock: Clock | None,
    ) -> None:
        """Prepare the server; ``start()`` opens the port."""
        self.host = host
        self.port = port
        self.tls = tls
        self.certificate = certificate
        self.clock = clock or Clock()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()  # set while stopping: ends requests that wait

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on ``host``:``port`` (0: any free port; ``port`` then holds the one picked)."""
        app = web.Application()
        app.router.add_route("*", CONTROL_PREFIX + "/{action:.*}", self._control)
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self._ssl_context())
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the port and every connection, ending requests that still wait."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping.set()
        try:
            await runner.cleanup()
        finally:
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
        """``host:port``, as a user would type it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL."""
        return f"{'https' if self.tls else 'http'}://{self.address}"

    @property
    def control_url(self) -> str:
        """The base URL of the control API."""
        return f"{self.url}{CONTROL_PREFIX}"

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        if self.certificate is None:
            raise RuntimeError("a TLS server needs a certificate")
        return self.certificate.server_context()

    # ------------------------------------------------------------------ for subclasses

    def _add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def stats_dict(self) -> JSONObject:
        """What the simulator counted, as JSON."""
        raise NotImplementedError

    def reset_stats(self) -> None:
        """Start counting afresh."""
        raise NotImplementedError

    def _control_actions(self) -> dict[tuple[str, str], ControlHandler]:
        """(method, action) -> handler: the actions every simulator has."""
        return {
            ("GET", "stats"): lambda _: self.stats_dict(),
            ("DELETE", "stats"): self._reset_stats,
            ("GET", "settings"): lambda _: self.settings_dict(),
            ("POST", "settings"): self.change_settings,
            ("GET", "clock"): lambda _: self.clock.as_dict(),
            ("POST", "clock"): self._advance_clock,
        }

    # ------------------------------------------------------------------ control API

    def settings_dict(self) -> JSONObject:
        """Every setting and its value."""
        return {name: getattr(self, name) for name in self.SETTINGS}

    def change_settings(self, changes: JSONObject) -> JSONObject:
        """Check every change, then make them all (ControlError if any is wrong)."""
        unknown = sorted(set(changes) - set(self.SETTINGS))
        if unknown:
            raise ControlError(f"unknown setting(s): {', '.join(unknown)}")
        checked = {name: self.SETTINGS[name](name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)
        return self.settings_dict()

    def _reset_stats(self, _: JSONObject) -> JSONObject:
        self.reset_stats()
        return self.stats_dict()

    def _advance_clock(self, data: JSONObject) -> JSONObject:
        seconds = number("advance", data.get("advance"))
        self.clock.advance(seconds)
        return self.clock.as_dict()

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"].strip("/")
        data: JSONObject = {}
        if request.can_read_body:
            try:
                body: Any = await request.json()
            except ValueError:
                return web.json_response({"error": "body must be JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            data = body
        handler = self._control_actions().get((request.method, action))
        if handler is None:
            return web.json_response(
                {"error": f"no control action {request.method} {action}"}, status=404
            )
        try:
            return web.json_response(handler(data))
        except ControlError as err:
            return web.json_response({"error": str(err)}, status=400)
