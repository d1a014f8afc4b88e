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
import ipaddress
from typing import Any

from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import callback
from homeassistant.helpers import selector
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
from yarl import URL

from . import connections
from .const import (
    CONF_INVERTER_ENTITIES,
    CONF_POWER_INTERVAL,
    CONF_SCAN_INTERVAL,
    CONF_SERIAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    FLOW_REQUEST_TIMEOUT,
    LOGGER,
    MAX_POWER_INTERVAL,
    MAX_SCAN_INTERVAL,
    MIN_POWER_INTERVAL,
    MIN_SCAN_INTERVAL,
)
from .coordinator import IQGatewayConfigEntry
from .flow_sign_in import AUTH_MENU, GatewaySignInFlow
from .helpers import (
    TEXT_FIELD,
    async_prove_token,
    local_time,
    vol,
)
from .iqgateway import (
    GatewayInfo,
    InvalidTokenError,
    IQGateway,
    IQGatewayError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
    parse_token,
)
from .iqgateway.client import gateway_url, is_ip_address

try:  # Home Assistant 2025.8+ reloads an entry for new options by itself
    from homeassistant.config_entries import OptionsFlowWithReload as _OptionsFlow
except ImportError:  # pragma: no cover - Home Assistant 2025.4 (its own leg covers it)
    _OptionsFlow = OptionsFlow  # type: ignore[assignment,misc]


ZEROCONF_SERIAL = "serialnum"

RECONFIGURE_AUTH_MENU = ["keep_auth", "credentials", "token"]


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


class IQGatewayConfigFlow(GatewaySignInFlow, domain=DOMAIN):
    """Set up an Enphase IQ Gateway."""

    VERSION = 1
    MINOR_VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: IQGatewayConfigEntry) -> OptionsFlow:
        """The options flow."""
        return IQGatewayOptionsFlow()

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
                vol.Schema({vol.Required(CONF_HOST): TEXT_FIELD}),
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
