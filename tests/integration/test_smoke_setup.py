from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from simulator import GatewaySimulator

from .conftest import token_entry


async def test_setup_and_unload(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.iq_gateway_token_expires")
    assert state is not None, hass.states.async_entity_ids()
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
