"""A fake Enphase cloud: Enlighten's sign-in and Entrez's token service on one HTTPS port.

* ``POST /login/login.json`` (form ``user[email]``, ``user[password]``): JSON with a
  ``session_id``; 401 for a wrong e-mail or password; for an account with multi-factor
  sign-in, ``{"message": "success"}`` without a session id (as Enlighten does).
* ``POST /tokens`` (JSON ``session_id``, ``serial_num``, ``username``): the token as plain
  text, signed by the shared TokenAuthority so the gateway simulator accepts it; owner
  accounts get one-year tokens, installer accounts 12-hour ones. A serial that is not on
  the account answers 403.
* ``outage``: every request answers 503 (or the connection is dropped with
  ``outage_mode = "reset"``).

Control API: ``GET /__simulator/stats``, ``POST /__simulator/settings`` (``outage``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import secrets
from typing import Any, Self

from aiohttp import web

from .tls import ServerCertificate, shared_certificate
from .tokens import TokenAuthority

CONTROL_PREFIX = "/__simulator"


@dataclass(slots=True)
class Account:
    """An Enlighten account and the gateways on it."""

    email: str
    password: str
    serials: set[str] = field(default_factory=set)
    role: str = "owner"
    mfa: bool = False


class CloudSimulator:
    """Enlighten + Entrez, close enough for a client to tell every outcome apart."""

    def __init__(
        self,
        authority: TokenAuthority,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: ServerCertificate | None = None,
    ) -> None:
        """Prepare the cloud; ``start()`` opens the port."""
        self.authority = authority
        self.host = host
        self.port = port
        self.certificate = certificate or shared_certificate()
        self.accounts: dict[str, Account] = {}
        self.outage = False
        self.outage_mode = "503"
        self.token_body_override: str | None = None
        self.stats: Counter[str] = Counter()
        self._sessions: dict[str, str] = {}
        self._runner: web.AppRunner | None = None

    def add_account(
        self,
        email: str,
        password: str,
        serials: set[str] | list[str] | tuple[str, ...] = (),
        *,
        role: str = "owner",
        mfa: bool = False,
    ) -> Account:
        """Create (or replace) an account."""
        account = Account(email, password, set(serials), role, mfa)
        self.accounts[email.lower()] = account
        return account

    async def start(self) -> None:
        """Listen on ``host``:``port`` over HTTPS."""
        app = web.Application()
        app.router.add_post("/login/login.json", self._login)
        app.router.add_post("/tokens", self._tokens)
        app.router.add_route("*", CONTROL_PREFIX + "/{action}", self._control)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.certificate.server_context()
        )
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        """Start on entering."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop on leaving."""
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL for both Enlighten and Entrez."""
        return f"https://{self.host}:{self.port}"

    # ------------------------------------------------------------------ handlers

    def _down(self, request: web.Request) -> web.Response | None:
        if not self.outage:
            return None
        if self.outage_mode == "reset" and request.transport is not None:
            request.transport.abort()
        return web.Response(
            status=503,
            text="<html><body>Service Unavailable</body></html>",
            content_type="text/html",
        )

    async def _login(self, request: web.Request) -> web.Response:
        self.stats["login"] += 1
        if (down := self._down(request)) is not None:
            return down
        form = await request.post()
        email = str(form.get("user[email]", "")).strip().lower()
        password = str(form.get("user[password]", ""))
        account = self.accounts.get(email)
        if account is None or not secrets.compare_digest(account.password, password):
            return web.json_response({"message": "Invalid email or password"}, status=401)
        if account.mfa:
            return web.json_response({"message": "success", "is_consumer": True})
        session_id = secrets.token_hex(16)
        self._sessions[session_id] = email
        self.stats["sessions"] += 1
        return web.json_response(
            {
                "message": "success",
                "session_id": session_id,
                "manager_token": secrets.token_hex(8),
                "is_consumer": account.role == "owner",
            }
        )

    async def _tokens(self, request: web.Request) -> web.Response:
        self.stats["tokens"] += 1
        if (down := self._down(request)) is not None:
            return down
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"message": "Bad request"}, status=400)
        if not isinstance(data, dict):
            return web.json_response({"message": "Bad request"}, status=400)
        email = self._sessions.get(str(data.get("session_id", "")))
        if email is None or email != str(data.get("username", "")).strip().lower():
            return web.json_response({"message": "Invalid session"}, status=401)
        account = self.accounts[email]
        serial = str(data.get("serial_num", ""))
        if serial not in account.serials:
            return web.json_response(
                {"message": "Serial number is not associated with this user"}, status=403
            )
        if self.token_body_override is not None:
            return web.Response(text=self.token_body_override, content_type="text/plain")
        self.stats["issued"] += 1
        token = self.authority.issue(serial, role=account.role, username=account.email)
        return web.Response(text=token, content_type="text/plain")

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action == "stats":
            return web.json_response(dict(self.stats))
        if action == "settings":
            try:
                data: Any = await request.json() if request.can_read_body else {}
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            if "outage" in data:
                self.outage = bool(data["outage"])
            if "outage_mode" in data:
                self.outage_mode = str(data["outage_mode"])
            return web.json_response({"outage": self.outage, "outage_mode": self.outage_mode})
        return web.json_response({"error": f"no control action {action}"}, status=404)
