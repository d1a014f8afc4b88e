"""Tokens for the IQ Gateway: read their claims, and get them from the Enphase cloud.

A token is a JWT issued by Enphase's Entrez service for one gateway serial. Its claims say
when it expires and whether its holder is the system owner (valid one year) or an
installer (valid 12 hours). The gateway verifies the signature; this module only reads the
claims, so PyJWT decodes without verifying.

Getting a token takes two calls, both over HTTPS with certificate verification on:

1. ``POST {enlighten}/login/login.json`` with the form fields ``user[email]`` and
   ``user[password]`` -> JSON with a ``session_id`` (none for accounts with multi-factor
   sign-in: those must paste a token);
2. ``POST {entrez}/tokens`` with JSON ``{session_id, serial_num, username}`` -> the token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import ssl
from typing import Any

import aiohttp
import jwt

from .exceptions import (
    EnlightenConnectionError,
    EnlightenInvalidCredentialsError,
    EnlightenInvalidResponseError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
    EnlightenUnavailableError,
    InvalidTokenError,
)

ENLIGHTEN_URL = "https://enlighten.enphaseenergy.com"
ENTREZ_URL = "https://entrez.enphaseenergy.com"
CLOUD_TIMEOUT = 30.0

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


class EnlightenClient:
    """Gets gateway tokens from the Enphase cloud.

    The base URLs can point elsewhere (tests, the simulator) but must be HTTPS; ``ssl``
    may add trust (a test CA) but can never turn verification off.
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
        """Use ``session`` for the calls; refuse plain-HTTP cloud URLs."""
        for url in (enlighten_url, entrez_url):
            if not url.startswith("https://"):
                raise ValueError("the Enphase cloud is only reached over HTTPS")
        if ssl_context is not None and (
            ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname
        ):
            raise ValueError("certificate verification cannot be turned off for the cloud")
        self._session = session
        self._enlighten_url = enlighten_url.rstrip("/")
        self._entrez_url = entrez_url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def fetch_token(self, username: str, password: str, serial: str) -> TokenInfo:
        """Sign in to Enlighten and ask Entrez for a token for gateway ``serial``."""
        session_id = await self.login(username, password)
        status, text = await self._post(
            f"{self._entrez_url}/tokens",
            json={"session_id": session_id, "serial_num": serial, "username": username},
        )
        if status in (400, 401, 403, 404, 422):
            raise EnlightenSerialNotOnAccountError(
                f"Entrez refused a token for this gateway (HTTP {status})"
            )
        if status != 200:
            raise EnlightenUnavailableError(f"Entrez answered HTTP {status}")
        try:
            info = parse_token(text)
        except InvalidTokenError as err:
            raise EnlightenInvalidResponseError("Entrez did not answer with a token") from err
        if not info.matches_serial(serial):
            raise EnlightenInvalidResponseError("Entrez issued a token for another gateway")
        return info

    async def login(self, username: str, password: str) -> str:
        """Sign in to Enlighten and return the session id."""
        status, text = await self._post(
            f"{self._enlighten_url}/login/login.json",
            data={"user[email]": username, "user[password]": password},
        )
        if status in (401, 403):
            raise EnlightenInvalidCredentialsError("Enlighten refused the e-mail or password")
        if status != 200:
            raise EnlightenUnavailableError(f"Enlighten answered HTTP {status}")
        try:
            body = json.loads(text)
        except ValueError as err:
            raise EnlightenUnavailableError(
                "Enlighten answered with a page, not JSON (maintenance?)"
            ) from err
        if not isinstance(body, dict):
            raise EnlightenUnavailableError("Enlighten answered with unexpected JSON")
        session_id = body.get("session_id")
        if isinstance(session_id, str) and session_id:
            return session_id
        if str(body.get("message", "")).lower() == "success" or body.get("requires_mfa"):
            raise EnlightenMFARequiredError("the account signs in with a second factor")
        raise EnlightenInvalidCredentialsError("Enlighten refused the e-mail or password")

    async def _post(self, url: str, **kwargs: Any) -> tuple[int, str]:
        """POST; errors are raised outside aiohttp's handler, so none holds its headers."""
        failure: EnlightenConnectionError
        try:
            async with self._session.post(
                url, ssl=self._ssl, timeout=self._timeout, allow_redirects=False, **kwargs
            ) as response:
                return response.status, await response.text(errors="replace")
        except TimeoutError:
            failure = EnlightenConnectionError("the Enphase cloud did not answer in time")
        except aiohttp.ClientError as err:
            failure = EnlightenConnectionError(
                f"the Enphase cloud could not be reached ({type(err).__name__})"
            )
        raise failure
