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

Control API under ``/__simulator/`` (see ``server.py``): ``stats`` (``login``,
``sessions``, ``tokens``, ``issued``), ``settings`` (``outage``, ``outage_mode``) and
``clock``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import secrets

from aiohttp import web

from .clock import Clock
from .server import CONTROL_PREFIX, JSONObject, SimulatorServer, boolean, one_of
from .tls import ServerCertificate, shared_certificate
from .tokens import TokenAuthority

__all__ = ["CONTROL_PREFIX", "Account", "CloudSimulator"]


@dataclass(slots=True)
class Account:
    """An Enlighten account and the gateways on it."""

    email: str
    password: str = field(repr=False)
    serials: set[str] = field(default_factory=set)
    role: str = "owner"
    mfa: bool = False  # the reply without a session id: {"message": "success"}


class CloudSimulator(SimulatorServer):
    """Enlighten + Entrez, close enough for a client to tell every outcome apart."""

    certificate: ServerCertificate  # always one: the cloud speaks HTTPS only

    SETTINGS = {  # noqa: RUF012 - a read-only table
        "outage": boolean,
        "outage_mode": one_of("503", "reset"),
    }

    def __init__(
        self,
        authority: TokenAuthority,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: ServerCertificate | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Prepare the cloud; ``start()`` opens the port."""
        super().__init__(
            host=host,
            port=port,
            tls=True,
            certificate=certificate or shared_certificate(),
            clock=clock,
        )
        self.authority = authority
        self.accounts: dict[str, Account] = {}
        self.outage = False
        self.outage_mode = "503"
        self.token_body_override: str | None = None
        self.stats: Counter[str] = Counter()
        self._sessions: dict[str, str] = {}

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

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/login/login.json", self._login)
        app.router.add_post("/tokens", self._tokens)

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
        return web.json_response({"message": "success", **self._open_session(email)})

    def _open_session(self, email: str) -> JSONObject:
        session_id = secrets.token_hex(16)
        self._sessions[session_id] = email
        self.stats["sessions"] += 1
        return {
            "session_id": session_id,
            "manager_token": secrets.token_hex(8),
            "is_consumer": self.accounts[email].role == "owner",
        }

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

    # ------------------------------------------------------------------ control API

    def stats_dict(self) -> JSONObject:
        """What the cloud counted."""
        return dict(self.stats)

    def reset_stats(self) -> None:
        """Start counting afresh."""
        self.stats.clear()
