"""How the system's entities behave over polls: outages, gone inverters, on-demand reads.

Values against the raw bodies are in test_system_values.py; here bodies change between
polls (as a real site's do) and the defaults of the entity registry are the real ones.
"""

from __future__ import annotations

from datetime import timedelta
import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.enphase_iq_gateway import async_remove_config_entry_device, sensor
from custom_components.enphase_iq_gateway.const import DOMAIN
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    DEVICE_DATA,
    DRY_CONTACTS,
    ENSEMBLE_INVENTORY,
    GENERATOR,
)
from simulator import GatewaySimulator
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import FROZEN_TIME, fire, setup_capture

pytestmark = pytest.mark.freeze_time(FROZEN_TIME)

POLL = timedelta(minutes=5)
GRID = "binary_sensor.iq_gateway_grid_status"


def _body(capture: str, name: str) -> Any:
    return json.loads((FIXTURES / capture / name).read_text())


def _entity_id(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def _state(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    state = hass.states.get(_entity_id(hass, domain, unique_id))
    assert state is not None, unique_id
    return state.state


async def _poll(hass: HomeAssistant, entry: ConfigEntry) -> None:
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()


def _set_inventory(gateway: GatewaySimulator, inventory: list[dict[str, Any]]) -> None:
    gateway.capture.set(ENSEMBLE_INVENTORY.path, json.dumps(inventory))


def _edit(inventory: list[dict[str, Any]], kind: str, **fields: Any) -> list[dict[str, Any]]:
    """The inventory with ``fields`` changed on every device of group ``kind``."""
    return [
        {**group, "devices": [{**d, **fields} for d in group["devices"]]}
        if group["type"] == kind
        else group
        for group in inventory
    ]


# --------------------------------------------------------------------------- the grid


@pytest.mark.parametrize(
    ("capture", "kind", "outage"),
    [
        (RICH_CAPTURE, "ENPOWER", {"mains_oper_state": "open"}),
        ("8.3.1598_collar", "COLLAR", {"admin_state_str": "ENCMN_MDE_OFF_GRID"}),
        ("8.3.1598_collar", "COLLAR", {"mid_state": "open"}),
        ("8.2.4382_ACB", "ENCHARGE", {"reported_enc_grid_state": "multimode-offgrid"}),
    ],
)
async def test_grid_outage_shows_at_the_next_poll(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str, kind: str, outage: Any
) -> None:
    """The grid goes down: the grid status says so at the very next poll, and comes back."""
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    inventory = _body(capture, "ivp_ensemble_inventory")
    assert hass.states.get(GRID).state == STATE_ON
    assert hass.states.get(GRID).attributes["friendly_name"] == "IQ Gateway Grid status"

    _set_inventory(gateway, _edit(inventory, kind, **outage))
    await _poll(hass, entry)
    assert hass.states.get(GRID).state == STATE_OFF

    _set_inventory(gateway, inventory)
    await _poll(hass, entry)
    assert hass.states.get(GRID).state == STATE_ON

    # A poll that cannot read the inventory cannot tell: unavailable, not "on".
    gateway.capture.remove(ENSEMBLE_INVENTORY.path)
    await _poll(hass, entry)
    assert hass.states.get(GRID).state == STATE_UNAVAILABLE


async def test_system_controller_relay_follows_the_inventory(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """The System Controller's own relay and the site's grid status say the same."""
    entry, gateway = await setup_capture(hass, start_gateway, RICH_CAPTURE)
    inventory = _body(RICH_CAPTURE, "ivp_ensemble_inventory")
    serial = next(g for g in inventory if g["type"] == "ENPOWER")["devices"][0]["serial_num"]
    assert _state(hass, "binary_sensor", f"{serial}_grid_relay") == STATE_ON
    _set_inventory(gateway, _edit(inventory, "ENPOWER", mains_oper_state="open"))
    await _poll(hass, entry)
    assert _state(hass, "binary_sensor", f"{serial}_grid_relay") == STATE_OFF
    assert hass.states.get(GRID).state == STATE_OFF


# --------------------------------------------------------------------------- states


async def test_device_states_are_words(
    hass: HomeAssistant, start_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Firmware codes show as translated states; a code nobody knows is unknown, logged once.

    The Meter Collar site: the collar's, the Combiner's and each IQ Battery's status and
    each battery's grid state. The Combiner's meter state, a number whose meaning is not
    documented, is a diagnostic that starts disabled.
    """
    sensor._unknown_state.cache_clear()  # logged once per process: forget earlier tests
    capture = "8.3.1598_collar"
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    inventory = _body(capture, "ivp_ensemble_inventory")
    devices = {g["type"]: g["devices"] for g in inventory}
    collar = devices["COLLAR"][0]["serial_num"]
    combiner = devices["C6 COMBINER CONTROLLER"][0]["serial_num"]
    battery = devices["ENCHARGE"][0]["serial_num"]
    assert _state(hass, "sensor", f"{collar}_status") == "on_grid"
    assert _state(hass, "sensor", f"{combiner}_status") == "ready"
    assert _state(hass, "sensor", f"{battery}_status") == "ready"
    assert _state(hass, "sensor", f"{battery}_reported_grid_state") == "grid_tied"
    state = hass.states.get(_entity_id(hass, "sensor", f"{battery}_status"))
    assert state is not None
    assert state.attributes["options"] == ["charging", "discharging", "idle", "ready"]
    meter_state = er.async_get(hass).async_get(
        _entity_id(hass, "sensor", f"{combiner}_meter_state")
    )
    assert meter_state is not None
    assert meter_state.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert meter_state.entity_category is er.EntityCategory.DIAGNOSTIC

    changed = _edit(inventory, "COLLAR", admin_state_str="ENCMN_MDE_OFF_GRID")
    changed = _edit(
        changed,
        "ENCHARGE",
        admin_state_str="ENCHG_STATE_FROM_A_NEWER_FIRMWARE",
        reported_enc_grid_state="multimode-offgrid",
    )
    _set_inventory(gateway, changed)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="custom_components.enphase_iq_gateway"):
        for _ in range(2):
            await _poll(hass, entry)
    assert _state(hass, "sensor", f"{collar}_status") == "off_grid"
    assert _state(hass, "sensor", f"{battery}_reported_grid_state") == "off_grid"
    assert _state(hass, "sensor", f"{battery}_status") == "unknown"
    told = [r for r in caplog.records if "ENCHG_STATE_FROM_A_NEWER_FIRMWARE" in r.getMessage()]
    assert len(told) == 1, told  # once, for every battery and poll


# --------------------------------------------------------------------------- batteries


async def test_battery_removed_from_the_inventory(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A battery no longer listed goes unavailable and its device can be deleted."""
    capture = "8.3.1598_collar"
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    inventory = _body(capture, "ivp_ensemble_inventory")
    batteries = next(g for g in inventory if g["type"] == "ENCHARGE")["devices"]
    gone, kept = batteries[0]["serial_num"], batteries[1]["serial_num"]
    _set_inventory(
        gateway,
        [{**g, "devices": g["devices"][1:]} if g["type"] == "ENCHARGE" else g for g in inventory],
    )
    await _poll(hass, entry)
    assert _state(hass, "sensor", f"{gone}_soc") == STATE_UNAVAILABLE
    assert _state(hass, "binary_sensor", f"{gone}_communicating") == STATE_UNAVAILABLE
    assert float(_state(hass, "sensor", f"{kept}_soc")) == batteries[1]["percentFull"]
    registry = dr.async_get(hass)
    devices = {
        serial: next(
            d
            for d in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if (DOMAIN, serial) in d.identifiers
        )
        for serial in (gone, kept)
    }
    assert await async_remove_config_entry_device(hass, entry, devices[gone])
    assert not await async_remove_config_entry_device(hass, entry, devices[kept])


async def test_unknown_inventory_type_is_ignored(
    hass: HomeAssistant, start_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A device type this integration does not know makes nothing, and no error."""
    caplog.set_level(logging.DEBUG)
    capture = "8.3.1598_collar"
    inventory = _body(capture, "ivp_ensemble_inventory")
    novel = {"type": "IQ NOVEL THING", "devices": [{"serial_num": "777777777777"}]}
    entry, _ = await setup_capture(
        hass, start_gateway, capture, bodies={ENSEMBLE_INVENTORY.path: [*inventory, novel]}
    )
    assert entry.runtime_data.last_update_success
    assert not [
        e
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.unique_id.startswith("777777777777")
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "enphase" in r.name]
    assert hass.states.get(GRID).state == STATE_ON  # the known devices are read as before


# --------------------------------------------------------------------------- microinverters


def _device_data(capture: str) -> dict[str, Any]:
    return dict(_body(capture, "ivp_pdm_device_data"))


def _pcu(body: dict[str, Any], serial: str) -> dict[str, Any]:
    return next(v for v in body.values() if isinstance(v, dict) and v.get("sn") == serial)


async def test_gone_inverter_is_unavailable_then_back(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """An inverter the gateway marks gone is unavailable (never 0), its counter guarded."""
    capture = "8.2.4345_with_device_data"
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    body = _device_data(capture)
    serial = next(v["sn"] for v in body.values() if isinstance(v, dict) and v["devName"] == "pcu")
    joules = _pcu(body, serial)["channels"][0]["lifetime"]["joulesProduced"]
    lifetime = float(_state(hass, "sensor", f"{serial}_lifetime_energy"))
    assert lifetime == pytest.approx(joules / 3_600_000)

    _pcu(body, serial)["modGone"] = True
    gateway.capture.set(DEVICE_DATA.path, json.dumps(body))
    await _poll(hass, entry)
    for key in ("dc_power", "temperature", "lifetime_energy"):
        assert _state(hass, "sensor", f"{serial}_{key}") == STATE_UNAVAILABLE

    # Back, with a lower count (a glitch): the counter holds its last value.
    _pcu(body, serial)["modGone"] = False
    _pcu(body, serial)["channels"][0]["lifetime"]["joulesProduced"] = joules - 3_600_000
    gateway.capture.set(DEVICE_DATA.path, json.dumps(body))
    await _poll(hass, entry)
    assert float(_state(hass, "sensor", f"{serial}_lifetime_energy")) == pytest.approx(lifetime)
    assert _state(hass, "sensor", f"{serial}_dc_power") != STATE_UNAVAILABLE

    # Counting on: a new counter's first rise is held until it lasts (three polls), then
    # shown whole.
    _pcu(body, serial)["channels"][0]["lifetime"]["joulesProduced"] = joules + 3_600_000
    gateway.capture.set(DEVICE_DATA.path, json.dumps(body))
    for _ in range(3):
        await _poll(hass, entry)
    assert float(_state(hass, "sensor", f"{serial}_lifetime_energy")) == pytest.approx(lifetime + 1)


async def test_microinverter_detail_defaults(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """What a user looks at is enabled; the electrical detail starts disabled."""
    capture = "8.2.4345_with_device_data"
    entry, _ = await setup_capture(hass, start_gateway, capture)
    serial = next(
        v["sn"]
        for v in _device_data(capture).values()
        if isinstance(v, dict) and v["devName"] == "pcu"
    )
    registry = er.async_get(hass)
    enabled = {
        key
        for key in (
            "dc_power",
            "temperature",
            "lifetime_energy",
            "dc_voltage",
            "dc_current",
            "ac_voltage",
            "ac_current",
            "ac_frequency",
        )
        if (e := registry.async_get(_entity_id(hass, "sensor", f"{serial}_{key}"))) is not None
        and e.disabled_by is None
    }
    assert enabled == {"dc_power", "temperature", "lifetime_energy"}
    lifetime = hass.states.get(_entity_id(hass, "sensor", f"{serial}_lifetime_energy"))
    assert lifetime is not None
    assert lifetime.attributes["state_class"] == "total_increasing"
    assert lifetime.attributes["unit_of_measurement"] == "kWh"
    assert entry.runtime_data.last_update_success


# --------------------------------------------------------------------------- on demand


async def test_device_data_is_read_only_while_shown(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """Every poll while a device-data entity is enabled; not at all once none is."""
    capture = "8.2.4345_with_device_data"
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[DEVICE_DATA.path] == 2

    registry = er.async_get(hass)
    for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
        if registered.disabled_by is None and registered.translation_key in (
            "dc_power",
            "temperature",
            "lifetime_energy",
        ):
            registry.async_update_entity(
                registered.entity_id, disabled_by=er.RegistryEntryDisabler.USER
            )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[DEVICE_DATA.path] == 0
    assert entry.runtime_data.last_update_success


async def test_device_data_not_read_without_microinverter_sensors(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """With the microinverter option off, nothing shows device data: it is not read."""
    entry, gateway = await setup_capture(
        hass, start_gateway, "8.3.5289_modGone", inverter_entities=False
    )
    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[DEVICE_DATA.path] == 0
    assert DEVICE_DATA in entry.runtime_data.client.polled()


async def test_dry_contacts_enabled_where_wired_and_read_only_then(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """A contact with a load wired to it starts enabled, an unused one (NONE) disabled.

    Their positions are read at every poll only while one of them is enabled.
    """
    for capture, read in (("8.1.41", 1), (RICH_CAPTURE, 0)):
        entry, gateway = await setup_capture(hass, start_gateway, capture)
        settings = _body(capture, "ivp_ss_dry_contact_settings")["dry_contacts"]
        [controller] = next(
            g["devices"] for g in _body(capture, "ivp_ensemble_inventory") if g["type"] == "ENPOWER"
        )
        registry = er.async_get(hass)
        for setting in settings:
            unique_id = f"{controller['serial_num']}_dry_contact_{setting['id'].lower()}"
            registered = registry.async_get(_entity_id(hass, "binary_sensor", unique_id))
            assert registered is not None
            assert (registered.disabled_by is None) is (setting["type"] != "NONE")
        assert any(s["type"] != "NONE" for s in settings) is bool(read)
        gateway.stats.reset()
        await fire(hass, freezer, POLL)
        assert gateway.stats.requests[DRY_CONTACTS.path] == read, capture
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()


async def test_generator_where_configured(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """No capture has a generator: one configured here shows its relay on the controller."""
    capture = "7.3.517"
    generator = {**_body(capture, "ivp_ensemble_generator"), "oper_state": "closed"}
    entry, gateway = await setup_capture(
        hass,
        start_gateway,
        capture,
        bodies={
            "/ivp/ss/gen_config": {"name_plate_rating_wat": 9000, "gen_type": "standby"},
            GENERATOR.path: generator,
        },
    )
    [controller] = next(
        g["devices"] for g in _body(capture, "ivp_ensemble_inventory") if g["type"] == "ENPOWER"
    )
    unique_id = f"{controller['serial_num']}_generator_relay"
    assert _state(hass, "binary_sensor", unique_id) == STATE_ON
    gateway.capture.set(GENERATOR.path, json.dumps({**generator, "oper_state": "open"}))
    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[GENERATOR.path] == 1
    assert _state(hass, "binary_sensor", unique_id) == STATE_OFF
    assert entry.runtime_data.last_update_success


async def test_no_generator_where_none_is_configured(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """Its status says "present" on sites without one: without a configuration, nothing."""
    capture = "7.3.517"
    assert _body(capture, "ivp_ensemble_generator")["present"] == 1
    assert _body(capture, "ivp_ss_gen_config") == {}
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[GENERATOR.path] == 0
    assert not [
        e
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if "generator" in e.unique_id
    ]
