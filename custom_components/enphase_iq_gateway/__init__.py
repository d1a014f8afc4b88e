"""The Enphase IQ Gateway integration: lifecycle only.

Build the client, token manager and coordinator; run the first refresh; register the
gateway device; forward the platforms. Everything else lives in its own module.
"""

from __future__ import annotations

from homeassistant.const import CONF_HOST, CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from . import connections
from .const import DOMAIN
from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator, IQGatewayRuntimeData
from .entity import battery_device_id, ct_device_id, gateway_device_info
from .iqgateway import IQGateway, site
from .token_manager import TokenManager

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

    async def _async_options_updated(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
        # The token manager also updates the entry (a renewed token): only options reload.
        if dict(entry.options) != options:
            hass.config_entries.async_schedule_reload(entry.entry_id)

    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> bool:
    """Unload an entry; its gateway session is detached with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IQGatewayConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device the gateway no longer reports (a replaced inverter,
    a CT that was disabled); the gateway and what it still reports stay."""
    serial = str(entry.unique_id)
    data = entry.runtime_data.coordinator.data
    reported = {(DOMAIN, serial)}
    reported |= {(DOMAIN, ct_device_id(serial, kind)) for kind in data.ct_meters}
    reported |= {(DOMAIN, inverter) for inverter in data.inverters or {}}
    if site.has_batteries(data):
        reported.add((DOMAIN, battery_device_id(serial)))
    return not device.identifiers & reported
