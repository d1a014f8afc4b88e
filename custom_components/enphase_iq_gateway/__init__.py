"""The Enphase IQ Gateway integration: lifecycle only.

Build the client, token manager and coordinator; run the first refresh; register the
gateway device; forward the platforms. Everything else lives in its own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir

from . import connections
from .const import CONF_SERIAL, DOMAIN
from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator, IQGatewayRuntimeData
from .entity import battery_device_id, ct_device_id, gateway_device_info
from .iqgateway import IQGateway, site_values as site
from .token_manager import TokenManager, expiry_issue_id

PLATFORMS: list[Platform] = [Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> bool:
    """Set up one IQ Gateway from a config entry."""
    client = IQGateway(
        entry.data[CONF_HOST],
        connections.gateway_session(hass),
        token=entry.data.get(CONF_TOKEN),
    )
    tokens = TokenManager(hass, entry, client, connections.cloud_client(hass))
    coordinator = IQGatewayCoordinator(hass, entry, client, tokens)
    await coordinator.async_config_entry_first_refresh()

    assert coordinator.info is not None
    gateway_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **gateway_device_info(coordinator.info)
    )
    entry.runtime_data = IQGatewayRuntimeData(client, coordinator, tokens, gateway_device.id)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    options = dict(entry.options)
    connection = _connection(entry.data)

    async def _async_entry_updated(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
        # Reload for new options or a new way to connect (reauthentication,
        # reconfiguration, a host found by discovery), but not for a token the token
        # manager renewed: the client already uses that one.
        if (
            dict(entry.options) != options
            or _connection(entry.data) != connection
            or entry.data.get(CONF_TOKEN) != client.token
        ):
            hass.config_entries.async_schedule_reload(entry.entry_id)

    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    return True


def _connection(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the entry connects with, the token aside."""
    return tuple(data.get(key) for key in (CONF_HOST, CONF_SERIAL, CONF_USERNAME, CONF_PASSWORD))


async def async_unload_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> bool:
    """Unload an entry; its gateway session is detached with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
    """Forget the entry's repair issue with it."""
    ir.async_delete_issue(hass, DOMAIN, expiry_issue_id(entry.entry_id))


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IQGatewayConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device the gateway no longer reports.

    That is a replaced inverter or a CT that was disabled; the gateway and what it still
    reports stay.
    """
    serial = str(entry.unique_id)
    data = entry.runtime_data.coordinator.data
    reported = {(DOMAIN, serial)}
    reported |= {(DOMAIN, ct_device_id(serial, kind)) for kind in data.ct_meters}
    reported |= {(DOMAIN, inverter) for inverter in data.inverters or {}}
    if site.has_batteries(data):
        reported.add((DOMAIN, battery_device_id(serial)))
    return not device.identifiers & reported
