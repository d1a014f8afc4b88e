"""Config flow: user / zeroconf / reauth / reconfigure, and the options flow.

The user enters the gateway's host; the flow reads ``/info`` and shows the serial and
firmware it found. Gateways on firmware 7 or newer need a token: the user either signs in
with the Enlighten account (the token is fetched, and renewed later, with it) or pastes a
token. Every token is proven against the gateway before anything is stored.

An account with two-step sign-in gets a one-time code from Enphase after its password:
the ``code`` step asks for it (and can have a new one sent). Such an entry keeps the
e-mail address but not the password: its token cannot be renewed without a new code, so
it is renewed through a repair flow (repairs.py) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
import ipaddress
import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
from yarl import URL

from . import connections
from .const import (
    CONF_CODE,
    CONF_INVERTER_ENTITIES,
    CONF_NEW_CODE,
    CONF_POWER_INTERVAL,
    CONF_REFUSED_CREDENTIALS,
    CONF_SCAN_INTERVAL,
    CONF_SERIAL,
    CONF_TWO_STEP,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    FLOW_REQUEST_TIMEOUT,
    LOGGER,
    MAX_POWER_INTERVAL,
    MAX_SCAN_INTERVAL,
    MIN_POWER_INTERVAL,
    MIN_SCAN_INTERVAL,
    local_time,
)
from .coordinator import IQGatewayConfigEntry
from .iqgateway import (
    ENTREZ_URL,
    EnlightenError,
    EnlightenUnknownReplyError,
    GatewayInfo,
    InvalidTokenError,
    IQGateway,
    IQGatewayAuthenticationError,
    IQGatewayError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
    TokenInfo,
    parse_token,
)
from .iqgateway.client import gateway_url, is_ip_address
from .iqgateway.endpoints import PRODUCTION
from .sign_in import CODE_FORM_FIELDS, CloudSignIn

try:  # Home Assistant 2025.8+ reloads an entry for new options by itself
    from homeassistant.config_entries import OptionsFlowWithReload as _OptionsFlow
except ImportError:  # pragma: no cover - Home Assistant 2025.4 (its own leg covers it)
    _OptionsFlow = OptionsFlow  # type: ignore[assignment,misc]
RELOADS_FOR_OPTIONS = _OptionsFlow is not OptionsFlow

try:  # Home Assistant 2026.x validates forms with probatio, a drop-in for voluptuous
    import probatio as vol
except ImportError:  # pragma: no cover - Home Assistant 2025.x (each leg runs one branch)
    import voluptuous as vol  # type: ignore[no-redef]

ZEROCONF_SERIAL = "serialnum"

AUTH_MENU = ["credentials", "token"]
# What an entry stores about how it signs in: a new way to sign in replaces all of it.
AUTH_KEYS = (CONF_USERNAME, CONF_PASSWORD, CONF_TWO_STEP, CONF_TOKEN, CONF_REFUSED_CREDENTIALS)
RECONFIGURE_AUTH_MENU = ["keep_auth", "credentials", "token"]
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

_TEXT = selector.TextSelector()
_EMAIL = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.EMAIL, autocomplete="username")
)
_PASSWORD = selector.TextSelector(
    selector.TextSelectorConfig(
        type=selector.TextSelectorType.PASSWORD, autocomplete="current-password"
    )
)
_TOKEN = selector.TextSelector(selector.TextSelectorConfig(multiline=True))
_CODE = selector.TextSelector(selector.TextSelectorConfig(autocomplete="one-time-code"))

# Signing in to Enphase's account, without the serial (the renewal repair flow's form).
ACCOUNT_SCHEMA = vol.Schema(
    {vol.Required(CONF_USERNAME): _EMAIL, vol.Required(CONF_PASSWORD): _PASSWORD}
)
# A pasted token for a gateway whose serial is known (the sign-in repair flow's form).
TOKEN_SCHEMA = vol.Schema({vol.Required(CONF_TOKEN): _TOKEN})
# The one-time code; or, ticked, send a new one (so the code is optional).
CODE_SCHEMA = vol.Schema(
    {vol.Optional(CONF_CODE): _CODE, vol.Optional(CONF_NEW_CODE): selector.BooleanSelector()}
)


def normalize_host(text: str) -> str:
    """The ``host[:port]`` of what the user typed, or ValueError.

    Accepted: a host name, an IPv4 or IPv6 address (bare or in brackets), each with an
    optional port, or a pasted URL (its scheme and path are dropped). Refused: a user or
    password, a query or fragment, and whatever the client would not take as a host.
    """
    text = text.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if is_ip_address(bare):
        return f"[{bare}]" if ":" in bare else bare
    try:
        url = URL(text if "://" in text else f"//{text}")
        host, port = url.raw_host, url.explicit_port
    except (ValueError, TypeError) as err:
        raise ValueError("not a host") from err
    if url.raw_user or url.raw_password or url.raw_query_string or url.raw_fragment:
        raise ValueError("a host has no user, password, query or fragment")
    if not host:
        raise ValueError("no host")
    host = f"[{host}]" if ":" in host else host
    host = host if port is None else f"{host}:{port}"
    try:
        gateway_url("https", host)  # the client's own check of a host
    except IQGatewayError as err:
        raise ValueError("not a host name") from err
    return host


class IQGatewayConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up an Enphase IQ Gateway."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with no gateway."""
        self._host: str = ""
        self._info: GatewayInfo | None = None
        self._errors: dict[str, str] = {}
        self._placeholders: dict[str, str] = {}
        self._username: str = ""
        self._serial_typed: str = ""
        self._sign_in: CloudSignIn | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: IQGatewayConfigEntry) -> OptionsFlow:
        """The options flow."""
        return IQGatewayOptionsFlow()

    # ------------------------------------------------------------------ user

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the host and read the gateway's /info."""
        if user_input is None or not await self._async_found_gateway(user_input):
            return self._show_host_form("user", user_input)
        assert self._info is not None
        # Started again by the user (a page reload leaves the old flow behind, out of
        # sight): this flow replaces the user's earlier ones for the same gateway. A
        # discovered one stays (it has its card under Discovered) and keeps this one out.
        stale = [
            flow["flow_id"]
            for flow in self._async_in_progress(include_uninitialized=True)
            if flow["flow_id"] != self.flow_id
            and flow["context"].get("unique_id") == self._info.serial
            and flow["context"].get("source") == SOURCE_USER
        ]
        for flow_id in stale:
            self.hass.config_entries.flow.async_abort(flow_id)
        await self.async_set_unique_id(self._info.serial)
        self._abort_if_configured()
        if self._info.tokens_required:
            return await self.async_step_auth()
        return await self.async_step_confirm()

    def _abort_if_configured(self) -> None:
        """Abort for a configured gateway, storing the host it answered at."""
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, str(self.unique_id)
        )
        moved = entry is not None and entry.data.get(CONF_HOST) != self._host
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: self._host},
            error="already_configured_moved" if moved else "already_configured",
        )

    async def _async_found_gateway(self, user_input: dict[str, Any]) -> bool:
        """Read /info at the host entered; on failure, keep the error for the form."""
        try:
            host = normalize_host(user_input[CONF_HOST])
        except ValueError:
            self._errors = {CONF_HOST: "invalid_host"}
            return False
        info, error = await self._async_read_info(host)
        if info is None:
            self._errors = {CONF_HOST: error}
            return False
        self._host, self._info, self._errors = host, info, {}
        return True

    def _show_host_form(
        self, step_id: str, user_input: dict[str, Any] | None, host: str | None = None
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema({vol.Required(CONF_HOST): _TEXT}),
                user_input or ({CONF_HOST: host} if host else {}),
            ),
            errors=self._errors,
            description_placeholders=self._placeholders,
        )

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A gateway without token authentication: confirm what was found."""
        if user_input is not None:
            return self._async_finish({})
        return self.async_show_form(step_id="confirm", description_placeholders=self._found())

    # ------------------------------------------------------------------ zeroconf

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A gateway announced itself on the network."""
        addresses = _ipv4_addresses(discovery_info)
        if not addresses:
            return self.async_abort(reason="not_ipv4_address")
        announced = {_with_port(str(ip), discovery_info.port) for ip in addresses}
        host = _with_port(str(addresses[0]), discovery_info.port)
        serial = discovery_info.properties.get(ZEROCONF_SERIAL)
        if serial:
            await self.async_set_unique_id(serial)
            await self._async_abort_if_known(host, announced)
        info, error = await self._async_read_info(host)
        if info is None:
            return self.async_abort(reason=error)
        await self.async_set_unique_id(info.serial)
        await self._async_abort_if_known(host, announced)
        self._host, self._info = host, info
        self.context["title_placeholders"] = {"serial": info.serial}
        return await self.async_step_zeroconf_confirm()

    async def _async_abort_if_known(self, host: str, announced: set[str]) -> None:
        """Abort for a configured gateway, moving it to ``host`` only when it really moved.

        A gateway seen on two interfaces must not make the stored host flap: the stored
        host is kept when it is a name (such as envoy.local), one of the announced
        addresses, or still reaches this gateway.
        """
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, str(self.unique_id)
        )
        if entry is None:
            return
        stored = str(entry.data.get(CONF_HOST, ""))
        if (
            stored != host
            and stored not in announced
            and is_ip_address(_host_only(stored))
            and not await self._async_stored_host_works(entry)
        ):
            self._abort_if_unique_id_configured(updates={CONF_HOST: host})
        self._abort_if_unique_id_configured()

    async def _async_stored_host_works(self, entry: IQGatewayConfigEntry) -> bool:
        """Whether the gateway still answers at the stored host.

        A loaded entry knows from its last poll; otherwise /info is read once.
        """
        if entry.state is ConfigEntryState.LOADED:
            return entry.runtime_data.last_update_success
        info, _ = await self._async_read_info(str(entry.data[CONF_HOST]))
        return info is not None and info.serial == entry.unique_id

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered gateway, then sign in where it needs a token."""
        assert self._info is not None
        if user_input is not None:
            if self._info.tokens_required:
                return await self.async_step_auth()
            return self._async_finish({})
        self._set_confirm_only()
        return self.async_show_form(
            step_id="zeroconf_confirm", description_placeholders=self._found()
        )

    # ------------------------------------------------------------------ authentication

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
                vol.Required(CONF_USERNAME): _EMAIL,
                vol.Required(CONF_PASSWORD): _PASSWORD,
                vol.Required(CONF_SERIAL): _TEXT,
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

    async def async_step_code(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Enphase sent a one-time code: enter it, or have a new one sent."""
        return await self._async_code_step("code", user_input)

    async def async_step_code_resent(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The same, after a new code was sent."""
        return await self._async_code_step("code_resent", user_input)

    async def _async_code_step(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
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
        return await self._async_signed_in()

    def _show_code_form(
        self, step_id: str, errors: dict[str, str] | None = None, *, new_code: bool = False
    ) -> ConfigFlowResult:
        """Ask for the one-time code; ``new_code`` ticks "send me a new code" (expired)."""
        assert self._sign_in is not None
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(CODE_SCHEMA, {CONF_NEW_CODE: new_code}),
            errors=errors or {},
            description_placeholders={**self._found(), **self._sign_in.placeholders()},
        )

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
        schema = vol.Schema({vol.Required(CONF_TOKEN): _TOKEN, vol.Required(CONF_SERIAL): _TEXT})
        suggested = dict(user_input or {})
        suggested.setdefault(CONF_SERIAL, self._serial())
        return self.async_show_form(
            step_id="token",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    # ------------------------------------------------------------------ reauth

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The token stopped working (or the account was refused): sign in again."""
        self._host = entry_data[CONF_HOST]
        # The flow's title names the gateway; "name" (the entry's title, as Home Assistant
        # sets it) is what the frontend shows should it not have our texts at hand.
        self.context["title_placeholders"] = {
            "name": self._get_reauth_entry().title,
            "serial": str(entry_data.get(CONF_SERIAL, "")),
        }
        try:
            token = parse_token(entry_data.get(CONF_TOKEN, ""))
        except InvalidTokenError:
            return await self.async_step_reauth_confirm()
        if token.is_expired(dt_util.utcnow()):
            self._placeholders = {"expires": local_time(token.expires_at)}
            return await self.async_step_reauth_expired()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The gateway refuses the token, or the cloud the account: sign in again."""
        return self._reauth_menu("reauth_confirm")

    async def async_step_reauth_expired(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The token has expired: sign in again, saying when it expired."""
        return self._reauth_menu("reauth_expired")

    def _reauth_menu(self, step_id: str) -> ConfigFlowResult:
        return self.async_show_menu(
            step_id=step_id,
            menu_options=AUTH_MENU,
            description_placeholders={
                "title": self._get_reauth_entry().title,
                **self._placeholders,
            },
        )

    # ------------------------------------------------------------------ reconfigure

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the host (the gateway must stay the same), then how to sign in."""
        entry = self._get_reconfigure_entry()
        self.context["title_placeholders"] = {"name": entry.title, "serial": str(entry.unique_id)}
        self._placeholders = {}
        if user_input is not None and await self._async_found_gateway(user_input):
            assert self._info is not None
            if self._info.serial == entry.unique_id:
                if not self._info.tokens_required:
                    return self._async_finish({})
                return await self.async_step_reconfigure_auth()
            # Another gateway answers there: say which, and let the user correct it.
            self._errors = {CONF_HOST: "wrong_gateway"}
            self._placeholders = {"found": self._info.serial}
        self._placeholders["serial"] = str(entry.unique_id)
        return self._show_host_form("reconfigure", user_input, entry.data[CONF_HOST])

    async def async_step_reconfigure_auth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Keep the current sign-in, or sign in another way."""
        token = self._get_reconfigure_entry().data.get(CONF_TOKEN)
        return self.async_show_menu(
            step_id="reconfigure_auth",
            # Nothing to keep when the gateway had no token before (an update from
            # firmware without token authentication).
            menu_options=RECONFIGURE_AUTH_MENU if token else AUTH_MENU,
            description_placeholders=self._found(),
        )

    async def async_step_keep_auth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Keep the stored token or credentials, once they are proven at the new host."""
        token = str(self._get_reconfigure_entry().data[CONF_TOKEN])
        if await async_prove_token(self.hass, self._host, token, self._serial()):
            return self.async_abort(reason="current_auth_failed")
        return self._async_finish({})

    # ------------------------------------------------------------------ helpers

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

    async def _async_read_info(self, host: str) -> tuple[GatewayInfo | None, str]:
        """Read /info at ``host``: the info, or None and an error key."""
        session = connections.gateway_session(self.hass, auto_cleanup=False)
        client = IQGateway(host, session, request_timeout=FLOW_REQUEST_TIMEOUT, retry=False)
        try:
            return await client.detect(), ""
        except IQGatewayUnsupportedError:
            return None, "not_a_gateway"
        except IQGatewayTimeoutError:
            return None, "timeout"
        except IQGatewayError:
            return None, "cannot_connect"
        except Exception:  # noqa: BLE001 - a flow must answer, whatever happens
            LOGGER.exception("Unexpected error while reading the gateway's /info")
            return None, "unknown"
        finally:
            session.detach()


async def async_check_pasted_token(
    hass: HomeAssistant, host: str, text: str, serial: str, known_serial: str | None = None
) -> tuple[TokenInfo | None, dict[str, str], dict[str, str]]:
    """Check a pasted token for gateway ``serial`` at ``host``, and prove it there.

    Returns the token (None if it is no token), the errors by field (``token`` or
    ``base``) and the placeholders they need. ``known_serial``: the gateway's serial as
    read from it, for the proof's requests (``serial`` is what the user typed).
    """
    try:
        token = parse_token(text)
    except InvalidTokenError:
        return None, {CONF_TOKEN: "invalid_token"}, {}
    if token.is_expired(dt_util.utcnow()):
        return token, {CONF_TOKEN: "token_expired"}, {"expired": local_time(token.expires_at)}
    if not token.matches_serial(serial):
        return token, {CONF_TOKEN: "token_wrong_gateway"}, {"token_serial": str(token.serial)}
    if error := await async_prove_token(hass, host, token.token, known_serial):
        return token, {CONF_TOKEN if error == "token_rejected" else "base": error}, {}
    return token, {}, {}


async def async_prove_token(
    hass: HomeAssistant, host: str, token: str, serial: str | None = None
) -> str | None:
    """Have the gateway at ``host`` accept ``token``: None, or an error key.

    A user waits on it: each request has the form's short timeout and no retry.
    ``serial``, where known, makes the requests wait for that gateway's polls.
    """
    session = connections.gateway_session(hass, auto_cleanup=False)
    client = IQGateway(
        host,
        session,
        token=token,
        serial=serial or None,
        request_timeout=FLOW_REQUEST_TIMEOUT,
        slow_request_timeout=FLOW_REQUEST_TIMEOUT,
        retry=False,
    )
    try:
        await client.detect()
        await client.check_jwt()
        # A real endpoint too, for firmware without sessions: a refusal counts, a
        # failing endpoint does not.
        with suppress(IQGatewayResponseError):
            await client.get(PRODUCTION)
    except IQGatewayAuthenticationError:
        return "token_rejected"
    except IQGatewayTimeoutError:
        return "timeout"
    except IQGatewayError:
        return "cannot_connect"
    except Exception:  # noqa: BLE001 - a flow must answer, whatever happens
        LOGGER.exception("Unexpected error while checking the token with the gateway")
        return "unknown"
    finally:
        session.detach()
    return None


def _ipv4_addresses(discovery_info: ZeroconfServiceInfo) -> list[ipaddress.IPv4Address]:
    """The announced IPv4 addresses a gateway can be reached at, the preferred one first.

    Home Assistant's preferred address (``ip_address``) may be an IPv6 one even when
    IPv4 addresses are announced too; link-local and unspecified addresses are useless.
    """
    found: list[ipaddress.IPv4Address] = []
    for address in (discovery_info.ip_address, *discovery_info.ip_addresses):
        if (
            isinstance(address, ipaddress.IPv4Address)
            and not address.is_link_local
            and not address.is_unspecified
            and address not in found
        ):
            found.append(address)
    return found


def _with_port(address: str, port: int | None) -> str:
    """``address``, with the announced port unless it is one the client tries by itself.

    Gateways announce port 80 (and serve HTTPS on 443): the client finds the scheme from
    a bare address. Another port means the service really listens there.
    """
    return address if port in (None, 80, 443) else f"{address}:{port}"


def _host_only(host: str) -> str:
    """``host`` without a ``:port`` (``[v6]:port`` too)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0] if host.count(":") == 1 else host


class IQGatewayOptionsFlow(_OptionsFlow):
    """How often to poll, the fast power lane, and whether to show every microinverter."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form."""
        errors: dict[str, str] = {}
        if user_input is not None:
            interval = int(user_input[CONF_SCAN_INTERVAL])
            power_interval = int(user_input.get(CONF_POWER_INTERVAL) or 0)
            if not MIN_SCAN_INTERVAL <= interval <= MAX_SCAN_INTERVAL:
                errors[CONF_SCAN_INTERVAL] = "interval_out_of_range"
            if power_interval and not MIN_POWER_INTERVAL <= power_interval <= MAX_POWER_INTERVAL:
                errors[CONF_POWER_INTERVAL] = "power_interval_out_of_range"
            if not errors:
                return self.async_create_entry(
                    data={
                        CONF_SCAN_INTERVAL: interval,
                        CONF_POWER_INTERVAL: power_interval,
                        CONF_INVERTER_ENTITIES: bool(user_input[CONF_INVERTER_ENTITIES]),
                    }
                )
        # The ranges are checked here, so that the errors are our translated ones.
        seconds = selector.NumberSelector(
            selector.NumberSelectorConfig(
                step=1, unit_of_measurement="s", mode=selector.NumberSelectorMode.BOX
            )
        )
        schema = vol.Schema(
            {
                vol.Required(CONF_SCAN_INTERVAL, default=DEFAULT_SCAN_INTERVAL): seconds,
                vol.Required(CONF_POWER_INTERVAL, default=0): seconds,
                vol.Required(CONF_INVERTER_ENTITIES, default=True): selector.BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or self.config_entry.options
            ),
            errors=errors,
            description_placeholders={
                "min": str(MIN_SCAN_INTERVAL),
                "max": str(MAX_SCAN_INTERVAL),
                "power_min": str(MIN_POWER_INTERVAL),
                "power_max": str(MAX_POWER_INTERVAL),
            },
        )
