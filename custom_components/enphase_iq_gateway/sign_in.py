"""Signing in to the Enphase cloud from a flow: the password, then perhaps a one-time code.

The config flow (user, reauth, reconfigure) and the renewal repair flow sign in this way.
An account with two-step sign-in answers the password by having Enphase send its owner a
one-time code, which the flow then asks for. What one sign-in needs between the flow's
steps lives here, in memory only, for as long as the flow: the login's cookies (inside the
client's ``SignIn``) and the password, for a fresh login when the sign-in has expired
before a new code could be sent. Nothing of it is stored, logged or shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
import math
from typing import Any, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from . import connections
from .const import CONF_CODE, CONF_NEW_CODE
from .helpers import CODE_SCHEMA
from .iqgateway import (
    EnlightenAccountBlockedError,
    EnlightenClient,
    EnlightenCodeExpiredError,
    EnlightenConnectionError,
    EnlightenError,
    EnlightenInvalidCodeError,
    EnlightenInvalidCredentialsError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
    EnlightenUnknownReplyError,
    SignIn,
    TokenInfo,
)

# What the flows call a failed sign-in (their translation keys): the first match wins.
SIGN_IN_ERRORS: tuple[tuple[type[EnlightenError], str], ...] = (
    (EnlightenConnectionError, "cloud_unreachable"),
    (EnlightenAccountBlockedError, "account_blocked"),
    (EnlightenCodeExpiredError, "code_expired"),
    (EnlightenInvalidCodeError, "invalid_code"),
    (EnlightenMFARequiredError, "mfa_enabled"),  # "code_step_unavailable" after a code
    (EnlightenInvalidCredentialsError, "invalid_auth"),
    (EnlightenSerialNotOnAccountError, "serial_not_on_account"),
    (EnlightenUnknownReplyError, "cloud_reply_unknown"),  # likewise after a code
    (EnlightenError, "cloud_error"),
)
# Keys that mean "the cloud cannot complete this sign-in with Home Assistant": once Enphase
# has sent a code (``two_step``), they say so as "code_step_unavailable".
_NO_WAY_ON = {"mfa_enabled", "cloud_reply_unknown"}

RESEND_INTERVAL = timedelta(seconds=30)
"""Enphase sends at most one code this often: a new one is asked for no sooner."""
# What a code form shows, on which of its fields (``CloudSignIn.answer``'s keys).
CODE_FORM_FIELDS = {"code_missing": CONF_CODE, "code_resend_wait": CONF_NEW_CODE}


class CloudSignIn:
    """One sign-in to the Enphase cloud, spread over a flow's steps."""

    def __init__(self, hass: HomeAssistant, username: str, password: str) -> None:
        """Nothing is sent until ``start``."""
        self._hass = hass
        self.username = username
        self._password = password
        self._sign_in: SignIn | None = None
        self.two_step = False  # the account asked for a one-time code
        self._code_sent_at: datetime | None = None

    def __repr__(self) -> str:
        """No e-mail address, password or cookie."""
        return f"CloudSignIn(two_step={self.two_step}, needs_code={self.needs_code})"

    @property
    def needs_code(self) -> bool:
        """Whether the one-time code Enphase sent is still to be entered."""
        return self._sign_in is not None and self._sign_in.needs_code

    async def start(self) -> None:
        """Sign in with the password; for a two-step account Enphase sends a code."""
        self._sign_in = await self._call(lambda cloud: cloud.sign_in(self.username, self._password))
        if self._sign_in.needs_code:
            self.two_step = True
            self._code_sent_at = dt_util.utcnow()

    async def submit_code(self, code: str) -> None:
        """Complete the sign-in with the code (spaces typed or pasted with it are dropped)."""
        sign_in = self._started()
        code = "".join(code.split())
        self._sign_in = await self._call(lambda cloud: cloud.submit_code(sign_in, code))

    async def send_new_code(self) -> None:
        """Have Enphase send a new code; a sign-in that has expired is started afresh."""
        sign_in = self._started()
        try:
            self._sign_in = await self._call(lambda cloud: cloud.request_new_code(sign_in))
        except EnlightenCodeExpiredError:
            await self.start()  # a new login sends a new code
        else:
            self._code_sent_at = dt_util.utcnow()

    def resend_wait(self) -> int:
        """Whole seconds until a new code may be asked for (0: now)."""
        if self._code_sent_at is None:
            return 0
        left = self._code_sent_at + RESEND_INTERVAL - dt_util.utcnow()
        return max(0, math.ceil(left.total_seconds()))

    def placeholders(self) -> dict[str, str]:
        """What a code form's texts name: the seconds until a new code may be asked for."""
        return {"resend_wait": str(self.resend_wait() or RESEND_INTERVAL.seconds)}

    async def answer(self, form: Mapping[str, Any]) -> str | None:
        """Act on a code form: send a new code, or submit the one typed.

        Returns what the form shows next: ``"code_resent"`` (a new code is on its way),
        ``"code_resend_wait"`` (a new code was asked for too soon after the last one:
        nothing is sent), ``"code_missing"`` (neither was asked), or None (signed in, or
        signed in afresh by an account that no longer asks for a code). Errors are raised.
        """
        if form.get(CONF_NEW_CODE):
            if self.resend_wait():
                return "code_resend_wait"
            await self.send_new_code()
            return "code_resent" if self.needs_code else None
        if not str(form.get(CONF_CODE, "")).strip():
            return "code_missing"
        await self.submit_code(str(form[CONF_CODE]))
        return None

    async def fetch_token(self, serial: str) -> TokenInfo:
        """A token for gateway ``serial`` with the completed sign-in."""
        sign_in = self._started()
        return await self._call(lambda cloud: cloud.fetch_token_for(sign_in, serial))

    def error_key(self, err: EnlightenError) -> str:
        """What the flows call ``err`` (see SIGN_IN_ERRORS)."""
        key = next(key for kind, key in SIGN_IN_ERRORS if isinstance(err, kind))
        if key in _NO_WAY_ON and self.two_step:
            return "code_step_unavailable"  # the code was sent, but cannot be given back
        return key

    def _started(self) -> SignIn:
        assert self._sign_in is not None, "start() comes first"
        return self._sign_in

    async def _call[T](self, call: Callable[[EnlightenClient], Awaitable[T]]) -> T:
        """Run ``call`` with a cloud client on a session of its own (it keeps no cookies)."""
        session = connections.cloud_session(self._hass, auto_cleanup=False)
        try:
            return await call(connections.cloud_client(session))
        finally:
            session.detach()


class _CodeFlow[R](Protocol):
    """What the code steps need of the flow they are part of."""

    _sign_in: CloudSignIn | None

    def async_show_form(
        self,
        *,
        step_id: str | None = None,
        data_schema: Any = None,
        errors: dict[str, str] | None = None,
        description_placeholders: Mapping[str, str] | None = None,
    ) -> R: ...

    def add_suggested_values_to_schema(
        self, data_schema: Any, suggested_values: Mapping[str, Any] | None
    ) -> Any: ...

    def _code_placeholders(self) -> dict[str, str]: ...

    async def _async_code_step(self, step_id: str, user_input: dict[str, Any] | None) -> R: ...

    def _show_code_form(
        self, step_id: str, errors: dict[str, str] | None = None, *, new_code: bool = False
    ) -> R: ...

    async def _async_code_accepted(self) -> R: ...

    async def _async_sign_in_failed(self, err: Exception, step_id: str) -> R: ...


class CodeSteps:
    """The one-time code steps, the same in the config flow and the renewal repair.

    A flow that signs in with ``CloudSignIn`` (``self._sign_in``) adds these steps
    (``code``; ``code_resent`` after a new code was sent) and says what comes next:
    ``_async_code_accepted`` (fetch the token) and ``_async_sign_in_failed`` (show why);
    ``_code_placeholders``, what else its code form's text needs.
    """

    async def async_step_code[R](self: _CodeFlow[R], user_input: dict[str, Any] | None = None) -> R:
        """Enphase sent a one-time code: enter it, or have a new one sent."""
        return await self._async_code_step("code", user_input)

    async def async_step_code_resent[R](
        self: _CodeFlow[R], user_input: dict[str, Any] | None = None
    ) -> R:
        """The same, after a new code was sent."""
        return await self._async_code_step("code_resent", user_input)

    async def _async_code_step[R](
        self: _CodeFlow[R], step_id: str, user_input: dict[str, Any] | None
    ) -> R:
        sign_in = self._sign_in
        assert sign_in is not None
        assert user_input is not None  # the form is shown by the steps before
        try:
            shown = await sign_in.answer(user_input)
        except Exception as err:  # noqa: BLE001 - a flow must answer, whatever happens
            return await self._async_sign_in_failed(err, step_id)
        if shown == "code_resent":
            return self._show_code_form(shown)
        if shown is not None:
            return self._show_code_form(step_id, {CODE_FORM_FIELDS[shown]: shown})
        return await self._async_code_accepted()

    def _show_code_form[R](
        self: _CodeFlow[R],
        step_id: str,
        errors: dict[str, str] | None = None,
        *,
        new_code: bool = False,
    ) -> R:
        """Ask for the one-time code; ``new_code`` ticks "send me a new code" (expired)."""
        assert self._sign_in is not None
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(CODE_SCHEMA, {CONF_NEW_CODE: new_code}),
            errors=errors or {},
            description_placeholders={**self._code_placeholders(), **self._sign_in.placeholders()},
        )

    def _code_placeholders(self) -> dict[str, str]:
        """What the code form's text needs besides the sign-in's own (none here)."""
        return {}
