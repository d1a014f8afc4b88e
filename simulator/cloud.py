"""A fake Enphase cloud: Enlighten's sign-in and Entrez's token service on one HTTPS port.

* ``POST /login/login.json`` (form ``user[email]``, ``user[password]``): JSON with a
  ``session_id``; 401 for an unknown e-mail or a wrong password. Other kinds of account:

  - **two-step** (``two_step=True``, what Enlighten does today): 200
    ``{"success": true, "isBlocked": false}`` (or ``{"requires_mfa": true}`` with
    ``login_reply = "requires_mfa"``) without a session id, with the cookies
    ``login_otp_nonce``, ``_enlighten_4_session`` and ``XSRF-TOKEN`` (the last one unless
    ``xsrf_cookie`` is off); a six-digit one-time code is "sent": ``last_code(email)``,
    the ``on_code`` callback (the command line prints it), and ``GET /__simulator/codes``;
  - **older multi-factor reply** (``mfa=True``): 200 ``{"message": "success",
    "is_consumer": true}`` without a session id (and without the nonce cookie);
  - **blocked** (``blocked=True``): 200 ``{"success": false, "isBlocked": true}``, whatever
    the password (a locked account says so before it looks at the password; the status is
    200 like the two-step reply, whose ``isBlocked`` field this mirrors).

* ``POST /app-api/validate_login_otp``: form ``email`` and ``otp``, each base64-encoded,
  with the login's cookies, ``X-Requested-With: XMLHttpRequest`` and (when the login set
  ``XSRF-TOKEN``) ``X-CSRF-Token`` equal to that cookie. Answers, all JSON:

  - right code: 200 with a new ``_enlighten_4_session`` cookie and, by ``otp_reply``:
    ``"session"`` (the default, the reply on record today) ``{"message": "success",
    "session_id": ..., "manager_token": ..., "is_consumer": ..., "system_id": ...,
    "redirect_url": "", "isValidMobileNumber": true}``, no ``isValid``; ``"is_valid"``
    (an older reply on record) ``{"isValid": true, "session_id": ..., ...}``;
    ``"cookie_session"`` ``{"message": "success"}`` with the session id in a
    ``session_id`` cookie; ``"no_session"`` ``{"message": "success"}`` and no session id
    anywhere; ``"unknown"`` ``{"result": "ok"}`` (a shape on record nowhere). The session
    id works at ``/tokens`` like a password login's, and the login's cookies are used up;
  - wrong code (or another e-mail): 200 ``{"isValid": false, "isBlocked": false}``, or
    only the HTTP status ``otp_wrong_status`` where one is set (400, 404, 409, 422 are on
    record);
  - expired code (older than ``otp_lifetime`` seconds, default 300, on the simulator's
    clock): 200 ``{"isValid": false, "isExpired": true}``. Whether real Enlighten tells
    expiry apart is not on record (the one public client treats both alike), so
    ``otp_expiry_hint = False`` answers a bare ``{"isValid": false}`` for a client that
    must cope without the hint. An expired code does not count as a wrong try;
  - ``otp_max_tries`` (default 5) wrong codes: that try and every later one for this login
    (right code or not, new code or not) answer 200 ``{"isValid": false, "isBlocked":
    true}``, or HTTP 429 ``{"isBlocked": true}`` with ``otp_block_status = 429``. A new
    password login starts afresh;
  - missing or unknown login cookies: ``otp_expired_status`` (401, or 403) ``{"message":
    ...}``; no ``X-Requested-With`` or a wrong ``X-CSRF-Token``: 422 ``{"error":
    "InvalidAuthenticityToken"}`` (what a Rails application answers); an ``email`` or
    ``otp`` that is not base64: 400.

* ``POST /app-api/generate_mfa_login_otp`` (form ``locale``, the login's cookies): a new
  code replaces the old one (which stops working) and gets a full lifetime; 200
  ``{"success": true, "isBlocked": false}`` with a new ``login_otp_nonce`` cookie (the old
  nonce stops working, as Enlighten rotates it); ``otp_expired_status`` without the
  login's cookies; the blocked answer once blocked.

* ``otp_endpoints_status`` (an HTTP status, e.g. 404 or 500): the two code endpoints
  answer only that, while login keeps giving the two-step reply (a cloud that stopped
  offering codes).

* ``POST /tokens`` (JSON ``session_id``, ``serial_num``, ``username``): the token as plain
  text, signed by the shared TokenAuthority so the gateway simulator accepts it; owner
  accounts get one-year tokens, installer accounts 12-hour ones. A serial that is not on
  the account answers 403.

* ``outage``: every request answers 503 (or the connection is dropped with
  ``outage_mode = "reset"``).

* ``login_status`` (an HTTP status, e.g. 403, 429 or 406): ``login.json`` answers only that,
  whatever the account (a cloud that refuses sign-ins for the moment: a rate limit, a
  firewall); null answers as usual again.

Control API under ``/__simulator/`` (see ``server.py``): ``stats`` (``login``,
``sessions``, ``tokens``, ``issued``, ``codes_sent``, ``otp_validations``,
``otp_requests``), ``settings`` (``outage``, ``outage_mode``, ``login_status``,
``login_reply``, ``otp_lifetime``, ``otp_max_tries``, ``otp_expiry_hint``,
``otp_block_status``, ``otp_endpoints_status``, ``otp_reply``, ``otp_wrong_status``,
``otp_expired_status``, ``xsrf_cookie``), ``clock``, and ``GET codes`` -> ``{email: last code sent}``.

Passwords are never logged or shown; the codes are meant to be (this is a test double).
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
import secrets
from typing import Any

from aiohttp import web

from .clock import Clock
from .server import (
    CONTROL_PREFIX,
    ControlHandler,
    JSONObject,
    SimulatorServer,
    boolean,
    http_status_or_none,
    number,
    one_of,
    whole,
)
from .tls import ServerCertificate, shared_certificate
from .tokens import TokenAuthority

__all__ = ["CONTROL_PREFIX", "Account", "CloudSimulator"]

NONCE_COOKIE = "login_otp_nonce"
SESSION_ID_COOKIE = "session_id"
SESSION_COOKIE = "_enlighten_4_session"
XSRF_COOKIE = "XSRF-TOKEN"
DEFAULT_OTP_LIFETIME = 300.0
DEFAULT_OTP_MAX_TRIES = 5


@dataclass(slots=True)
class Account:
    """An Enlighten account and the gateways on it."""

    email: str
    password: str = field(repr=False)
    serials: set[str] = field(default_factory=set)
    role: str = "owner"
    mfa: bool = False  # the older reply: {"message": "success"}, no session id
    two_step: bool = False  # a one-time code after the password (today's Enlighten)
    blocked: bool = False  # Enphase has blocked the account


@dataclass(slots=True)
class _PendingLogin:
    """A two-step login between the password and the code."""

    email: str
    session_cookie: str
    xsrf: str | None
    code: str
    issued_at: float
    wrong_tries: int = 0


class CloudSimulator(SimulatorServer):
    """Enlighten + Entrez, close enough for a client to tell every outcome apart."""

    certificate: ServerCertificate  # always one: the cloud speaks HTTPS only

    SETTINGS = {  # noqa: RUF012 - a read-only table
        "outage": boolean,
        "outage_mode": one_of("503", "reset"),
        "login_status": http_status_or_none,
        "login_reply": one_of("success", "requires_mfa"),
        "otp_lifetime": number,
        "otp_max_tries": whole(1),
        "otp_expiry_hint": boolean,
        "otp_block_status": one_of(200, 429),
        "otp_endpoints_status": http_status_or_none,
        "otp_reply": one_of("session", "is_valid", "cookie_session", "no_session", "unknown"),
        "otp_wrong_status": http_status_or_none,
        "otp_expired_status": one_of(401, 403),
        "xsrf_cookie": boolean,
    }

    def __init__(
        self,
        authority: TokenAuthority,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: ServerCertificate | None = None,
        clock: Clock | None = None,
        on_code: Callable[[str, str], None] | None = None,
    ) -> None:
        """Prepare the cloud; ``start()`` opens the port.

        ``on_code(email, code)`` is called for each one-time code the cloud "sends".
        """
        super().__init__(
            host=host,
            port=port,
            tls=True,
            certificate=certificate or shared_certificate(),
            clock=clock,
        )
        self.authority = authority
        self.on_code = on_code
        self.accounts: dict[str, Account] = {}
        self.outage = False
        self.outage_mode = "503"
        self.login_status: int | None = None
        self.login_reply = "success"
        self.otp_lifetime = DEFAULT_OTP_LIFETIME
        self.otp_max_tries = DEFAULT_OTP_MAX_TRIES
        self.otp_expiry_hint = True
        self.otp_block_status = 200
        self.otp_endpoints_status: int | None = None
        self.otp_reply = "session"
        self.otp_wrong_status: int | None = None
        self.otp_expired_status = 401
        self.xsrf_cookie = True
        self.token_body_override: str | None = None
        self.stats: Counter[str] = Counter()
        self._sessions: dict[str, str] = {}
        self._pending: dict[str, _PendingLogin] = {}
        self._codes: dict[str, str] = {}

    def add_account(
        self,
        email: str,
        password: str,
        serials: set[str] | list[str] | tuple[str, ...] = (),
        *,
        role: str = "owner",
        mfa: bool = False,
        two_step: bool = False,
        blocked: bool = False,
    ) -> Account:
        """Create (or replace) an account."""
        account = Account(email, password, set(serials), role, mfa, two_step, blocked)
        self.accounts[email.lower()] = account
        return account

    def last_code(self, email: str) -> str | None:
        """The one-time code the cloud last sent for ``email`` (None: none yet)."""
        return self._codes.get(email.strip().lower())

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/login/login.json", self._login)
        app.router.add_post("/app-api/validate_login_otp", self._validate_otp)
        app.router.add_post("/app-api/generate_mfa_login_otp", self._generate_otp)
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
        if self.login_status is not None:
            return web.json_response(
                {"message": "Sign-in refused for now"}, status=self.login_status
            )
        form = await request.post()
        email = str(form.get("user[email]", "")).strip().lower()
        password = str(form.get("user[password]", ""))
        account = self.accounts.get(email)
        if account is not None and account.blocked:
            return web.json_response({"success": False, "isBlocked": True})
        if account is None or not secrets.compare_digest(account.password, password):
            return web.json_response({"message": "Invalid email or password"}, status=401)
        if account.two_step:
            return self._start_two_step(email)
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
            "system_id": 1234567,
            "redirect_url": "",
        }

    def _send_code(self, email: str) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        self._codes[email] = code
        self.stats["codes_sent"] += 1
        if self.on_code is not None:
            self.on_code(email, code)
        return code

    def _start_two_step(self, email: str) -> web.Response:
        nonce = secrets.token_hex(16)
        pending = _PendingLogin(
            email=email,
            session_cookie=secrets.token_hex(16),
            xsrf=secrets.token_urlsafe(32) if self.xsrf_cookie else None,
            code=self._send_code(email),
            issued_at=self.clock.now(),
        )
        self._pending[nonce] = pending
        reply: JSONObject = (
            {"requires_mfa": True}
            if self.login_reply == "requires_mfa"
            else {"success": True, "isBlocked": False}
        )
        response = web.json_response(reply)
        response.set_cookie(NONCE_COOKIE, nonce, path="/", secure=True, httponly=True)
        response.set_cookie(
            SESSION_COOKIE, pending.session_cookie, path="/", secure=True, httponly=True
        )
        if pending.xsrf is not None:
            response.set_cookie(XSRF_COOKIE, pending.xsrf, path="/", secure=True)
        return response

    def _pending_login(self, request: web.Request) -> tuple[str, _PendingLogin] | None:
        """The two-step login the request's cookies belong to."""
        nonce = request.cookies.get(NONCE_COOKIE, "")
        pending = self._pending.get(nonce)
        session = request.cookies.get(SESSION_COOKIE, "")
        if pending is None or not secrets.compare_digest(pending.session_cookie, session):
            return None
        return nonce, pending

    def _code_endpoint_refusal(self, request: web.Request) -> web.Response | None:
        """The answer to a code request that is not about the code itself, if any."""
        if (down := self._down(request)) is not None:
            return down
        if self.otp_endpoints_status is not None:
            return web.json_response({"message": "Not available"}, status=self.otp_endpoints_status)
        if self._pending_login(request) is None:
            return web.json_response(
                {"message": "Login session expired, please sign in again"},
                status=self.otp_expired_status,
            )
        return None

    def _blocked(self) -> web.Response:
        if self.otp_block_status == 429:
            return web.json_response({"isBlocked": True}, status=429)
        return web.json_response({"isValid": False, "isBlocked": True})

    async def _validate_otp(self, request: web.Request) -> web.Response:
        self.stats["otp_validations"] += 1
        if (refusal := self._code_endpoint_refusal(request)) is not None:
            return refusal
        found = self._pending_login(request)
        assert found is not None
        nonce, pending = found
        xsrf = request.headers.get("X-CSRF-Token", "")
        if request.headers.get("X-Requested-With") != "XMLHttpRequest" or (
            pending.xsrf is not None and not secrets.compare_digest(pending.xsrf, xsrf)
        ):
            return web.json_response({"error": "InvalidAuthenticityToken"}, status=422)
        form = await request.post()
        try:
            email = _unbase64(form.get("email")).strip().lower()
            code = _unbase64(form.get("otp")).strip()
        except ValueError:
            return web.json_response({"message": "email and otp must be base64"}, status=400)
        if pending.wrong_tries >= self.otp_max_tries:
            return self._blocked()
        right = email == pending.email and secrets.compare_digest(code, pending.code)
        if right and self.clock.now() - pending.issued_at > self.otp_lifetime:
            expired: JSONObject = {"isValid": False}
            if self.otp_expiry_hint:
                expired["isExpired"] = True
            return web.json_response(expired)
        if not right:
            pending.wrong_tries += 1
            if pending.wrong_tries >= self.otp_max_tries:
                return self._blocked()
            if self.otp_wrong_status is not None:
                return web.json_response({"message": "Invalid"}, status=self.otp_wrong_status)
            return web.json_response({"isValid": False, "isBlocked": False})
        del self._pending[nonce]
        return self._code_accepted(pending.email)

    def _code_accepted(self, email: str) -> web.Response:
        """A right code's reply, in the shape ``otp_reply`` names."""
        session = self._open_session(email)
        if self.otp_reply == "session":
            response = web.json_response(
                {"message": "success", **session, "isValidMobileNumber": True}
            )
        elif self.otp_reply == "is_valid":
            response = web.json_response({"isValid": True, **session})
        elif self.otp_reply == "unknown":
            response = web.json_response({"result": "ok"})
        else:
            response = web.json_response({"message": "success"})
            if self.otp_reply == "cookie_session":
                response.set_cookie(
                    SESSION_ID_COOKIE, str(session["session_id"]), path="/", secure=True
                )
        response.set_cookie(
            SESSION_COOKIE, secrets.token_hex(16), path="/", secure=True, httponly=True
        )
        return response

    async def _generate_otp(self, request: web.Request) -> web.Response:
        self.stats["otp_requests"] += 1
        if (refusal := self._code_endpoint_refusal(request)) is not None:
            return refusal
        found = self._pending_login(request)
        assert found is not None
        nonce, pending = found
        await request.post()  # locale=en; any locale will do
        if pending.wrong_tries >= self.otp_max_tries:
            return self._blocked()
        pending.code = self._send_code(pending.email)
        pending.issued_at = self.clock.now()
        # Enlighten gives the sign-in a new nonce with each code: the old one stops working.
        del self._pending[nonce]
        nonce = secrets.token_hex(16)
        self._pending[nonce] = pending
        response = web.json_response({"success": True, "isBlocked": False})
        response.set_cookie(NONCE_COOKIE, nonce, path="/", secure=True, httponly=True)
        return response

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

    def _control_actions(self) -> dict[tuple[str, str], ControlHandler]:
        return {**super()._control_actions(), ("GET", "codes"): lambda _: dict(self._codes)}


def _unbase64(value: Any) -> str:
    """A base64-encoded form field, decoded (ValueError if it is not base64 text)."""
    if not isinstance(value, str):
        raise ValueError("missing")  # noqa: TRY004 - one error for every malformed field
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError("not base64") from err
