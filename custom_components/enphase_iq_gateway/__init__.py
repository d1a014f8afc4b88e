"""The Enphase IQ Gateway integration: lifecycle only.

Build the coordinator (which holds the client and token manager and registers the gateway
device), run the first refresh, forward the platforms. Everything else lives in its own
module.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir

from .const import CONF_INVERTER_ENTITIES, DOMAIN
from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator
from .counters import stitch_issue_id
from .entity import INVERTER_MODEL, async_name_devices, reported_devices
from .helpers import RELOADS_FOR_OPTIONS
from .token_manager import AUTH_MEMORY, issue_ids

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> bool:
    """Set up one IQ Gateway from a config entry."""
    coordinator = IQGatewayCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    if coordinator.power is not None:
        entry.async_on_unload(coordinator.power.async_follow_main())
    if not entry.options.get(CONF_INVERTER_ENTITIES, True):
        # The option is off: the microinverters' devices (and their entities) go. They
        # are this entry's alone, so removing them (the one call both releases keep)
        # is what detaching them from the entry did.
        registry = dr.async_get(hass)
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
            if device.model == INVERTER_MODEL:
                registry.async_remove_device(device.id)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # One more gateway (or one back): the others' devices get their new names now.
    async_name_devices(hass)
    if not RELOADS_FOR_OPTIONS:
        # Home Assistant 2025.4 to 2025.7: new options need a reload of our own. Flows
        # that change how to connect reload the entry themselves, and a token the token
        # manager renewed is already in use.
        options = dict(entry.options)

        async def _async_entry_updated(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
            if dict(entry.options) != options:
                hass.config_entries.async_schedule_reload(entry.entry_id)

        entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> bool:
    """Unload an entry; its gateway session is detached with it.

    An entry unloaded because it was disabled no longer counts as another gateway: the
    others' devices are renamed (nothing changes when it is only reloaded).
    """
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    async_name_devices(hass)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
    """Forget the entry's repair issues, and what it remembered of sign-ins, with it.

    The other gateways' devices are renamed for one gateway less.
    """
    async_name_devices(hass, leaving=entry.entry_id)
    for issue_id in (*issue_ids(entry.entry_id), stitch_issue_id(entry.entry_id)):
        ir.async_delete_issue(hass, DOMAIN, issue_id)
    hass.data.get(AUTH_MEMORY, {}).pop(entry.entry_id, None)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IQGatewayConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device the gateway no longer reports.

    That is a replaced inverter or a CT that was disabled; the gateway and what it still
    reports stay.
    """
    if entry.state is not ConfigEntryState.LOADED:
        # Nothing is known of what the gateway reports: any device but the gateway may go
        # (one still reported comes back at the next setup).
        return (DOMAIN, str(entry.unique_id)) not in device.identifiers
    return not device.identifiers & reported_devices(entry.runtime_data)
