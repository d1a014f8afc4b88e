"""The whole system's values checked against the raw bodies, on every capture that has them.

Batteries, the System Controller, the Meter Collar, the Combiner, AC Batteries, dry
contacts, battery settings, the grid status and the microinverters' device data: each
expected value is read here straight from the capture's JSON (joined by serial, units
converted here), and the entity is found by its unique id.
"""

from __future__ import annotations

from datetime import UTC, datetime
import json
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.enphase_iq_gateway.const import DOMAIN
from tests.conftest import CAPTURES, FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import setup_capture

pytestmark = pytest.mark.usefixtures("all_entities_enabled")


def _body(capture: str, name: str) -> Any:
    path = FIXTURES / capture / name
    if not path.is_file():
        return None
    log = FIXTURES / capture / f"{name}_log.json"
    if log.is_file() and json.loads(log.read_text()).get("code", 200) != 200:
        return None
    return json.loads(path.read_text())


def _groups(capture: str) -> dict[str, list[dict[str, Any]]]:
    """The Ensemble inventory's devices by group type."""
    inventory = _body(capture, "ivp_ensemble_inventory")
    if not isinstance(inventory, list):
        return {}
    return {group["type"]: group["devices"] for group in inventory}


def _with(group: str) -> list[str]:
    """The captures whose Ensemble inventory lists devices of ``group``."""
    return [capture for capture in CAPTURES if _groups(capture).get(group)]


IQ_BATTERY_SITES = _with("ENCHARGE")
SYSTEM_CONTROLLER_SITES = _with("ENPOWER")
COLLAR_SITES = _with("COLLAR")
COMBINER_SITES = _with("C6 COMBINER CONTROLLER")
AC_BATTERY_SITES = [c for c in CAPTURES if (FIXTURES / c / "inventory.json_deleted_1").is_file()]
DEVICE_DATA_SITES = [c for c in CAPTURES if _body(c, "ivp_pdm_device_data") is not None]


def test_the_sites_are_the_ones_expected() -> None:
    """The selections above find what the captures hold (none of them is empty)."""
    assert IQ_BATTERY_SITES == [
        "7.3.517",
        "8.1.41",
        "8.2.127_with_3cts_and_battery_split",
        "8.2.4382_ACB",
        "8.3.1598_collar",
    ]
    assert SYSTEM_CONTROLLER_SITES == [
        "7.3.517",
        "8.1.41",
        "8.2.127_with_3cts_and_battery_split",
        "8.2.4345_with_device_data",
    ]
    assert COLLAR_SITES == COMBINER_SITES == ["8.3.1598_collar"]
    assert AC_BATTERY_SITES == ["8.3.5169_ACB_inventory"]
    assert DEVICE_DATA_SITES == [
        "8.2.4345_with_device_data",
        "8.3.5169_ACB_inventory",
        "8.3.5289_modGone",
    ]


# What the gateway's state codes mean, as the sensors show them (translated states).
STATUSES = {
    "ENCHG_STATE_READY": "ready",
    "ENCMN_MDE_ENCHARGE_READY": "ready",
    "ENPWR_STATE_OPER_CLOSED": "relay_closed",
    "ENCMN_MDE_ON_GRID": "on_grid",
    "ENCMN_C6_CC_READY": "ready",
}
GRID_MODES = {"grid-tied": "grid_tied", "multimode-ongrid": "on_grid"}


def _state(hass: HomeAssistant, domain: str, unique_id: str) -> State:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None, f"no {domain} with unique id {unique_id}"
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def _sensor(hass: HomeAssistant, unique_id: str) -> str:
    return _state(hass, "sensor", unique_id).state


def _number(hass: HomeAssistant, unique_id: str) -> float:
    return float(_sensor(hass, unique_id))


def _on(hass: HomeAssistant, unique_id: str) -> bool:
    state = _state(hass, "binary_sensor", unique_id).state
    assert state in ("on", "off"), (unique_id, state)
    return state == "on"


def _absent(hass: HomeAssistant, domain: str, unique_id: str) -> bool:
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id) is None


def _time(epoch: int | str) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat()


def _find_device(hass: HomeAssistant, entry: ConfigEntry, serial: str) -> dr.DeviceEntry | None:
    """The entry's device of that identifier (the lookup both releases have)."""
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    return next((d for d in devices if (DOMAIN, serial) in d.identifiers), None)


def _device(hass: HomeAssistant, entry: ConfigEntry, serial: str) -> dr.DeviceEntry:
    device = _find_device(hass, entry, serial)
    assert device is not None, serial
    return device


# --------------------------------------------------------------------------- IQ Batteries


@pytest.mark.parametrize("capture", IQ_BATTERY_SITES)
async def test_iq_batteries(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """One device per IQ Battery, its values the inventory's (°C, Wh, %)."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    status = _body(capture, "ivp_ensemble_status")["inventory"]["serial_nums"]
    for battery in _groups(capture)["ENCHARGE"]:
        sn = battery["serial_num"]
        device = _device(hass, entry, sn)
        assert device.name == f"IQ Battery …{sn[-6:]}"  # what tells them apart, not cut off
        assert device.serial_number == sn
        assert device.sw_version == battery["img_pnum_running"]
        assert device.hw_version == battery["part_num"]
        assert device.via_device_id == entry.runtime_data.gateway_device_id
        assert _number(hass, f"{sn}_soc") == battery["percentFull"]
        assert _number(hass, f"{sn}_temperature") == battery["temperature"]
        assert _number(hass, f"{sn}_max_cell_temperature") == battery["maxCellTemp"]
        assert _number(hass, f"{sn}_capacity") == battery["encharge_capacity"] / 1000  # kWh
        assert _sensor(hass, f"{sn}_status") == STATUSES[battery["admin_state_str"]]
        assert _sensor(hass, f"{sn}_last_report") == _time(battery["last_rpt_date"])
        assert _on(hass, f"{sn}_communicating") is battery["communicating"]
        assert _on(hass, f"{sn}_sleep") is battery["sleep_enabled"]
        assert _on(hass, f"{sn}_dc_switch") is not battery["dc_switch_off"]
        if "reported_enc_grid_state" in battery:
            assert (
                _sensor(hass, f"{sn}_reported_grid_state")
                == GRID_MODES[battery["reported_enc_grid_state"]]
            )
        else:
            assert _absent(hass, "sensor", f"{sn}_reported_grid_state")
        if "operating" in battery:
            assert _on(hass, f"{sn}_operating") is battery["operating"]
        else:
            assert _absent(hass, "binary_sensor", f"{sn}_operating")
        # The status adds the rated power, joined by serial (one capture's status lists
        # another battery than its inventory: nothing to join there).
        if sn in status and "encharge_rated_power" in status[sn]:
            assert _number(hass, f"{sn}_rated_power") == status[sn]["encharge_rated_power"]
        else:
            assert _absent(hass, "sensor", f"{sn}_rated_power")
        if sn in status and "com_interface_str" in status[sn]:
            assert _sensor(hass, f"{sn}_interface") == status[sn]["com_interface_str"]


async def test_composite_status_joins_nothing(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A status that lists other serials than the inventory adds nothing, and breaks nothing."""
    capture = "8.2.127_with_3cts_and_battery_split"
    status = _body(capture, "ivp_ensemble_status")["inventory"]["serial_nums"]
    listed = {b["serial_num"] for b in _groups(capture)["ENCHARGE"]}
    assert not listed & set(status)
    entry, _ = await setup_capture(hass, start_gateway, capture)
    for sn in status:
        assert _absent(hass, "sensor", f"{sn}_rated_power")
        assert _find_device(hass, entry, sn) is None


# --------------------------------------------------------------------------- System Controller


@pytest.mark.parametrize("capture", SYSTEM_CONTROLLER_SITES)
async def test_system_controller(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """The System Controller: grid relay, grid mode, temperature (°F), dry contacts."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    [controller] = _groups(capture)["ENPOWER"]
    sn = controller["serial_num"]
    assert _device(hass, entry, sn).name == "IQ System Controller"
    assert _on(hass, f"{sn}_grid_relay") is (controller["mains_oper_state"] == "closed")
    assert _on(hass, f"{sn}_grid_relay_command") is (controller["mains_admin_state"] == "closed")
    assert _on(hass, f"{sn}_communicating") is controller["communicating"]
    assert _sensor(hass, f"{sn}_grid_mode") == GRID_MODES[controller["Enpwr_grid_mode"]]
    assert _sensor(hass, f"{sn}_status") == STATUSES[controller["admin_state_str"]]
    assert _sensor(hass, f"{sn}_last_report") == _time(controller["last_rpt_date"])
    temperature = _state(hass, "sensor", f"{sn}_temperature")
    # It reports °F; Home Assistant shows the user's unit (°C here).
    assert temperature.attributes["unit_of_measurement"] == "°C"
    expected = (controller["temperature"] - 32) * 5 / 9
    assert float(temperature.state) == pytest.approx(expected, abs=0.1)

    # Its dry contacts: position from the status, name and type from the settings.
    settings = {c["id"]: c for c in _body(capture, "ivp_ss_dry_contact_settings")["dry_contacts"]}
    for contact in _body(capture, "ivp_ensemble_dry_contacts")["dry_contacts"]:
        unique_id = f"{sn}_dry_contact_{contact['id'].lower()}"
        state = _state(hass, "binary_sensor", unique_id)
        assert (state.state == "on") is (contact["status"] == "closed")
        setting = settings[contact["id"]]
        name = setting["load_name"] or contact["id"]
        assert state.attributes["friendly_name"] == f"IQ System Controller Dry contact {name}"
        assert state.attributes["type"] == setting["type"]
        assert state.attributes["mode"] == setting["mode"]


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c not in SYSTEM_CONTROLLER_SITES])
async def test_no_system_controller_no_contacts(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """Without a System Controller, the gateway's four unwired contacts make nothing."""
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    ids = [
        e.unique_id for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    ]
    assert not [
        i for i in ids if "dry_contact" in i or "generator" in i or "grid_relay_command" in i
    ]
    # ... and the poll does not ask for them.
    gateway.stats.reset()
    await entry.runtime_data.async_refresh()
    assert gateway.stats.requests["/ivp/ensemble/dry_contacts"] == 0


# --------------------------------------------------------------------------- Collar, Combiner


@pytest.mark.parametrize("capture", COLLAR_SITES)
async def test_meter_collar(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """The IQ Meter Collar: its grid relay (MID), grid state, temperature (°C)."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    [collar] = _groups(capture)["COLLAR"]
    sn = collar["serial_num"]
    device = _device(hass, entry, sn)
    assert device.name == "IQ Meter Collar"
    assert device.sw_version == collar["img_pnum_running"]
    assert _on(hass, f"{sn}_grid_relay") is (collar["mid_state"] == "close")
    assert _sensor(hass, f"{sn}_collar_grid_state") == collar["grid_state"]
    assert _number(hass, f"{sn}_temperature") == collar["temperature"]
    assert _sensor(hass, f"{sn}_collar_state") == collar["collar_state"]
    assert _number(hass, f"{sn}_control_error") == collar["control_error"]
    assert _sensor(hass, f"{sn}_status") == STATUSES[collar["admin_state_str"]]
    assert _sensor(hass, f"{sn}_last_report") == _time(collar["last_rpt_date"])
    assert _on(hass, f"{sn}_communicating") is collar["communicating"]


@pytest.mark.parametrize("capture", COMBINER_SITES)
async def test_combiner(hass: HomeAssistant, start_gateway: GatewayFactory, capture: str) -> None:
    """The IQ Combiner 6C: one device, its controller's state and firmware and its meter's."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    [controller] = _groups(capture)["C6 COMBINER CONTROLLER"]
    [meter] = _groups(capture)["C6 RGM"]
    sn = controller["serial_num"]
    device = _device(hass, entry, sn)
    assert device.name == "IQ Combiner 6C"
    assert device.sw_version == controller["fw_version"]
    assert _sensor(hass, f"{sn}_status") == STATUSES[controller["admin_state_str"]]
    assert _sensor(hass, f"{sn}_last_report") == _time(controller["last_rpt_date"])
    assert _on(hass, f"{sn}_communicating") is controller["communicating"]
    assert _sensor(hass, f"{sn}_meter_firmware") == meter["FW Version"]
    assert _number(hass, f"{sn}_meter_state") == meter["Device State"]
    # The meter is part of the combiner: no device of its own.
    assert _find_device(hass, entry, meter["serial_num"]) is None


# --------------------------------------------------------------------------- AC Batteries


@pytest.mark.parametrize("capture", AC_BATTERY_SITES)
async def test_ac_batteries(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """One device per AC Battery the gateway lists (not decommissioned)."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    groups = {g["type"]: g["devices"] for g in _body(capture, "inventory.json_deleted_1")}
    assert groups["ACB"]
    for battery in groups["ACB"]:
        sn = battery["serial_num"]
        assert battery["admin_state"] != 0
        assert _device(hass, entry, sn).name == f"AC Battery …{sn[-6:]}"
        assert _number(hass, f"{sn}_soc") == battery["percentFull"]
        assert _sensor(hass, f"{sn}_charge_status") == battery["charge_status"]
        assert _number(hass, f"{sn}_max_cell_temperature") == battery["maxCellTemp"]
        assert _sensor(hass, f"{sn}_last_report") == _time(battery["last_rpt_date"])
        assert _on(hass, f"{sn}_sleep") is battery["sleep_enabled"]
        assert _on(hass, f"{sn}_communicating") is battery["communicating"]
        assert _on(hass, f"{sn}_operating") is battery["operating"]
    # The inventory's microinverters are not AC Batteries.
    for pcu in groups["PCU"]:
        assert _absent(hass, "sensor", f"{pcu['serial_num']}_charge_status")


# --------------------------------------------------------------------------- settings, grid


STORAGE_MODES = {"self-consumption": "self_consumption", "backup": "backup", "economy": "savings"}


@pytest.mark.parametrize("capture", CAPTURES)
async def test_storage_settings(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """The batteries' settings, on the Battery device, only where batteries are installed."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    serial = entry.unique_id
    tariff = _body(capture, "admin_lib_tariff")
    settings = (tariff or {}).get("tariff", {}).get("storage_settings")
    battery_device = hass.states.get("sensor.battery_system_state_of_charge") is not None
    if settings is None or not battery_device:
        assert _absent(hass, "sensor", f"{serial}_storage_mode")
        assert _absent(hass, "binary_sensor", f"{serial}_charge_from_grid")
        return
    assert _sensor(hass, f"{serial}_storage_mode") == STORAGE_MODES[settings["mode"]]
    assert _number(hass, f"{serial}_storage_reserve_soc") == settings["reserved_soc"]
    assert _number(hass, f"{serial}_very_low_soc") == settings["very_low_soc"]
    assert _on(hass, f"{serial}_charge_from_grid") is settings["charge_from_grid"]


async def test_a_setting_nobody_knows_is_unknown(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A storage mode a newer firmware may report: unknown, not an untranslated state."""
    tariff = _body(RICH_CAPTURE, "admin_lib_tariff")
    assert tariff is not None
    tariff["tariff"]["storage_settings"]["mode"] = "grid-tied-sunset"
    entry, _ = await setup_capture(
        hass, start_gateway, RICH_CAPTURE, bodies={"/admin/lib/tariff": tariff}
    )
    assert _sensor(hass, f"{entry.unique_id}_storage_mode") == STATE_UNKNOWN


def _grid_witness(capture: str) -> bool | None:
    """What the capture says of the grid, by the best witness it has (None: no witness)."""
    groups = _groups(capture)
    if groups.get("ENPOWER"):
        return bool(groups["ENPOWER"][0]["mains_oper_state"] == "closed")
    if groups.get("COLLAR"):
        collar = groups["COLLAR"][0]
        return bool(collar["mid_state"] == "close" and collar["grid_state"] == "on_grid")
    states = [
        b["reported_enc_grid_state"]
        for b in groups.get("ENCHARGE", ())
        if "reported_enc_grid_state" in b
    ]
    return all(state == "grid-tied" for state in states) if states else None


def test_grid_witnesses() -> None:
    """The sites that can tell: a System Controller, a Collar or batteries that say.

    /ivp/ensemble/status's relay is no witness: it says "closed" on sites with no relay.
    """
    can_tell = [c for c in CAPTURES if _grid_witness(c) is not None]
    assert can_tell == [
        "7.3.517",
        "8.1.41",
        "8.2.127_with_3cts_and_battery_split",
        "8.2.4345_with_device_data",
        "8.2.4382_ACB",
        "8.3.1598_collar",
    ]
    relay_says_closed = [
        c
        for c in CAPTURES
        if ((_body(c, "ivp_ensemble_status") or {}).get("relay") or {}).get("mains_oper_state")
        == "closed"
    ]
    assert set(relay_says_closed) - set(can_tell)  # sites without any relay say so too


@pytest.mark.parametrize("capture", CAPTURES)
async def test_grid_status(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """A grid status on the gateway device exactly where the site can tell."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    unique_id = f"{entry.unique_id}_grid_status"
    expected = _grid_witness(capture)
    if expected is None:
        assert _absent(hass, "binary_sensor", unique_id)
        return
    state = _state(hass, "binary_sensor", unique_id)
    assert (state.state == "on") is expected
    assert state.entity_id == "binary_sensor.iq_gateway_grid_status"


# --------------------------------------------------------------------------- device data


def _device_data(capture: str) -> dict[str, dict[str, Any]]:
    """The microinverters (``pcu``) of /ivp/pdm/device_data, by serial."""
    body = _body(capture, "ivp_pdm_device_data")
    return {
        entry["sn"]: entry
        for entry in body.values()
        if isinstance(entry, dict) and entry.get("devName") == "pcu"
    }


@pytest.mark.parametrize("capture", DEVICE_DATA_SITES)
async def test_microinverter_detail(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """Each microinverter's device data, joined by serial, in V, A, Hz, W, °C and kWh.

    An inverter the gateway marks inactive or gone is unavailable, not zero; one the
    inverters list does not name has no device to show it on.
    """
    await setup_capture(hass, start_gateway, capture)
    details = _device_data(capture)
    listed = {
        i["serialNumber"]
        for i in _body(capture, "api_v1_production_inverters")
        if i.get("devType", 1) == 1
    }
    joined = listed & set(details)
    assert joined
    reporting = 0
    for sn in joined:
        detail = details[sn]
        reading = detail["channels"][0]["lastReading"]
        lifetime = detail["channels"][0]["lifetime"]
        if not detail["active"] or detail["modGone"]:
            for key in ("dc_power", "dc_voltage", "temperature", "lifetime_energy"):
                assert _sensor(hass, f"{sn}_{key}") == STATE_UNAVAILABLE, (sn, key)
            continue
        reporting += 1
        volts = reading["dcVoltageINmV"] / 1000
        amps = reading["dcCurrentINmA"] / 1000
        assert _number(hass, f"{sn}_dc_voltage") == pytest.approx(volts)
        assert _number(hass, f"{sn}_dc_current") == pytest.approx(amps)
        assert _number(hass, f"{sn}_dc_power") == pytest.approx(volts * amps)
        assert _number(hass, f"{sn}_ac_voltage") == pytest.approx(reading["acVoltageINmV"] / 1000)
        assert _number(hass, f"{sn}_ac_current") == pytest.approx(reading["acCurrentInmA"] / 1000)
        assert _number(hass, f"{sn}_ac_frequency") == pytest.approx(
            reading["acFrequencyINmHz"] / 1000
        )
        assert _number(hass, f"{sn}_temperature") == reading["channelTemp"]
        assert _number(hass, f"{sn}_lifetime_energy") == pytest.approx(
            lifetime["joulesProduced"] / 3_600_000  # J -> kWh
        )
    for sn in set(details) - listed:
        assert _absent(hass, "sensor", f"{sn}_dc_power")
    for sn in listed - set(details):
        assert _absent(hass, "sensor", f"{sn}_dc_power")
    if capture == "8.3.5169_ACB_inventory":
        assert reporting == 0  # every microinverter is "gone" at night here
    else:
        assert reporting > 0
