"""How sensors behave over time: counter dips, new inverters, vanishing CTs, removal."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_IGNORE, ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import CONF_INVERTER_ENTITIES, DOMAIN
from custom_components.enphase_iq_gateway.entity import ct_device_id
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import setup_capture

LIFETIME = "sensor.iq_gateway_lifetime_production"


def _device(
    registry: dr.DeviceRegistry, entry: MockConfigEntry, identifier: str
) -> dr.DeviceEntry | None:
    """A device by identifier, with whichever lookup this Home Assistant has."""
    if hasattr(registry, "async_get_device_by_identifier"):
        return registry.async_get_device_by_identifier((DOMAIN, identifier), entry.entry_id)
    return registry.async_get_device(identifiers={(DOMAIN, identifier)})


def _readings(capture: str = RICH_CAPTURE) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / capture / "ivp_meters_readings").read_text())


async def _poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()


# --------------------------------------------------------------------------- through HA


async def test_lifetime_dip_is_held_back(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """The production CT's counter dips and stays low: the sensor never shows the dip.

    Held for two polls, stitched at the third (the same body again: counted although
    nothing changed); the gateway's own reading is the ``gateway_value`` attribute.
    """
    entry, sim = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    original = float(hass.states.get(LIFETIME).state)
    assert "gateway_value" not in hass.states.get(LIFETIME).attributes
    readings = _readings()
    dipped = json.loads(json.dumps(readings))
    dipped[0]["actEnergyDlvd"] = readings[0]["actEnergyDlvd"] - 50_000
    sim.capture.set("/ivp/meters/readings", json.dumps(dipped))
    for _ in range(3):
        await _poll(hass, entry)
        state = hass.states.get(LIFETIME)
        assert float(state.state) == original
        assert state.attributes["gateway_value"] == pytest.approx(original - 50)  # kWh
    # A zero reading is unavailable, not a number.
    zero = json.loads(json.dumps(readings))
    zero[0]["actEnergyDlvd"] = 0
    sim.capture.set("/ivp/meters/readings", json.dumps(zero))
    await _poll(hass, entry)
    assert hass.states.get(LIFETIME).state == STATE_UNAVAILABLE


async def test_new_inverter_is_added_without_reload(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """An inverter that starts reporting gets its device and sensors at the next poll."""
    entry, sim = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    coordinator = entry.runtime_data
    inverters = json.loads((FIXTURES / RICH_CAPTURE / "api_v1_production_inverters").read_text())
    new = {**inverters[0], "serialNumber": "999999999999", "lastReportWatts": 123}
    sim.capture.set("/api/v1/production/inverters", json.dumps([*inverters, new]))
    assert hass.states.get("sensor.microinverter_999999_power") is None
    await _poll(hass, entry)
    assert float(hass.states.get("sensor.microinverter_999999_power").state) == 123
    device = _device(dr.async_get(hass), entry, "999999999999")
    assert device is not None
    assert entry.runtime_data is coordinator  # never reloaded


async def test_vanished_ct_goes_unavailable(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A CT that is disabled later makes its sensors unavailable, never wrong."""
    entry, sim = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    meters = json.loads((FIXTURES / RICH_CAPTURE / "ivp_meters").read_text())
    assert hass.states.get("sensor.storage_ct_voltage").state != STATE_UNAVAILABLE
    for meter in meters:
        if meter["measurementType"] == "storage":
            meter["state"] = "disabled"
    sim.capture.set("/ivp/meters", json.dumps(meters))
    await _poll(hass, entry)
    assert hass.states.get("sensor.storage_ct_voltage").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.storage_ct_voltage_l1").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.battery_system_charged_energy").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.production_ct_voltage").state != STATE_UNAVAILABLE


async def test_gone_devices_can_be_removed(
    hass: HomeAssistant, start_gateway: GatewayFactory, hass_ws_client: Any
) -> None:
    """A device no longer reported can be deleted; the gateway and live ones cannot."""
    assert await async_setup_component(hass, "config", {})
    entry, sim = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    registry = dr.async_get(hass)
    inverters = json.loads((FIXTURES / RICH_CAPTURE / "api_v1_production_inverters").read_text())
    gone = inverters[0]["serialNumber"]
    sim.capture.set("/api/v1/production/inverters", json.dumps(inverters[1:]))
    await _poll(hass, entry)

    client = await hass_ws_client(hass)

    async def remove(identifier: str) -> bool:
        device = _device(registry, entry, identifier)
        assert device is not None
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": entry.entry_id,
                "device_id": device.id,
            }
        )
        return bool((await client.receive_json())["success"])

    assert await remove(gone)
    assert not await remove(inverters[1]["serialNumber"])
    assert not await remove(entry.unique_id)
    assert not await remove(ct_device_id(entry.unique_id, "production"))


async def test_inverter_entities_option(hass: HomeAssistant, start_gateway: GatewayFactory) -> None:
    """With microinverter sensors turned off, no inverter device or sensor is made."""
    await setup_capture(hass, start_gateway, RICH_CAPTURE, inverter_entities=False)
    assert not [e for e in hass.states.async_entity_ids("sensor") if "microinverter" in e]
    entities = er.async_get(hass).entities.values()
    listed = json.loads((FIXTURES / RICH_CAPTURE / "api_v1_production_inverters").read_text())
    inverters = {inverter["serialNumber"] for inverter in listed}
    assert not [e for e in entities if e.unique_id.split("_")[0] in inverters]


async def test_last_poll_advances_even_when_data_is_unchanged(
    hass: HomeAssistant, start_gateway: GatewayFactory, freezer: FrozenDateTimeFactory
) -> None:
    """Nothing changed at the gateway, yet the last-successful-poll sensor moves on."""
    entry, _ = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    first = hass.states.get("sensor.iq_gateway_last_successful_poll").state
    freezer.tick(timedelta(minutes=5))
    await _poll(hass, entry)
    assert hass.states.get("sensor.iq_gateway_last_successful_poll").state != first


async def test_a_poll_writes_only_what_changed(
    hass: HomeAssistant, start_gateway: GatewayFactory, freezer: FrozenDateTimeFactory
) -> None:
    """Each entity writes at most once per poll, and only when what it shows changed."""
    entry, sim = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    writes: list[str] = []

    @callback
    def count(event: Event) -> None:
        writes.append(event.data["entity_id"])

    @callback
    def every(_: Any) -> bool:
        return True

    hass.bus.async_listen(EVENT_STATE_CHANGED, count)
    hass.bus.async_listen(EVENT_STATE_REPORTED, count, event_filter=every)
    freezer.tick(timedelta(minutes=5))
    await _poll(hass, entry)
    # Nothing changed at the gateway: only the last-poll time moves.
    assert writes == ["sensor.iq_gateway_last_successful_poll"]

    writes.clear()
    readings = _readings()
    readings[0]["activePower"] += 100
    sim.capture.set("/ivp/meters/readings", json.dumps(readings))
    await _poll(hass, entry)
    assert len(writes) == len(set(writes))  # at most one write per entity
    assert "sensor.iq_gateway_production_power" in writes
    assert "sensor.production_ct_voltage" not in writes  # unchanged


@pytest.mark.usefixtures("no_usage_reports")
async def test_inverter_devices_follow_the_option(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Turned off, the microinverter devices go; turned on again, they come back.

    Through the device registry's current API: Home Assistant reports no deprecated call
    (2026.x reports ``remove_config_entry_id``, which stops working in 2027.8).
    """
    entry, _ = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    registry = dr.async_get(hass)

    def inverters() -> list[dr.DeviceEntry]:
        return [
            device
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if device.model == "Microinverter"
        ]

    count = len(inverters())
    assert count > 0
    hass.config_entries.async_update_entry(entry, options={CONF_INVERTER_ENTITIES: False})
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert inverters() == []
    assert not [e for e in hass.states.async_entity_ids("sensor") if "microinverter" in e]
    assert not [
        e
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if "microinverter" in e.entity_id
    ]

    hass.config_entries.async_update_entry(entry, options={CONF_INVERTER_ENTITIES: True})
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert len(inverters()) == count


async def test_power_sensors_enabled_by_default(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """The site's power sensors, and each CT's total beside its phases, start enabled.

    A CT device that shows L1 and L2 shows their total too. The consumption reports and
    the live data say the same again: they start disabled.
    """
    entry, _ = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    registry = er.async_get(hass)
    enabled_power = sorted(
        e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.disabled_by is None
        and e.domain == "sensor"
        and e.original_device_class == "power"
        and "microinverter" not in e.entity_id
    )
    assert enabled_power == [
        "sensor.battery_system_power",
        "sensor.iq_gateway_consumption_power_solar_grid",
        "sensor.iq_gateway_grid_power",
        "sensor.iq_gateway_house_load_power",  # a battery site: the house, batteries apart
        "sensor.iq_gateway_production_power",
        *(
            f"sensor.{ct}_ct_active_power{phase}"
            for ct in ("net_consumption", "production", "storage")
            for phase in ("", "_l1", "_l2")
        ),
    ]
    for ct in ("production", "net_consumption", "storage"):
        for energy in ("energy_delivered", "energy_received"):
            for phase in ("", "_l1", "_l2"):
                entity = registry.async_get(f"sensor.{ct}_ct_{energy}{phase}")
                assert entity is not None
                assert entity.disabled_by is None, entity.entity_id
    reserve = hass.states.get("sensor.battery_system_backup_reserve_in_force")
    assert reserve is not None
    assert "device_class" not in reserve.attributes  # a setting, not the battery's level
    soc = hass.states.get("sensor.battery_system_state_of_charge")
    assert soc is not None
    assert soc.attributes["device_class"] == "battery"
    # Beside the reserve in force, the owner's setting says which is which.
    configured = hass.states.get("sensor.battery_system_backup_reserve_as_configured")
    assert configured is not None
    assert configured.attributes["friendly_name"] == "Battery system Backup reserve as configured"


async def test_an_ignored_gateway_gives_no_suffix(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Ignored or disabled entries poll nothing: the one gateway keeps its plain names."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="999999990000", source=SOURCE_IGNORE, data={}
    ).add_to_hass(hass)
    MockConfigEntry(
        domain=DOMAIN,
        unique_id="999999990001",
        data={},
        disabled_by=ConfigEntryDisabler.USER,
    ).add_to_hass(hass)
    entry, _ = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.iq_gateway_production_power") is not None


async def test_two_gateways_are_told_apart(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Every device of both gateways carries its gateway's last digits, at once.

    The first gateway's devices are renamed when the second is added (not at its next
    reload), and back when the second is disabled or removed; its entity ids stay, and a
    name the user gave stays. Devices named after a serial of their own show its end and
    need no suffix; the batteries taken together are a "Battery system", which no serial
    can be taken for.
    """
    first, _ = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    coordinator = first.runtime_data
    registry = dr.async_get(hass)

    def names(entry: MockConfigEntry) -> dict[str, str | None]:
        return {
            next(i for d, i in device.identifiers if d == DOMAIN): device.name
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        }

    def friendly(entity_id: str) -> str:
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        return str(state.attributes["friendly_name"])

    serial = first.unique_id
    alone = names(first)
    assert alone[serial] == "IQ Gateway"
    assert alone[f"{serial}_battery"] == "Battery system"
    production_ct = _device(registry, first, ct_device_id(serial, "production"))
    assert production_ct is not None
    registry.async_update_device(production_ct.id, name_by_user="Roof CT")

    second, gateway = await setup_capture(hass, start_gateway, "8.3.5169_ACB_inventory")
    suffix, first_suffix = gateway.serial[-4:], serial[-4:]
    # The second gateway's devices, named with its suffix from the start.
    devices = dr.async_entries_for_config_entry(registry, second.entry_id)
    own = {d.name for d in devices if d.serial_number in (None, gateway.serial)}
    assert own
    assert all(name and name.endswith(f" {suffix}") for name in own), own
    assert f"Battery system {suffix}" in own
    assert {d.name for d in devices if d.serial_number not in (None, gateway.serial)} == {
        f"{d.model} …{d.serial_number[-6:]}"
        for d in devices
        if d.serial_number not in (None, gateway.serial)
    }
    assert hass.states.get(f"sensor.iq_gateway_{suffix}_production_power") is not None
    assert hass.states.get(f"sensor.battery_system_{suffix}_power") is not None
    gateway_device = registry.async_get(second.runtime_data.gateway_device_id)
    assert gateway_device is not None
    assert gateway_device.configuration_url == f"https://{gateway.address}/"

    # The first gateway's devices are renamed at once; its entity ids stay.
    renamed = names(first)
    assert renamed[serial] == f"IQ Gateway {first_suffix}"
    assert renamed[f"{serial}_battery"] == f"Battery system {first_suffix}"
    assert renamed[ct_device_id(serial, "net-consumption")] == (
        f"Net consumption CT {first_suffix}"
    )
    assert {k: v for k, v in renamed.items() if v == alone[k]} == {
        k: v for k, v in alone.items() if v is not None and "…" in v
    }  # only those named after a serial of their own keep their names
    assert friendly("sensor.iq_gateway_production_power") == (
        f"IQ Gateway {first_suffix} Production power"
    )
    production_ct = registry.async_get(production_ct.id)
    assert production_ct is not None
    assert production_ct.name == f"Production CT {first_suffix}"
    assert production_ct.name_by_user == "Roof CT"  # the user's name stays
    assert first.runtime_data.last_update_success

    # The second disabled: one gateway again; enabled: two; removed: one.
    await hass.config_entries.async_set_disabled_by(second.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert names(first) == alone
    assert friendly("sensor.iq_gateway_production_power") == "IQ Gateway Production power"
    await hass.config_entries.async_set_disabled_by(second.entry_id, None)
    await hass.async_block_till_done()
    assert names(first) == renamed
    await hass.config_entries.async_remove(second.entry_id)
    await hass.async_block_till_done()
    assert names(first) == alone
    assert first.runtime_data is coordinator  # never reloaded for any of this
    assert first.state is ConfigEntryState.LOADED
