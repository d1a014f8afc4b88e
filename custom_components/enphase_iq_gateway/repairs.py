"""Repairs: sign in again from a repair issue.

* Renew the token of an account with two-step sign-in. Such a token cannot renew itself
  (every sign-in needs a new one-time code), so 30 days before it expires the token manager
  raises a fixable repair issue. Its flow signs in with the password and the code Enphase
  sends, proves the new token against the gateway, stores it and reloads the entry. The
  password is used for this sign-in only, never stored.
* Sign in again where a reauthentication is needed but cannot start (Home Assistant starts
  none while another flow of the entry, such as a Reconfigure left open, is in progress):
  the same sign-in (the password is kept for an account that signs in without a code, to
  renew with), or a pasted token.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_CODE, CONF_SERIAL, CONF_TWO_STEP, DOMAIN, LOGGER
from .helpers import (
    ACCOUNT_SCHEMA,
    AUTH_KEYS,
    TOKEN_SCHEMA,
    async_check_pasted_token,
    async_prove_token,
    local_time,
)
from .iqgateway import ENTREZ_URL, EnlightenError, InvalidTokenError, TokenInfo, parse_token
from .sign_in import CloudSignIn, CodeSteps
from .token_manager import sign_in_issue_id

if TYPE_CHECKING:  # Home Assistant 2025.4 has no such name (nor type checks here)
    from homeassistant.components.repairs import RepairsFlowResult as FlowResult

# A sign-in that failed this way ends the flow (waiting, or pasting a token with
# Reconfigure, are the ways out); cloud failures and wrong input show on the form.
ABORTS = {
    "account_blocked": "account_blocked",
    "mfa_enabled": "code_step_unavailable",
    "code_step_unavailable": "code_step_unavailable",
    "cloud_reply_unknown": "cloud_reply_unknown",
    "serial_not_on_account": "serial_not_on_account",
}
CODE_ERRORS = {"invalid_code", "code_expired"}


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow that fixes an issue of this integration.

    An expiring two-step token, or a sign-in that could not be asked for otherwise.
    """
    entry_id = str((data or {}).get("entry_id", ""))
    if issue_id == sign_in_issue_id(entry_id):
        return SignInAgainFlow(entry_id)
    return TokenRenewalFlow(entry_id)


class TokenRenewalFlow(CodeSteps, RepairsFlow):
    """Sign in with password and one-time code; store the new token."""

    def __init__(self, entry_id: str) -> None:
        """For the config entry whose token expires."""
        self._entry_id = entry_id
        self._sign_in: CloudSignIn | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """The flow starts (with the issue's data, not the user's): ask to sign in."""
        return await self.async_step_sign_in()

    async def async_step_sign_in(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """E-mail address and password; Enphase then sends a code."""
        if user_input is None or self._entry() is None:
            return self._show_account_form()
        self._sign_in = CloudSignIn(
            self.hass, user_input[CONF_USERNAME].strip(), user_input[CONF_PASSWORD]
        )
        try:
            await self._sign_in.start()
        except Exception as err:  # noqa: BLE001 - a flow must answer, whatever happens
            return await self._async_sign_in_failed(err, "sign_in")
        if self._sign_in.needs_code:
            return self._show_code_form("code")
        return await self._async_store_token()  # the account no longer asks for a code

    async def _async_code_accepted(self) -> FlowResult:
        return await self._async_store_token()

    async def _async_store_token(self) -> FlowResult:
        """Fetch the token, prove it with the gateway, store it and reload the entry."""
        assert self._sign_in is not None
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        try:
            token = await self._sign_in.fetch_token(entry.data[CONF_SERIAL])
        except Exception as err:  # noqa: BLE001 - a flow must answer, whatever happens
            return await self._async_sign_in_failed(err, "sign_in")
        error = await async_prove_token(
            self.hass, entry.data[CONF_HOST], token.token, str(entry.unique_id)
        )
        if error == "timeout":
            error = "cannot_connect"  # the repair says "does not answer" either way
        if error:
            return self._show_account_form({"base": error})
        return self._async_store(entry, token, self._signed_in_data())

    def _signed_in_data(self) -> dict[str, Any]:
        """What the entry keeps of this sign-in, beside the token."""
        assert self._sign_in is not None
        return {CONF_USERNAME: self._sign_in.username, CONF_TWO_STEP: True}

    def _async_store(
        self, entry: ConfigEntry, token: TokenInfo, auth: dict[str, Any]
    ) -> FlowResult:
        """Store the new token (and ``auth``: how the entry signs in now), reload the entry."""
        data = {key: value for key, value in entry.data.items() if key not in AUTH_KEYS}
        data |= auth | {CONF_TOKEN: token.token}
        self.hass.config_entries.async_update_entry(entry, data=data)
        self.hass.config_entries.async_schedule_reload(entry.entry_id)
        LOGGER.info("Signed in again; the new IQ Gateway token expires %s", token.expires_at)
        return self.async_create_entry(data={})

    async def _async_sign_in_failed(self, err: Exception, step_id: str) -> FlowResult:
        """Show why signing in failed on the step's form.

        Or end the flow, where only waiting or a pasted token help.
        """
        if not isinstance(err, EnlightenError) or self._sign_in is None:
            LOGGER.exception("Unexpected error while signing in to Enphase's cloud")
            key = "unknown"
        else:
            key = self._sign_in.error_key(err)
            LOGGER.warning("Could not renew the IQ Gateway token by signing in: %s", err)
        if key in ABORTS:
            return self.async_abort(
                reason=ABORTS[key], description_placeholders={"entrez_url": ENTREZ_URL}
            )
        if step_id == "sign_in":
            return self._show_account_form(
                {CONF_PASSWORD if key == "invalid_auth" else "base": key}
            )
        # A cloud failure on the code form: the same code can be submitted again.
        field = CONF_CODE if key in CODE_ERRORS else "base"
        return self._show_code_form(step_id, {field: key}, new_code=key == "code_expired")

    def _show_account_form(self, errors: dict[str, str] | None = None) -> FlowResult:
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        username = self._sign_in.username if self._sign_in else entry.data.get(CONF_USERNAME)
        return self.async_show_form(
            step_id="sign_in",
            data_schema=self.add_suggested_values_to_schema(
                ACCOUNT_SCHEMA, {CONF_USERNAME: username} if username else {}
            ),
            errors=errors or {},
            description_placeholders=self._placeholders(entry),
        )

    def _entry(self) -> ConfigEntry | None:
        return self.hass.config_entries.async_get_entry(self._entry_id)

    @staticmethod
    def _placeholders(entry: ConfigEntry) -> dict[str, str]:
        expires = "-"
        with suppress(InvalidTokenError):
            expires = local_time(parse_token(str(entry.data.get(CONF_TOKEN, ""))).expires_at)
        return {"title": entry.title, "expires": expires}


SIGN_IN_MENU = ["sign_in", "token"]


class SignInAgainFlow(TokenRenewalFlow):
    """Sign in with the account (and a one-time code where asked), or paste a token.

    Stands in for the reauthentication Home Assistant could not start. Success also ends
    the entry's reconfigure flows left open, which would block the next reauthentication.
    """

    def __init__(self, entry_id: str) -> None:
        """For the config entry that needs a new token."""
        super().__init__(entry_id)
        self._password = ""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Sign in with the Enphase account, or paste a token."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        return self.async_show_menu(
            step_id="init",
            menu_options=SIGN_IN_MENU,
            description_placeholders={"title": entry.title},
        )

    async def async_step_sign_in(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """E-mail address and password; a two-step account gets a code next."""
        if user_input is not None:
            self._password = user_input[CONF_PASSWORD]
        return await super().async_step_sign_in(user_input)

    async def async_step_token(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Paste a token for this gateway; it is proven with the gateway before it is kept."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        serial = str(entry.unique_id)
        placeholders = {"title": entry.title, "serial": serial, "entrez_url": ENTREZ_URL}
        errors: dict[str, str] = {}
        if user_input is not None:
            token, errors, shown = await async_check_pasted_token(
                self.hass, entry.data[CONF_HOST], user_input[CONF_TOKEN], serial, serial
            )
            placeholders |= shown
            if errors.get("base") == "timeout":
                errors["base"] = "cannot_connect"  # the repair says "does not answer" either way
            if not errors and token is not None:
                return self._async_store(entry, token, {})
        return self.async_show_form(
            step_id="token",
            data_schema=self.add_suggested_values_to_schema(TOKEN_SCHEMA, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _signed_in_data(self) -> dict[str, Any]:
        """A two-step account keeps its e-mail address, any other its password too."""
        assert self._sign_in is not None
        if self._sign_in.two_step:
            return super()._signed_in_data()
        return {CONF_USERNAME: self._sign_in.username, CONF_PASSWORD: self._password}

    def _async_store(
        self, entry: ConfigEntry, token: TokenInfo, auth: dict[str, Any]
    ) -> FlowResult:
        """Store the sign-in, and end the reconfigure flows that blocked reauthentication."""
        flows = self.hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, include_uninitialized=True, match_context={"entry_id": entry.entry_id}
        )
        for flow in flows:
            if flow["context"].get("source") == SOURCE_RECONFIGURE:
                self.hass.config_entries.flow.async_abort(flow["flow_id"])
        return super()._async_store(entry, token, auth)
