"""Sensor values checked against the raw bodies, computed here from the JSON itself.

These do not depend on snapshots: for each capture the expected numbers are read straight
from the capture's files (meters joined to readings by eid, phases by phase count).
"""

from __future__ import annotations

import json
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import async_get_platforms
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import CONF_SERIAL, DOMAIN
from tests.conftest import CAPTURES, FIXTURES, GatewayFactory

from .conftest import setup_capture

# Values are checked on every sensor, including those disabled by default.
pytestmark = pytest.mark.usefixtures("all_entities_enabled")


def _body(capture: str, name: str) -> Any:
    return json.loads((FIXTURES / capture / name).read_text())


def _meters(capture: str) -> dict[str, dict[str, Any]]:
    """Enabled meters' readings by measurement type, joined by eid."""
    readings = {r["eid"]: r for r in _body(capture, "ivp_meters_readings")}
    return {
        m["measurementType"]: {**readings[m["eid"]], "phaseCount": m["phaseCount"]}
        for m in _body(capture, "ivp_meters")
        if m["state"] == "enabled" and m["eid"] in readings
    }


def _iq_battery_watts(capture: str) -> float:
    """The IQ Batteries' power in /ivp/ensemble/power (its list is named "devices:")."""
    devices = _body(capture, "ivp_ensemble_power")["devices:"]
    return sum(d["real_power_mw"] for d in devices) / 1000


def _state(hass: HomeAssistant, entity_id: str) -> float | None:
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} missing"
    if state.state in ("unavailable", "unknown"):
        return None
    return float(state.state)


def _kwh(wh: float) -> float:
    return pytest.approx(wh / 1000, abs=1e-6)


METERED = [
    "8.2.127_with_3cts_and_battery_split",
    "7.6.175_with_cts_3phase",
    "4.10.35",
    "8.3.5169_ACB_inventory",
    "8.2.4382_ACB",
    "8.2.4345_with_device_data",
]


@pytest.mark.parametrize("capture", METERED)
async def test_metered_site_values(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """Production, consumption and grid sensors equal what the CT readings say."""
    await setup_capture(hass, start_gateway, capture)
    meters = _meters(capture)
    production = meters["production"]
    net = meters["net-consumption"]

    assert _state(hass, "sensor.iq_gateway_production_power") == pytest.approx(
        production["activePower"]
    )
    assert _state(hass, "sensor.iq_gateway_lifetime_production") == _kwh(
        production["actEnergyDlvd"]
    )
    assert _state(hass, "sensor.iq_gateway_grid_power") == pytest.approx(net["activePower"])
    assert _state(hass, "sensor.iq_gateway_consumption_power_solar_grid") == pytest.approx(
        production["activePower"] + net["activePower"]
    )
    assert _state(hass, "sensor.iq_gateway_grid_import_energy") == _kwh(net["actEnergyDlvd"])
    assert _state(hass, "sensor.iq_gateway_grid_export_energy") == _kwh(net["actEnergyRcvd"])
    assert _state(hass, "sensor.iq_gateway_lifetime_consumption_solar_grid") == _kwh(
        production["actEnergyDlvd"] + net["actEnergyDlvd"] - net["actEnergyRcvd"]
    )
    # The CT devices show each meter's own readings.
    assert _state(hass, "sensor.production_ct_voltage") == pytest.approx(production["voltage"])
    assert _state(hass, "sensor.net_consumption_ct_current") == pytest.approx(net["current"])


@pytest.mark.parametrize("capture", METERED)
async def test_per_phase_values(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """A phase sensor per phase the meter measures (phaseCount), none beyond."""
    await setup_capture(hass, start_gateway, capture)
    for kind, reading in _meters(capture).items():
        prefix = "sensor." + kind.replace("-", "_") + "_ct"
        phases = reading["phaseCount"] if reading["phaseCount"] > 1 else 0
        for index, channel in enumerate(reading["channels"][:phases]):
            phase = f"l{index + 1}"
            watts = channel["activePower"]
            # Below half a watt shows as 0 W (shown in whole watts): not as "-0 W".
            assert _state(hass, f"{prefix}_active_power_{phase}") == pytest.approx(
                watts if abs(watts) >= 0.5 else 0
            )
            assert _state(hass, f"{prefix}_voltage_{phase}") == pytest.approx(channel["voltage"])
            # (a phase that never delivered reads 0, and shows 0)
            assert _state(hass, f"{prefix}_energy_delivered_{phase}") == _kwh(
                channel["actEnergyDlvd"]
            )
        for index in range(phases, 3):
            assert hass.states.get(f"{prefix}_active_power_l{index + 1}") is None


async def test_battery_values(hass: HomeAssistant, start_gateway: GatewayFactory) -> None:
    """Storage CT for power and energy; the storage controller for charge and capacity."""
    capture = "8.2.127_with_3cts_and_battery_split"
    entry, _ = await setup_capture(hass, start_gateway, capture)
    # The live sensors exist now: from this poll on, live data is kept live.
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    storage = _meters(capture)["storage"]
    control = _body(capture, "ivp_ensemble_secctrl")
    live = _body(capture, "ivp_livedata_status")["meters"]
    assert _state(hass, "sensor.battery_system_power") == pytest.approx(storage["activePower"])
    assert _state(hass, "sensor.battery_system_discharged_energy") == _kwh(storage["actEnergyDlvd"])
    assert _state(hass, "sensor.battery_system_charged_energy") == _kwh(storage["actEnergyRcvd"])
    assert _state(hass, "sensor.battery_system_state_of_charge") == control["agg_soc"]
    assert (
        _state(hass, "sensor.battery_system_backup_reserve_in_force")
        == control["adjusted_backup_soc"]
    )
    assert _state(hass, "sensor.battery_system_available_energy") == _kwh(
        control["ENC_agg_avail_energy"] + control["ACB_agg_energy"]
    )
    assert _state(hass, "sensor.battery_system_capacity") == _kwh(control["Max_energy"])
    # Live flows arrive in milliwatts.
    assert _state(hass, "sensor.live_data_solar_power") == live["pv"]["agg_p_mw"] / 1000
    assert _state(hass, "sensor.live_data_battery_power") == live["storage"]["agg_p_mw"] / 1000


async def test_battery_values_from_live_data(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Without the storage controller, live data gives the IQ Batteries' charge."""
    capture = "8.2.127_with_3cts_and_battery_split"
    await setup_capture(hass, start_gateway, capture, without=("/ivp/ensemble/secctrl",))
    live = _body(capture, "ivp_livedata_status")["meters"]
    assert _state(hass, "sensor.battery_system_state_of_charge") == live["soc"]
    assert _state(hass, "sensor.battery_system_backup_reserve_in_force") == live["backup_soc"]
    assert _state(hass, "sensor.battery_system_available_energy") == _kwh(
        live["enc_agg_energy"] + live["acb_agg_energy"]
    )
    assert hass.states.get("sensor.battery_system_capacity") is None


@pytest.mark.parametrize("capture", ["7.3.517", "8.1.41"])
async def test_iq_batteries_without_storage_ct(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """IQ Batteries without live data or a storage CT: the storage controller alone."""
    await setup_capture(hass, start_gateway, capture)
    control = _body(capture, "ivp_ensemble_secctrl")
    assert control["Max_energy"] > 0
    assert _state(hass, "sensor.battery_system_state_of_charge") == control["agg_soc"]
    assert _state(hass, "sensor.battery_system_available_energy") == _kwh(
        control["ENC_agg_avail_energy"] + control["ACB_agg_energy"]
    )
    assert (
        _state(hass, "sensor.battery_system_backup_reserve_in_force")
        == control["adjusted_backup_soc"]
    )
    # Power: each IQ Battery's (milliwatts), summed.
    assert _state(hass, "sensor.battery_system_power") == pytest.approx(_iq_battery_watts(capture))
    # Nothing counts its energy here: no such entity is invented.
    for entity_id in (
        "sensor.battery_system_charged_energy",
        "sensor.battery_system_discharged_energy",
    ):
        assert hass.states.get(entity_id) is None


async def test_no_battery_where_none_is_commissioned(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A storage controller that counts no capacity (an Enpower alone) makes no battery."""
    capture = "8.2.4345_with_device_data"
    control = _body(capture, "ivp_ensemble_secctrl")
    assert control["Max_energy"] == 0
    assert control["configured_backup_soc"] > 0
    await setup_capture(hass, start_gateway, capture)
    assert not [s for s in hass.states.async_entity_ids("sensor") if "battery" in s]


async def test_ac_battery_values(hass: HomeAssistant, start_gateway: GatewayFactory) -> None:
    """IQ Batteries and AC Batteries are counted together; AC Battery power from production.json."""
    capture = "8.2.4382_ACB"
    await setup_capture(hass, start_gateway, capture)
    control = _body(capture, "ivp_ensemble_secctrl")
    acb = _body(capture, "production.json")["storage"][0]
    assert control["ENC_agg_avail_energy"] > 0
    assert control["ACB_agg_energy"] > 0
    assert _state(hass, "sensor.battery_system_state_of_charge") == control["agg_soc"]
    assert _state(hass, "sensor.battery_system_available_energy") == _kwh(
        control["ENC_agg_avail_energy"] + control["ACB_agg_energy"]
    )
    # The IQ Battery's power (/ivp/ensemble/power) plus the AC Batteries' (production.json).
    assert _iq_battery_watts(capture) != 0
    assert _state(hass, "sensor.battery_system_power") == pytest.approx(
        _iq_battery_watts(capture) + acb["wNow"]
    )


async def test_ac_battery_values_without_storage_controller(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Without the storage controller, AC Batteries are only in /production.json."""
    capture = "8.2.4382_ACB"
    await setup_capture(
        hass, start_gateway, capture, without=("/ivp/ensemble/secctrl", "/ivp/ensemble/power")
    )
    acb = _body(capture, "production.json")["storage"][0]
    assert _state(hass, "sensor.battery_system_state_of_charge") == acb["percentFull"]
    assert _state(hass, "sensor.battery_system_available_energy") == _kwh(acb["whNow"])
    assert _state(hass, "sensor.battery_system_power") == acb["wNow"]


async def test_consumption_reports(hass: HomeAssistant, start_gateway: GatewayFactory) -> None:
    """Reports are matched by reportType, lines by position within the report."""
    capture = "8.2.127_with_3cts_and_battery_split"
    await setup_capture(hass, start_gateway, capture)
    reports = {r["reportType"]: r for r in _body(capture, "ivp_meters_reports_consumption")}
    for report_type, report in reports.items():
        prefix = "sensor.consumption_reports_" + report_type.split("-")[0]
        assert _state(hass, f"{prefix}_power") == report["cumulative"]["actPower"]
        assert _state(hass, f"{prefix}_energy_delivered") == _kwh(report["cumulative"]["whDlvdCum"])


@pytest.mark.parametrize("capture", ["3.9.36", "7.6.114_without_cts", "7.6.175_standard", "5.0.62"])
async def test_inverter_only_sites(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """Without a production CT, production is what /api/v1/production counts; no consumption."""
    await setup_capture(hass, start_gateway, capture)
    production = _body(capture, "api_v1_production")
    assert _state(hass, "sensor.iq_gateway_production_power") == production["wattsNow"]
    assert _state(hass, "sensor.iq_gateway_production_today") == _kwh(production["wattHoursToday"])
    assert _state(hass, "sensor.iq_gateway_production_last_7_days") == _kwh(
        production["wattHoursSevenDays"]
    )
    assert _state(hass, "sensor.iq_gateway_lifetime_production") == _kwh(
        production["wattHoursLifetime"]
    )
    assert hass.states.get("sensor.iq_gateway_consumption_power_solar_grid") is None
    assert hass.states.get("sensor.iq_gateway_grid_import_energy") is None
    inverters = _body(capture, "api_v1_production_inverters")
    first = inverters[0]
    assert (
        _state(hass, f"sensor.microinverter_{first['serialNumber'][-6:]}_power")
        == first["lastReportWatts"]
    )


async def test_legacy_html_production(hass: HomeAssistant, start_gateway: GatewayFactory) -> None:
    """Firmware 3.7 publishes production only on an HTML page, rounded by the gateway."""
    await setup_capture(hass, start_gateway, "3.7.0")
    assert _state(hass, "sensor.iq_gateway_production_power") == 6630
    assert _state(hass, "sensor.iq_gateway_production_today") == pytest.approx(53.6)
    assert _state(hass, "sensor.iq_gateway_lifetime_production") == pytest.approx(133000)


async def test_disabled_cts_make_no_entities(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Both CTs are disabled: no CT device, no consumption, production from the inverters."""
    capture = "7.3.466_metered_disabled_cts"
    await setup_capture(hass, start_gateway, capture)
    assert not [s for s in hass.states.async_entity_ids("sensor") if "_ct_" in s]
    assert hass.states.get("sensor.iq_gateway_consumption_power_solar_grid") is None
    inverters = next(
        p for p in _body(capture, "production.json")["production"] if p["type"] == "inverters"
    )
    assert _state(hass, "sensor.iq_gateway_production_power") == inverters["wNow"]
    assert _state(hass, "sensor.iq_gateway_lifetime_production") == _kwh(inverters["whLifetime"])


async def test_production_json_only_site(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Firmware without meter readings: CT data comes from /production.json's eim entries."""
    capture = "7.3.517"
    await setup_capture(hass, start_gateway, capture)
    body = _body(capture, "production.json")
    eim = {
        e["measurementType"]: e
        for e in body["production"] + body["consumption"]
        if e["type"] == "eim"
    }
    assert _state(hass, "sensor.iq_gateway_production_power") == pytest.approx(
        eim["production"]["wNow"]
    )
    assert _state(hass, "sensor.iq_gateway_lifetime_production") == _kwh(
        eim["production"]["whLifetime"]
    )
    assert _state(hass, "sensor.iq_gateway_consumption_power_solar_grid") == pytest.approx(
        eim["total-consumption"]["wNow"]
    )
    assert _state(hass, "sensor.iq_gateway_grid_power") == pytest.approx(
        eim["net-consumption"]["wNow"]
    )
    assert _state(hass, "sensor.iq_gateway_lifetime_consumption_solar_grid") == _kwh(
        eim["total-consumption"]["whLifetime"]
    )
    # /production.json's net lifetime counts imports only: no grid import/export from it.
    assert hass.states.get("sensor.iq_gateway_grid_import_energy") is None


async def test_total_copied_from_net_is_corrected(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Firmware 8.3.5433 reports total consumption as a copy of net: total = production + net."""
    capture = "7.3.517"
    gateway = await start_gateway(capture)
    body = _body(capture, "production.json")
    net = next(e for e in body["consumption"] if e.get("measurementType") == "net-consumption")
    for entry in body["consumption"]:
        if entry.get("measurementType") == "total-consumption":
            entry.update({k: net[k] for k in ("wNow", "whLifetime")})
    gateway.capture.set("/production.json", json.dumps(body))
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        data={
            CONF_HOST: gateway.address,
            CONF_SERIAL: gateway.serial,
            CONF_TOKEN: gateway.issue_token(),
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    production = next(e for e in body["production"] if e.get("measurementType") == "production")
    assert _state(hass, "sensor.iq_gateway_consumption_power_solar_grid") == pytest.approx(
        production["wNow"] + net["wNow"]
    )
    # The copied lifetime total cannot be trusted, and no other source has one.
    assert hass.states.get("sensor.iq_gateway_lifetime_consumption_solar_grid") is None


async def test_total_report_copied_from_net_is_corrected(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """The consumption reports' total repeating the net is replaced by production + net."""
    capture = "8.2.127_with_3cts_and_battery_split"
    gateway = await start_gateway(capture)
    reports = _body(capture, "ivp_meters_reports_consumption")
    net = next(r for r in reports if r["reportType"] == "net-consumption")
    total = next(r for r in reports if r["reportType"] == "total-consumption")
    total["cumulative"] = dict(net["cumulative"])
    gateway.capture.set("/ivp/meters/reports/consumption", json.dumps(reports))
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        data={
            CONF_HOST: gateway.address,
            CONF_SERIAL: gateway.serial,
            CONF_TOKEN: gateway.issue_token(),
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    meters = _meters(capture)
    expected = meters["production"]["activePower"] + meters["net-consumption"]["activePower"]
    assert _state(hass, "sensor.consumption_reports_total_power") == pytest.approx(expected)
    assert _state(hass, "sensor.consumption_reports_total_energy_delivered") == _kwh(
        meters["production"]["actEnergyDlvd"]
        + meters["net-consumption"]["actEnergyDlvd"]
        - meters["net-consumption"]["actEnergyRcvd"]
    )
    assert hass.states.get("sensor.consumption_reports_total_voltage") is None or (
        hass.states.get("sensor.consumption_reports_total_voltage").state == "unavailable"
    )


@pytest.mark.parametrize("capture", ["8.2.127_with_3cts_and_battery_split", "4.2.33"])
async def test_ct_status_flags(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """Each enabled CT: how many status flags it raises, and which (none on old firmware)."""
    await setup_capture(hass, start_gateway, capture)
    for meter in _body(capture, "ivp_meters"):
        if meter["state"] != "enabled":
            continue
        flags = meter.get("statusFlags", [])
        state = hass.states.get(
            "sensor." + meter["measurementType"].replace("-", "_") + "_ct_status_flags"
        )
        assert state is not None
        assert state.state == str(len(flags))
        assert state.attributes["flags"] == flags


def _by_unique_id(hass: HomeAssistant, unique_id: str) -> str | None:
    """The state of the sensor with this unique id (None: no such sensor)."""
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)
    if entity_id is None:
        return None
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _factor(value: float | None) -> float | str:
    """What a power factor shows: the value within -1 to 1, else unavailable."""
    if value is None or not -1 <= value <= 1:
        return "unavailable"
    return pytest.approx(value)


READINGS_SITES = [c for c in CAPTURES if (FIXTURES / c / "ivp_meters_readings").is_file()]


@pytest.mark.parametrize("capture", READINGS_SITES)
async def test_power_factors_are_possible(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """A CT's power factor is within -1 and 1, or unavailable: never the gateway's 1.94.

    The totals' is the active over the apparent power (the gateway adds or averages its
    phases' factors); each phase's is the gateway's own.
    """
    entry, _ = await setup_capture(hass, start_gateway, capture)
    for kind, meter in _meters(capture).items():
        prefix = f"{entry.unique_id}_{kind}_power_factor"
        total = _by_unique_id(hass, prefix)
        active, apparent = meter["activePower"], meter["apparentPower"]
        expected = active / abs(apparent) if apparent else None
        assert (float(total) if total != "unavailable" else total) == _factor(expected), (
            kind,
            meter["pwrFactor"],
        )
        phases = meter["phaseCount"] if meter["phaseCount"] > 1 else 0
        for index, channel in enumerate(meter["channels"][:phases]):
            shown = _by_unique_id(hass, f"{prefix}_l{index + 1}")
            assert shown is not None
            assert (float(shown) if shown != "unavailable" else shown) == _factor(
                channel["pwrFactor"]
            )


async def test_split_phase_power_factor_is_not_the_sum_of_its_phases(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """The Meter Collar site's net CT: the gateway says 1.94 (0.979 + 0.96)."""
    capture = "8.3.1598_collar"
    net = _meters(capture)["net-consumption"]
    assert net["pwrFactor"] > 1
    await setup_capture(hass, start_gateway, capture)
    shown = float(hass.states.get("sensor.net_consumption_ct_power_factor").state)
    assert shown == pytest.approx(net["activePower"] / net["apparentPower"])
    assert 0 < shown <= 1


async def test_no_negative_zero(hass: HomeAssistant, start_gateway: GatewayFactory) -> None:
    """A reading that shows as zero is zero: no "-0 W" from -0.0 or noise below a watt."""
    capture = "8.3.1598_collar"
    readings = _body(capture, "ivp_meters_readings")
    production = next(
        m["eid"] for m in _body(capture, "ivp_meters") if m["measurementType"] == "production"
    )
    [meter] = [r for r in readings if r["eid"] == production]
    assert str(meter["channels"][1]["activePower"]) == "-0.0"
    meter["channels"][0]["activePower"] = -0.03  # noise below the watt shown
    await setup_capture(hass, start_gateway, capture, bodies={"/ivp/meters/readings": readings})
    assert hass.states.get("sensor.production_ct_active_power_l1").state == "0.0"
    assert hass.states.get("sensor.production_ct_active_power_l2").state == "0.0"
    # A reading that shows as a number keeps its sign.
    assert float(hass.states.get("sensor.storage_ct_active_power_l1").state) < 0


# --------------------------------------------------------------------------- house load

HOUSE_LOAD = "sensor.iq_gateway_house_load_power"
CONSUMPTION = "sensor.iq_gateway_consumption_power_solar_grid"


def _optional(capture: str, name: str) -> Any:
    """A JSON body of the capture, None where it has none (or answered with an error)."""
    path, log = FIXTURES / capture / name, FIXTURES / capture / f"{name}_log.json"
    if not path.is_file():
        return None
    if log.is_file() and json.loads(log.read_text()).get("code", 200) != 200:
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # an empty or HTML body


def _consumption_watts(capture: str) -> float | None:
    """Production + grid, from the CT readings (else /production.json's total CT)."""
    if _optional(capture, "ivp_meters_readings") is not None:
        meters = _meters(capture)
        if "net-consumption" not in meters:
            return None
        return float(meters["production"]["activePower"] + meters["net-consumption"]["activePower"])
    body = _optional(capture, "production.json")
    totals = [
        e
        for e in (body or {}).get("consumption", [])
        if e.get("measurementType") == "total-consumption" and e.get("activeCount")
    ]
    return float(totals[0]["wNow"]) if totals else None


def _battery_watts(capture: str) -> float | None:
    """The batteries' power (+ discharging): the storage CT, else each kind's own report."""
    if _optional(capture, "ivp_meters_readings") is not None and "storage" in _meters(capture):
        return float(_meters(capture)["storage"]["activePower"])
    parts: list[float] = []
    power = _optional(capture, "ivp_ensemble_power")
    if power and power.get("devices:"):
        parts.append(_iq_battery_watts(capture))
    acb = (_optional(capture, "production.json") or {}).get("storage", [])
    parts += [float(s["wNow"]) for s in acb if s.get("activeCount")]
    control = _optional(capture, "ivp_ensemble_secctrl")
    if not parts or not (control and control.get("Max_energy")):
        return None
    return sum(parts)


def test_house_load_sites() -> None:
    """The captures that measure consumption and have batteries: every kind of battery site."""
    assert [
        capture
        for capture in CAPTURES
        if _consumption_watts(capture) is not None and _battery_watts(capture) is not None
    ] == [
        "7.3.517",  # IQ Batteries, consumption from /production.json
        "8.1.41",  # the same, firmware 8
        "8.2.127_with_3cts_and_battery_split",  # storage CT (that does not add up)
        "8.2.4382_ACB",  # an IQ Battery and AC Batteries
        "8.3.1598_collar",  # Meter Collar, storage CT
        "8.3.5169_ACB_inventory",  # AC Batteries alone
    ]


@pytest.mark.parametrize("capture", CAPTURES)
async def test_house_load(hass: HomeAssistant, start_gateway: GatewayFactory, capture: str) -> None:
    """Battery sites: the house's own load is production + grid + battery, every site kind.

    Storage CT (the Meter Collar site: 0 W + 3,761 W grid - 1,298 W charging = 2,463 W,
    where the consumption says 3,761 W), IQ and AC Batteries without one, consumption from
    /production.json. Elsewhere the consumption is the house's: no house load. Meters that
    add up to less than nothing (the rich capture's storage CT) make it unavailable.
    """
    await setup_capture(hass, start_gateway, capture)
    consumption, battery = _consumption_watts(capture), _battery_watts(capture)
    if consumption is None or battery is None:
        assert hass.states.get(HOUSE_LOAD) is None
        return
    assert _state(hass, CONSUMPTION) == pytest.approx(consumption)
    expected = consumption + battery
    state = hass.states.get(HOUSE_LOAD)
    assert state is not None
    assert state.attributes["friendly_name"] == "IQ Gateway House load power"
    assert _state(hass, HOUSE_LOAD) == (pytest.approx(expected) if expected >= 0 else None)


async def test_house_load_as_the_issue_measured(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """The rich site with its batteries charging at 616 W (as the demo site measured).

    Production 1,714 W + grid 129 W - 616 W = 1,227 W used; the consumption (solar +
    grid) says 1,844 W. Both follow the power lane's readings.
    """
    capture = "8.2.127_with_3cts_and_battery_split"
    readings = _body(capture, "ivp_meters_readings")
    storage = next(
        m["eid"] for m in _body(capture, "ivp_meters") if m["measurementType"] == "storage"
    )
    for reading in readings:
        if reading["eid"] == storage:
            reading["activePower"] = -616.0
    await setup_capture(hass, start_gateway, capture, bodies={"/ivp/meters/readings": readings})
    meters = _meters(capture)
    solar_and_grid = meters["production"]["activePower"] + meters["net-consumption"]["activePower"]
    assert _state(hass, CONSUMPTION) == pytest.approx(solar_and_grid)
    assert _state(hass, HOUSE_LOAD) == pytest.approx(solar_and_grid - 616)
    assert hass.states.get(CONSUMPTION).attributes["friendly_name"] == (
        "IQ Gateway Consumption power (solar + grid)"
    )


@pytest.mark.parametrize("capture", CAPTURES)
async def test_a_counter_that_never_counted_shows_zero(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """A lifetime counter the gateway reads as 0 from the start is 0, not unavailable.

    Export on a site that never exported, a phase or channel that never ran: "zero is
    unavailable" is for a counter that had a value and lost it.
    """
    entry, _ = await setup_capture(hass, start_gateway, capture)
    counters = [
        entity
        for platform in async_get_platforms(hass, DOMAIN)
        for entity in platform.entities.values()
        if isinstance(entity, SensorEntity)
        and entity.state_class is SensorStateClass.TOTAL_INCREASING
    ]
    zero = [
        entity.entity_id
        for entity in counters
        if (source := entity._source(entry.runtime_data.data)) is not None
        and entity.entity_description.value_fn(source) == 0
    ]
    print(f"\n{capture}: {len(zero)} of {len(counters)} lifetime counters read 0")  # noqa: T201
    for entity_id in zero:
        assert _state(hass, entity_id) == 0, entity_id
