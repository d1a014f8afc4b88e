"""Tokens for the IQ Gateway: read their claims, and get them from the Enphase cloud.

A token is a JWT issued by Enphase's Entrez service for one gateway serial. Its claims say
when it expires and whether its holder is the system owner (valid one year) or an
installer (valid 12 hours). The gateway verifies the signature; this module only reads the
claims, so PyJWT decodes without verifying.

Getting a token, over HTTPS with certificate verification always on:

1. ``POST {enlighten}/login/login.json`` with the form fields ``user[email]`` and
   ``user[password]``. The answer is JSON with a ``session_id``; or, for an account with
   two-step sign-in, ``{"success": true, "isBlocked": false}`` or ``{"requires_mfa":
   true}`` without one, with a ``login_otp_nonce`` cookie (among others): Enphase has sent
   the owner a one-time code. A blocked account answers ``"isBlocked": true``. A
   multi-factor reply without the nonce cookie has no code step this client knows, so
   such accounts paste tokens, and so do those whose sign-in is answered HTTP 406 (on
   record, but not what the cloud then wants instead).
2. Two-step accounts only: ``POST {enlighten}/app-api/validate_login_otp`` with the form
   fields ``email`` and ``otp``, each base64-encoded, the login's cookies,
   ``X-Requested-With: XMLHttpRequest`` and ``X-CSRF-Token`` from the ``XSRF-TOKEN``
   cookie. A good code is answered with the session: ``{"message": "success",
   "session_id": ..., "manager_token": ..., ...}`` (an older reply on record had
   ``"isValid": true`` beside the session id; a reply that says success without one may
   carry it in a ``session_id`` cookie). A wrong (or expired) code is ``{"isValid":
   false}``, sometimes with ``"isExpired": true``, or HTTP 400/404/409/422; too many
   tries ``"isBlocked": true`` or HTTP 429; HTTP 401/403 says the sign-in itself has
   expired. ``POST {enlighten}/app-api/generate_mfa_login_otp`` (``locale=en``, the same
   cookies and headers) sends a new code, answering ``{"success": true}`` and a new
   ``login_otp_nonce`` cookie, which the code is then sent with. A reply of any other
   shape is named by its shape (field and cookie names, never values) in the error.
3. ``POST {entrez}/tokens`` with JSON ``{session_id, serial_num, username}`` -> the token.

The cookies of step 1 belong to that one sign-in: ``SignIn`` carries them, and they are
sent explicitly, never kept in the session's cookie jar (which the client refuses to have:
a shared jar would mix two sign-ins, or send one integration's cookies with another's).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import ssl
from typing import Any, NamedTuple
from urllib.parse import unquote

import aiohttp
import jwt

from .exceptions import (
    EnlightenAccountBlockedError,
    EnlightenCodeExpiredError,
    EnlightenCodeRequiredError,
    EnlightenConnectionError,
    EnlightenInvalidCodeError,
    EnlightenInvalidCredentialsError,
    EnlightenInvalidResponseError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
    EnlightenUnavailableError,
    EnlightenUnknownReplyError,
    InvalidTokenError,
)

ENLIGHTEN_URL = "https://enlighten.enphaseenergy.com"
ENTREZ_URL = "https://entrez.enphaseenergy.com"
CLOUD_TIMEOUT = 30.0

# Cookies of a two-step login: the nonce says a code step follows; XSRF-TOKEN's value goes
# into the X-CSRF-Token header of the code requests.
OTP_NONCE_COOKIE = "login_otp_nonce"
XSRF_COOKIE = "XSRF-TOKEN"
# Where a code's reply says success without a session id, the session id may be here.
SESSION_ID_COOKIE = "session_id"
# What the code endpoint answers a wrong code with, besides ``{"isValid": false}``.
WRONG_CODE_STATUSES = frozenset({400, 404, 409, 422})
# What the login page's own requests accept (an Accept it does not serve is answered 406).
_ACCEPT = "application/json, text/plain, */*"

ROLE_OWNER = "owner"
ROLE_INSTALLER = "installer"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token and what its claims say. The token itself never appears in ``repr``."""

    token: str = field(repr=False)
    serial: str | None
    role: str | None
    issued_at: datetime | None
    expires_at: datetime

    def expires_in(self, now: datetime) -> timedelta:
        """Time left until expiry (negative once expired)."""
        return self.expires_at - now

    def is_expired(self, now: datetime) -> bool:
        """Whether the token has expired at ``now``."""
        return now >= self.expires_at

    @property
    def lifetime(self) -> timedelta | None:
        """From issue to expiry, when the token says when it was issued."""
        return None if self.issued_at is None else self.expires_at - self.issued_at

    def matches_serial(self, serial: str) -> bool:
        """True unless the token names a different gateway."""
        return self.serial is None or self.serial == serial


def parse_token(token: str) -> TokenInfo:
    """Read a token's claims without verifying its signature (the gateway does that).

    Raises InvalidTokenError for anything that is not a JWT with an expiry.
    """
    token = "".join(token.split())  # pasted tokens often carry line breaks or spaces
    if token[:6].lower() == "bearer":  # copied with its header name ("Bearer eyJ...")
        token = token[6:]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as err:
        raise InvalidTokenError("not a JWT") from err
    expires = _timestamp(claims.get("exp"))
    if expires is None:
        raise InvalidTokenError("the token has no expiry")
    return TokenInfo(
        token=token,
        serial=_serial_claim(claims),
        role=claims.get("enphaseUser") if isinstance(claims.get("enphaseUser"), str) else None,
        issued_at=_timestamp(claims.get("iat")),
        expires_at=expires,
    )


def _timestamp(value: Any) -> datetime | None:
    """A claim's UNIX time; None unless it is a number a datetime can hold (not NaN, 1e20)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _serial_claim(claims: dict[str, Any]) -> str | None:
    """The gateway serial a token is for: ``aud`` (string or list), or a serial claim."""
    for key in ("aud", "serial_num", "serialNum"):
        value = claims.get(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True, slots=True, repr=False)
class SignIn:
    """One sign-in to Enlighten, as far as it got. Nothing of it shows in ``repr``.

    With a ``session_id`` it is complete (Entrez issues tokens for it). Without one the
    account signs in in two steps and Enphase has sent the owner a one-time code: the
    ``cookies`` of the login are what ``submit_code`` sends the code with.
    """

    username: str
    session_id: str | None = None
    cookies: tuple[tuple[str, str], ...] = ()

    @property
    def needs_code(self) -> bool:
        """Whether the one-time code is still to be sent (two-step sign-in)."""
        return self.session_id is None

    def __repr__(self) -> str:
        """No e-mail address, session id or cookie."""
        return f"SignIn(needs_code={self.needs_code})"


class _Answer(NamedTuple):
    status: int
    text: str
    cookies: dict[str, str]

    @property
    def shape(self) -> str:
        """The reply's shape, for logs: status, field names and cookie names, no value."""
        try:
            body = json.loads(self.text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            fields = f"fields: {', '.join(sorted(map(str, body))) or 'none'}"
        else:
            fields = "no JSON object"
        return f"HTTP {self.status}, {fields}, cookies set: {', '.join(sorted(self.cookies)) or 'none'}"


class EnlightenClient:
    """Gets gateway tokens from the Enphase cloud.

    The base URLs can point elsewhere (tests, the simulator) but must be HTTPS; ``ssl``
    may add trust (a test CA) but can never turn verification off. The session must not
    keep cookies (``aiohttp.DummyCookieJar``): each sign-in carries its own.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        enlighten_url: str = ENLIGHTEN_URL,
        entrez_url: str = ENTREZ_URL,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = CLOUD_TIMEOUT,
    ) -> None:
        """Use ``session`` for the calls; refuse plain-HTTP cloud URLs and a cookie jar."""
        for url in (enlighten_url, entrez_url):
            if not url.startswith("https://"):
                raise ValueError("the Enphase cloud is only reached over HTTPS")
        if ssl_context is not None and (
            ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname
        ):
            raise ValueError("certificate verification cannot be turned off for the cloud")
        if not isinstance(session.cookie_jar, aiohttp.DummyCookieJar):
            raise ValueError(  # noqa: TRY004 - a wrong setting, like the two above
                "the cloud session must keep no cookies (aiohttp.DummyCookieJar): "
                "each sign-in carries its own"
            )
        self._session = session
        self._enlighten_url = enlighten_url.rstrip("/")
        self._entrez_url = entrez_url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def fetch_token(self, username: str, password: str, serial: str) -> TokenInfo:
        """Sign in with the password alone and get a token for gateway ``serial``.

        An account with two-step sign-in raises EnlightenCodeRequiredError: a code needs
        its owner, so such sign-ins go through ``sign_in`` and ``submit_code``.
        """
        sign_in = await self.sign_in(username, password)
        if sign_in.needs_code:
            raise EnlightenCodeRequiredError("the account signs in with a one-time code")
        return await self.fetch_token_for(sign_in, serial)

    async def sign_in(self, username: str, password: str) -> SignIn:
        """Sign in to Enlighten with e-mail address and password.

        Returns a complete SignIn, or one that ``needs_code``: the account signs in in two
        steps and Enphase has sent its owner a one-time code. Raises
        EnlightenInvalidCredentialsError (HTTP 401, or a reply that is no sign-in),
        EnlightenAccountBlockedError, EnlightenMFARequiredError (a second step this
        client cannot take) or EnlightenUnavailableError (any other status: 403, 429,
        5xx).
        """
        answer = await self._post(
            f"{self._enlighten_url}/login/login.json",
            data={"user[email]": username, "user[password]": password},
            headers={"Accept": _ACCEPT},
        )
        if answer.status == 401:
            raise EnlightenInvalidCredentialsError("Enlighten refused the e-mail or password")
        if answer.status == 406:
            # On record: Enlighten refusing a sign-in this way, but not what it then wants.
            raise EnlightenUnknownReplyError(
                f"Enlighten did not accept the sign-in ({answer.shape})"
            )
        if answer.status != 200:
            # 403 and 429 too: refused for the moment (a rate limit, a firewall), which
            # says nothing about the password, so later is worth a try.
            raise EnlightenUnavailableError(f"Enlighten answered HTTP {answer.status}")
        body = _json_object(answer.text)
        session_id = body.get("session_id")
        if isinstance(session_id, str) and session_id:
            return SignIn(username, session_id)
        if body.get("isBlocked") is True:
            raise EnlightenAccountBlockedError("Enphase blocks sign-ins to the account")
        if body.get("success") is True or body.get("requires_mfa") or _says_success(body):
            if OTP_NONCE_COOKIE in answer.cookies:
                return SignIn(username, cookies=tuple(answer.cookies.items()))
            raise EnlightenMFARequiredError(
                "the account signs in with a second step, without a code step this client knows"
            )
        raise EnlightenInvalidCredentialsError("Enlighten refused the e-mail or password")

    async def submit_code(self, sign_in: SignIn, code: str) -> SignIn:
        """Complete a two-step sign-in with the one-time code Enphase sent; a new SignIn.

        The reply is judged by what it carries: a session id is a completed sign-in,
        whatever else the reply holds. Raises EnlightenInvalidCodeError (a wrong code: try
        again), EnlightenCodeExpiredError (ask for a new code; when the sign-in itself has
        expired, sign in again), EnlightenAccountBlockedError (too many tries),
        EnlightenUnknownReplyError (a reply of no shape on record), or
        EnlightenUnavailableError.
        """
        if not sign_in.needs_code:
            raise ValueError("this sign-in is complete: it takes no code")
        answer = await self._code_request(
            sign_in,
            "validate_login_otp",
            {"email": _base64(sign_in.username), "otp": _base64(code.strip())},
        )
        if answer.status in WRONG_CODE_STATUSES:
            raise EnlightenInvalidCodeError(
                f"Enlighten did not accept the one-time code (HTTP {answer.status})"
            )
        body = _code_answer(answer)
        session_id = body.get("session_id")
        if isinstance(session_id, str) and session_id:
            return SignIn(sign_in.username, session_id)
        if body.get("isValid") is False:
            if body.get("isExpired") is True:
                raise EnlightenCodeExpiredError("the one-time code has expired")
            raise EnlightenInvalidCodeError("Enlighten did not accept the one-time code")
        if "session_id" not in body and (_says_success(body) or body.get("isValid") is True):
            if cookie_session := answer.cookies.get(SESSION_ID_COOKIE):
                return SignIn(sign_in.username, cookie_session)
            raise _unknown_reply("accepted the code but sent no session id", answer)
        raise _unknown_reply("answered the code with a reply this client does not know", answer)

    async def request_new_code(self, sign_in: SignIn) -> SignIn:
        """Have Enphase send a new one-time code (the old one stops working); a new SignIn.

        The new SignIn carries the cookies the reply set (Enlighten gives the sign-in a
        new nonce with each code): the code is submitted with it. Raises
        EnlightenCodeExpiredError when the sign-in itself has expired (sign in again:
        that sends a code too), EnlightenAccountBlockedError,
        EnlightenInvalidResponseError when the cloud says it sent none, and otherwise
        what ``submit_code`` raises.
        """
        if not sign_in.needs_code:
            raise ValueError("this sign-in is complete: it takes no code")
        answer = await self._code_request(sign_in, "generate_mfa_login_otp", {"locale": "en"})
        body = _code_answer(answer)
        if body.get("success") is False:
            raise EnlightenInvalidResponseError("Enlighten did not send a new code")
        if body.get("success") is not True:
            raise _unknown_reply("answered the request for a new code unexpectedly", answer)
        cookies = {**dict(sign_in.cookies), **answer.cookies}
        return SignIn(sign_in.username, cookies=tuple(cookies.items()))

    async def fetch_token_for(self, sign_in: SignIn, serial: str) -> TokenInfo:
        """Ask Entrez for a token for gateway ``serial`` with a complete sign-in."""
        if sign_in.needs_code:
            raise ValueError("the sign-in still needs its one-time code")
        answer = await self._post(
            f"{self._entrez_url}/tokens",
            json={
                "session_id": sign_in.session_id,
                "serial_num": serial,
                "username": sign_in.username,
            },
        )
        if answer.status in (400, 401, 403, 404, 422):
            raise EnlightenSerialNotOnAccountError(
                f"Entrez refused a token for this gateway (HTTP {answer.status})"
            )
        if answer.status != 200:
            raise EnlightenUnavailableError(f"Entrez answered HTTP {answer.status}")
        try:
            info = parse_token(answer.text)
        except InvalidTokenError as err:
            raise EnlightenInvalidResponseError("Entrez did not answer with a token") from err
        if not info.matches_serial(serial):
            raise EnlightenInvalidResponseError("Entrez issued a token for another gateway")
        return info

    async def _code_request(self, sign_in: SignIn, endpoint: str, form: dict[str, str]) -> _Answer:
        """POST to a one-time-code endpoint as Enlighten's sign-in page does."""
        cookies = dict(sign_in.cookies)
        headers = {
            "Accept": _ACCEPT,
            "X-Requested-With": "XMLHttpRequest",
            "Cookie": "; ".join(f"{name}={value}" for name, value in sign_in.cookies),
        }
        if xsrf := cookies.get(XSRF_COOKIE):
            # The page's script sends the cookie's value URL-decoded, as browsers read it.
            headers["X-CSRF-Token"] = unquote(xsrf)
        return await self._post(
            f"{self._enlighten_url}/app-api/{endpoint}", data=form, headers=headers
        )

    async def _post(self, url: str, **kwargs: Any) -> _Answer:
        """POST, raising outside aiohttp's handler: no error holds the request's headers.

        Those carry the sign-in cookies.
        """
        failure: EnlightenConnectionError
        try:
            async with self._session.post(
                url, ssl=self._ssl, timeout=self._timeout, allow_redirects=False, **kwargs
            ) as response:
                return _Answer(
                    response.status,
                    await response.text(errors="replace"),
                    {name: morsel.value for name, morsel in response.cookies.items()},
                )
        except TimeoutError:
            failure = EnlightenConnectionError("the Enphase cloud did not answer in time")
        except aiohttp.ClientError as err:
            failure = EnlightenConnectionError(
                f"the Enphase cloud could not be reached ({type(err).__name__})"
            )
        raise failure


def _json_object(text: str) -> dict[str, Any]:
    """An Enlighten answer's JSON object; a page or other JSON means it is not itself."""
    try:
        body = json.loads(text)
    except ValueError as err:
        raise EnlightenUnavailableError(
            "Enlighten answered with a page, not JSON (maintenance?)"
        ) from err
    if not isinstance(body, dict):
        raise EnlightenUnavailableError("Enlighten answered with unexpected JSON")
    return body


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _code_answer(answer: _Answer) -> dict[str, Any]:
    """A code endpoint's reply as JSON, once the statuses every code reply shares are judged.

    HTTP 429 or ``"isBlocked": true``: too many tries; 401/403: the sign-in itself has
    expired; 5xx or a page: the cloud is not itself; any other status: a reply this client
    does not know.
    """
    if answer.status == 429:
        raise EnlightenAccountBlockedError("too many one-time code attempts")
    if answer.status in (401, 403):
        raise EnlightenCodeExpiredError("the sign-in the code belongs to has expired")
    if answer.status >= 500:
        raise EnlightenUnavailableError(f"Enlighten answered HTTP {answer.status}")
    if answer.status != 200:
        raise _unknown_reply("answered the one-time code step unexpectedly", answer)
    body = _json_object(answer.text)
    if body.get("isBlocked") is True:
        raise EnlightenAccountBlockedError("too many one-time code attempts")
    return body


def _says_success(body: dict[str, Any]) -> bool:
    """Whether a reply says it succeeded in one of the ways on record."""
    return body.get("success") is True or str(body.get("message", "")).lower() == "success"


def _unknown_reply(what: str, answer: _Answer) -> EnlightenUnknownReplyError:
    """The error for a reply of no known shape, naming that shape (for the log)."""
    return EnlightenUnknownReplyError(f"Enlighten {what} ({answer.shape})")
