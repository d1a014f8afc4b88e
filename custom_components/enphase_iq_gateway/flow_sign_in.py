"""How the config flow signs in, once it knows the gateway.

The Enlighten account (the token is fetched, and renewed later, with it; a two-step
account gets the code steps), or a pasted token. Every token is proven against the
gateway before the entry is created or updated. The config flow (config_flow.py) adds the
steps that find the gateway (user, zeroconf) and those that sign an entry in again
(reauth, reconfigure).
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME

from .const import (
    CONF_CODE,
    CONF_SERIAL,
    CONF_TWO_STEP,
    LOGGER,
)
from .coordinator import IQGatewayConfigEntry
from .helpers import (
    AUTH_KEYS,
    EMAIL_FIELD,
    PASSWORD_FIELD,
    TEXT_FIELD,
    TOKEN_FIELD,
    async_check_pasted_token,
    async_prove_token,
    vol,
)
from .iqgateway import (
    ENTREZ_URL,
    EnlightenError,
    EnlightenUnknownReplyError,
    GatewayInfo,
)
from .sign_in import CloudSignIn, CodeSteps

AUTH_MENU = ["credentials", "token"]
CLOUD_FAILED_MENU = ["credentials", "token"]
# A sign-in that failed this way (unless a menu offers to try again or paste a token)
# leads to the token form, saying why ...
SIGN_IN_TOKEN_INSTEAD = {"mfa_enabled", "code_step_unavailable", "cloud_reply_unknown"}
# ... or shows on a field of the form the user typed it in.
SIGN_IN_FIELDS = {
    "invalid_auth": CONF_PASSWORD,
    "serial_not_on_account": CONF_SERIAL,
    "invalid_code": CONF_CODE,
    "code_expired": CONF_CODE,
}


class GatewaySignInFlow(CodeSteps, ConfigFlow):
    """The sign-in steps of the config flow, and how it ends: an entry, new or updated."""

    def __init__(self) -> None:
        """Start with no gateway."""
        self._host: str = ""
        self._info: GatewayInfo | None = None
        self._errors: dict[str, str] = {}
        self._placeholders: dict[str, str] = {}
        self._username: str = ""
        self._serial_typed: str = ""
        self._sign_in: CloudSignIn | None = None

    async def async_step_auth(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose: sign in with the Enlighten account, or paste a token."""
        return self.async_show_menu(
            step_id="auth", menu_options=AUTH_MENU, description_placeholders=self._found()
        )

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in with the Enlighten account; the token is fetched (and later renewed).

        A two-step account goes on to the code step.
        """
        if user_input is None:
            return self._show_credentials_form()
        self._serial_typed = user_input[CONF_SERIAL].strip()
        self._username = user_input[CONF_USERNAME].strip()
        self._sign_in = CloudSignIn(self.hass, self._username, user_input[CONF_PASSWORD])
        try:
            await self._sign_in.start()
        except Exception as err:  # noqa: BLE001 - a flow must answer, whatever happens
            return await self._async_sign_in_failed(err, "credentials")
        if self._sign_in.needs_code:
            return self._show_code_form("code")
        return await self._async_signed_in(user_input[CONF_PASSWORD])

    def _show_credentials_form(self, errors: dict[str, str] | None = None) -> ConfigFlowResult:
        """The sign-in form, with what was typed (never the password) or is known."""
        schema = vol.Schema(
            {
                vol.Required(CONF_USERNAME): EMAIL_FIELD,
                vol.Required(CONF_PASSWORD): PASSWORD_FIELD,
                vol.Required(CONF_SERIAL): TEXT_FIELD,
            }
        )
        suggested = {CONF_SERIAL: self._serial_typed or self._serial()}
        if self._username:
            suggested[CONF_USERNAME] = self._username
        elif (entry := self._existing_entry()) is not None:
            suggested[CONF_USERNAME] = entry.data.get(CONF_USERNAME, "")
        return self.async_show_form(
            step_id="credentials",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors or {},
            description_placeholders=self._found(),
        )

    def _code_placeholders(self) -> dict[str, str]:
        return self._found()

    async def _async_code_accepted(self) -> ConfigFlowResult:
        return await self._async_signed_in()

    async def _async_signed_in(self, password: str | None = None) -> ConfigFlowResult:
        """Signed in: fetch the token, prove it, and store the sign-in.

        ``password``, given for an account that signed in without a code, is kept: the
        token is renewed with it. After a code only the e-mail address is kept (and that
        the account signs in in two steps): its renewal needs the owner and a new code.
        """
        assert self._sign_in is not None
        try:
            token = await self._sign_in.fetch_token(self._serial_typed)
        except Exception as err:  # noqa: BLE001 - a flow must answer, whatever happens
            return await self._async_sign_in_failed(err, "credentials")
        if error := await async_prove_token(self.hass, self._host, token.token, self._serial()):
            return self._show_credentials_form({"base": error})
        kept = {CONF_TWO_STEP: True} if password is None else {CONF_PASSWORD: password}
        return self._async_finish(
            {
                CONF_USERNAME: self._username,
                **kept,
                CONF_SERIAL: self._serial_typed,
                CONF_TOKEN: token.token,
            }
        )

    async def _async_sign_in_failed(self, err: Exception, step_id: str) -> ConfigFlowResult:
        """Show why signing in failed, where the user can do something about it."""
        if not isinstance(err, EnlightenError) or self._sign_in is None:
            LOGGER.exception("Unexpected error while signing in to Enphase's cloud")
            if step_id == "credentials":
                return self._show_credentials_form({"base": "unknown"})
            return self._show_code_form(step_id, {"base": "unknown"})
        key = self._sign_in.error_key(err)
        menus = {
            "cloud_unreachable": self.async_step_cloud_unreachable,
            "cloud_error": self.async_step_cloud_error,
            "account_blocked": self.async_step_account_blocked,
        }
        if key in menus:
            # Either way the user can try again or take the token path: a menu.
            LOGGER.warning("Could not get a token from Enphase's cloud: %s", err)
            return await menus[key]()
        if key in SIGN_IN_TOKEN_INSTEAD:
            # The account cannot sign in here: offer the way that works, a token.
            LOGGER.log(
                logging.WARNING if isinstance(err, EnlightenUnknownReplyError) else logging.INFO,
                "Enphase's cloud asks for a sign-in step that cannot be taken: %s",
                err,
            )
            return await self.async_step_token(errors={"base": key})
        field = SIGN_IN_FIELDS[key]
        if field == CONF_CODE:
            return self._show_code_form(step_id, {CONF_CODE: key}, new_code=key == "code_expired")
        return self._show_credentials_form({field: key})

    async def async_step_cloud_unreachable(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Home Assistant could not reach Enphase's cloud: try again, or paste a token."""
        return self.async_show_menu(step_id="cloud_unreachable", menu_options=CLOUD_FAILED_MENU)

    async def async_step_cloud_error(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enphase's cloud answered unexpectedly: try again, or paste a token."""
        return self.async_show_menu(step_id="cloud_error", menu_options=CLOUD_FAILED_MENU)

    async def async_step_account_blocked(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enphase blocks sign-ins to the account for now: wait and retry, or paste a token."""
        return self.async_show_menu(
            step_id="account_blocked",
            menu_options=CLOUD_FAILED_MENU,
            description_placeholders={"entrez_url": ENTREZ_URL},
        )

    async def async_step_token(
        self, user_input: dict[str, Any] | None = None, errors: dict[str, str] | None = None
    ) -> ConfigFlowResult:
        """Paste a token (for accounts that cannot sign in here, or by choice)."""
        errors = dict(errors or {})
        placeholders = self._found() | {"entrez_url": ENTREZ_URL}
        if user_input is not None:
            serial = user_input[CONF_SERIAL].strip()
            token, found, shown = await async_check_pasted_token(
                self.hass, self._host, user_input[CONF_TOKEN], serial, self._serial()
            )
            errors |= found
            placeholders |= shown
            if not errors and token is not None:
                return self._async_finish({CONF_SERIAL: serial, CONF_TOKEN: token.token})
        schema = vol.Schema(
            {vol.Required(CONF_TOKEN): TOKEN_FIELD, vol.Required(CONF_SERIAL): TEXT_FIELD}
        )
        suggested = dict(user_input or {})
        suggested.setdefault(CONF_SERIAL, self._serial())
        return self.async_show_form(
            step_id="token",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _async_finish(self, auth: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry, or update and reload the one being signed in again."""
        entry = self._existing_entry()
        if entry is None:
            assert self._info is not None
            return self.async_create_entry(
                title=f"IQ Gateway {self._info.serial}",
                data={CONF_HOST: self._host, CONF_SERIAL: self._info.serial, **auth},
            )
        data = dict(entry.data)
        if auth:
            # A new way to sign in replaces the old one entirely (a pasted token must not
            # leave old credentials behind, or the reverse).
            # A refused password given again has just signed in: it is no longer refused.
            for key in AUTH_KEYS:
                data.pop(key, None)
            data.update(auth)
        data[CONF_HOST] = self._host
        return self.async_update_reload_and_abort(entry, data=data)

    def _existing_entry(self) -> IQGatewayConfigEntry | None:
        if self.source == SOURCE_REAUTH:
            return self._get_reauth_entry()
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry()
        return None

    def _serial(self) -> str:
        """The serial to prefill: the stored one when re-signing in, else /info's."""
        entry = self._existing_entry()
        if entry is not None and entry.data.get(CONF_SERIAL):
            return str(entry.data[CONF_SERIAL])
        return self._info.serial if self._info else ""

    def _found(self) -> dict[str, str]:
        """Placeholders: what /info said."""
        info = self._info
        return {
            "host": self._host,
            "serial": info.serial if info else self._serial(),
            "firmware": info.firmware if info else "-",
        }
