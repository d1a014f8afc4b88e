"""The models, checked against values computed here from the captures' raw JSON.

No snapshots: every expectation is read from the raw body (or written out) in the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
import json
import math
from typing import Any

import pytest

from custom_components.enphase_iq_gateway.iqgateway import (
    GatewayData,
    IQGatewayResponseError,
    IQGatewayUnsupportedError,
    ProbeResult,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    BATTERY_POWER,
    CONSUMPTION_REPORTS,
    INVERTERS,
    LIVEDATA,
    METER_READINGS,
    METERS,
    PDM_ENERGY,
    PRODUCTION,
    PRODUCTION_HTML,
    PRODUCTION_JSON,
    Endpoint,
)
from custom_components.enphase_iq_gateway.iqgateway.models import (
    ConsumptionReport,
    CTMeter,
    EnergyCounters,
    GatewayInfo,
    Inverter,
    LiveData,
    MeterConfig,
    MeterReading,
    MeterValues,
    PdmEnergy,
    ProductionJson,
    RawBody,
    inverters_from_list,
    join_meters,
    legacy_production_from_html,
    meters_from_list,
    parse_firmware,
    readings_from_list,
    reports_from_list,
)
from tests.conftest import FIXTURES, RICH_CAPTURE


def raw(capture: str, name: str) -> Any:
    """A capture file's JSON."""
    return json.loads((FIXTURES / capture / name).read_text())


def text(capture: str, name: str) -> str:
    """A capture file's text."""
    return (FIXTURES / capture / name).read_text()


def data_for(capture: str) -> GatewayData:
    """The meters and readings of a capture, parsed into one poll's data."""
    return GatewayData(
        info=GatewayInfo.from_xml(text(capture, "info")),
        bodies={
            METERS: meters_from_list(raw(capture, "ivp_meters")),
            METER_READINGS: readings_from_list(raw(capture, "ivp_meters_readings")),
        },
    )


def body(endpoint: Endpoint[Any], text: str) -> RawBody:
    """A raw body as the client receives it from ``endpoint``."""
    return RawBody(path=endpoint.path, status=200, content_type="application/json", body=text)


def parsed[T](endpoint: Endpoint[T], document: Any) -> T:
    """``document``, sent as JSON by ``endpoint``, as the endpoint's parser reads it."""
    return endpoint.parse(body(endpoint, json.dumps(document)))


# --------------------------------------------------------------------------- CT meters


def test_ct_join_by_eid_ignores_readings_of_unknown_meters() -> None:
    """8.3.5169 reports readings for an eid that /ivp/meters does not list."""
    capture = "8.3.5169_ACB_inventory"
    meters = raw(capture, "ivp_meters")
    readings = {r["eid"]: r for r in raw(capture, "ivp_meters_readings")}
    extra = set(readings) - {m["eid"] for m in meters}
    assert extra, "the capture has a reading without a meter"

    joined = data_for(capture).ct_meters

    assert set(joined) == {m["measurementType"] for m in meters if m["state"] == "enabled"}
    for meter in meters:
        ct = joined[meter["measurementType"]]
        assert ct.config.eid == meter["eid"]
        assert ct.reading is not None
        assert ct.values is not None
        assert ct.values.active_power == readings[meter["eid"]]["activePower"]
        assert ct.values.energy_delivered == readings[meter["eid"]]["actEnergyDlvd"]
        assert ct.values.voltage == readings[meter["eid"]]["voltage"]


@pytest.mark.parametrize("capture", ["4.2.33", "8.3.5289_modGone"])
def test_disabled_meter_is_left_out(capture: str) -> None:
    """4.2.33 omits the disabled CT's readings; 8.3.5289 sends them: both leave it out."""
    meters = raw(capture, "ivp_meters")
    disabled = [m for m in meters if m["state"] != "enabled"]
    enabled = [m for m in meters if m["state"] == "enabled"]
    assert disabled
    assert enabled

    data = data_for(capture)

    assert set(data.ct_meters) == {m["measurementType"] for m in enabled}
    assert data.enabled_cts == {m["measurementType"] for m in enabled}
    parsed = data.get(METERS)
    assert parsed is not None
    assert {m.eid for m in parsed if not m.enabled} == {m["eid"] for m in disabled}


def test_enabled_meter_without_readings() -> None:
    """An enabled CT the readings do not mention has no values and no phases."""
    capture = "8.2.127_with_3cts_and_battery_split"
    meters = meters_from_list(raw(capture, "ivp_meters"))
    joined = join_meters(meters, {})
    assert set(joined) == {"production", "net-consumption", "storage"}
    for ct in joined.values():
        assert ct.reading is None
        assert ct.values is None
        assert ct.phases == ()
    assert GatewayData(info=GatewayInfo("1", None, "D8", None, None)).ct_meters == {}


def test_a_disabled_meter_of_a_type_never_wins() -> None:
    """A disabled meter is passed over even with the lowest eid."""
    meters = meters_from_list(
        [
            {"eid": 4, "state": "enabled", "measurementType": "production"},
            {"eid": 2, "state": "disabled", "measurementType": "production"},
            {"eid": 3, "state": "enabled", "measurementType": "production"},
        ]
    )
    assert join_meters(meters, {})["production"].config.eid == 3


@pytest.mark.parametrize(
    ("capture", "phase_mode", "phases"),
    [
        ("7.6.175_with_cts", "three", 0),  # phaseCount 1: the totals are the phase
        (RICH_CAPTURE, "split", 2),
        ("4.10.35", "split", 2),
        ("7.6.175_with_cts_3phase", "three", 3),
    ],
)
def test_phases_follow_phase_count(capture: str, phase_mode: str, phases: int) -> None:
    """The first phaseCount channels are the phases; one phase means none."""
    meters = {m["eid"]: m for m in raw(capture, "ivp_meters")}
    readings = {r["eid"]: r for r in raw(capture, "ivp_meters_readings")}

    for kind, ct in data_for(capture).ct_meters.items():
        assert ct.measurement_type == kind
        config = meters[ct.config.eid]
        assert config["phaseMode"] == phase_mode
        channels = readings[ct.config.eid]["channels"]
        assert len(channels) == 3  # every capture's readings carry three channels
        assert ct.config.phase_count == config["phaseCount"]
        assert len(ct.phases) == phases
        for phase, channel in zip(ct.phases, channels, strict=False):
            assert phase.active_power == channel["activePower"]
            assert phase.current == channel["current"]


def test_phases_without_phase_count() -> None:
    """Without phaseCount, a split or single phase mode tells; otherwise no phases.

    Readings carry three channels whatever is wired, so counting channels would invent
    phases; a count beyond three is no count.
    """
    channels = [{"activePower": 1.0}, {"activePower": 2.0}, {"activePower": 0.0}]
    reading = MeterReading.from_dict({"eid": 1, "channels": channels})
    assert reading is not None

    def meter(**extra: object) -> MeterConfig:
        config = MeterConfig.from_dict(
            {"eid": 1, "state": "enabled", "measurementType": "load", **extra}
        )
        assert config is not None
        return config

    assert meter().phase_count is None
    assert CTMeter(meter(), reading).phases == ()
    split = CTMeter(meter(phaseMode="split"), reading)
    assert [p.active_power for p in split.phases] == [1.0, 2.0]
    assert CTMeter(meter(phaseMode="single"), reading).phases == ()
    assert meter(phaseMode="three").phase_count is None
    assert meter(phaseCount=4).phase_count is None
    assert meter(phaseCount=0, phaseMode="split").phase_count is None
    one = MeterReading.from_dict({"eid": 1, "channels": channels[:1]})
    assert one is not None
    assert CTMeter(meter(phaseCount=3), one).phases[0].active_power == 1.0


def test_duplicates_are_resolved_by_meaning_not_position() -> None:
    """Two enabled meters of one type: the lowest eid; one eid read twice: neither."""
    meters = [
        {"eid": 9, "state": "enabled", "measurementType": "production"},
        {"eid": 3, "state": "enabled", "measurementType": "production"},
    ]
    readings = [{"eid": 3, "activePower": 100.0}, {"eid": 9, "activePower": 9999.0}]
    for order in (1, -1):
        joined = join_meters(
            meters_from_list(meters[::order]), readings_from_list(readings[::order])
        )
        assert joined["production"].config.eid == 3
        assert joined["production"].values is not None
        assert joined["production"].values.active_power == 100.0
    twice = readings_from_list([{"eid": 3, "activePower": 1.0}, {"eid": 3, "activePower": -5.0}])
    assert twice == {}


# --------------------------------------------------------------------------- reports


@pytest.mark.parametrize(
    ("capture", "name"),
    [
        (RICH_CAPTURE, "ivp_meters_reports_consumption"),
        ("8.3.5169_ACB_inventory", "ivp_meters_reports"),
    ],
)
def test_consumption_reports_keyed_by_report_type(capture: str, name: str) -> None:
    """Reports are found by reportType, whatever their order in the list."""
    body = raw(capture, name)
    reports = reports_from_list(body)
    reversed_reports = reports_from_list(list(reversed(body)))

    assert set(reports) == {r["reportType"] for r in body}
    assert reports == reversed_reports
    for item in body:
        report = reports[item["reportType"]]
        cumulative = item["cumulative"]
        assert report.cumulative.active_power == cumulative.get("actPower", cumulative["currW"])
        assert report.cumulative.energy_delivered == cumulative["whDlvdCum"]
        assert report.cumulative.energy_received == cumulative["whRcvdCum"]
        assert report.cumulative.voltage == cumulative["rmsVoltage"]
        assert len(report.lines) == len(item["lines"])
        for line, values in zip(report.lines, item["lines"], strict=True):
            assert line.current == values["rmsCurrent"]
            assert line.energy_delivered == values["whDlvdCum"]


def test_reports_keep_the_first_of_a_type_and_skip_untyped() -> None:
    """A second report of a type is ignored; one without reportType is skipped."""
    reports = parsed(
        CONSUMPTION_REPORTS,
        [
            {"reportType": "net-consumption", "cumulative": {"currW": 1}},
            {"reportType": "net-consumption", "cumulative": {"currW": 2}},
            {"cumulative": {"currW": 3}},
            "not a report",
        ],
    )
    assert list(reports) == ["net-consumption"]
    assert reports["net-consumption"].cumulative.active_power == 1.0
    assert reports["net-consumption"].lines == ()


# --------------------------------------------------------------------------- live data


def test_livedata_milliwatts_to_watts() -> None:
    """Every flow's power is the body's mW / 1000, per phase too."""
    body = raw(RICH_CAPTURE, "ivp_livedata_status")
    meters = body["meters"]

    live = LiveData.from_dict(body)

    assert set(live.flows) == {"pv", "grid", "load", "storage", "generator"}
    for name, flow in live.flows.items():
        assert flow.power == meters[name]["agg_p_mw"] / 1000
        assert flow.phases == tuple(meters[name][f"agg_p_ph_{p}_mw"] / 1000 for p in "abc")
    assert live.flows["storage"].power == -2579.823  # the storage CT at the same moment
    assert live.soc == meters["soc"]
    assert live.backup_soc == meters["backup_soc"]
    assert live.is_split_phase is True
    assert live.phase_count == meters["phase_count"]
    assert live.encharge_energy == meters["enc_agg_energy"]
    assert live.last_update == datetime.fromtimestamp(meters["last_update"], tz=UTC)
    assert live.connection == body["connection"]
    assert live.counters == body["counters"]


def test_livedata_tolerates_missing_and_wrong_sections() -> None:
    """Missing sections give None and empty maps; wrong types are skipped."""
    empty = LiveData.from_dict({})
    assert empty.flows == {}
    assert empty.soc is None
    assert empty.is_split_phase is None
    assert empty.connection == {}
    assert empty.counters == {}

    odd = LiveData.from_dict(
        {
            "meters": {"pv": {"agg_p_mw": "12"}, "grid": [], "is_split_phase": 0},
            "connection": {"mqtt_state": "connected", "count": 3},
            "counters": {"a": 1, "b": True, "c": "2", "d": 1.5},
        }
    )
    assert set(odd.flows) == {"pv"}
    assert odd.flows["pv"].power is None
    assert odd.flows["pv"].phases == (None,) * 3
    assert odd.is_split_phase is False
    assert odd.connection == {"mqtt_state": "connected"}
    assert odd.counters == {"a": 1}
    assert LiveData.from_dict({"meters": [1, 2]}).flows == {}


# --------------------------------------------------------------------------- legacy HTML


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("3.7.0", EnergyCounters(6630.0, 53600.0, 405000.0, 133e6)),  # kW, kWh, MWh
        ("3.9.36", EnergyCounters(0.0, 0.0, 0.0, 14.6e6)),  # W, Wh, MWh
    ],
)
def test_legacy_production_page(capture: str, expected: EnergyCounters) -> None:
    """Firmware 3.x's HTML page, units scaled to W and Wh."""
    counters = legacy_production_from_html(text(capture, "production"))
    assert counters == expected


def test_legacy_production_page_units_and_gaps() -> None:
    """GW/GWh scale by 1e9; a row with a broken number is skipped; no table raises."""
    page = (
        "<table><tr><td>Currently</td><td> 1.5 GW</td></tr>"
        "<tr><td>Today</td><td> - kWh</td></tr>"
        "<tr><td>Since Installation</td><td>2 GWh</td></tr></table>"
    )
    assert legacy_production_from_html(page) == EnergyCounters(1.5e9, None, None, 2e9)
    with pytest.raises(IQGatewayResponseError):
        legacy_production_from_html("<html><body>Please log in</body></html>")
    # Milliwatts are not megawatts; negative, endless or overflowing numbers are no reading.
    odd = (
        "<tr><td>currently</td><td>500 mW</td></tr>"
        "<tr><td>Today</td><td>-5 kWh</td></tr>"
        f"<tr><td>Past Week</td><td>{'9' * 400} MWh</td></tr>"
        "<tr><td>Since Installation</td><td>7 kWh</td></tr>"
    )
    assert legacy_production_from_html(odd) == EnergyCounters(None, None, None, 7000.0)


# --------------------------------------------------------------------------- /info


@pytest.mark.parametrize(
    ("firmware", "version"),
    [
        ("D8.2.127", (8, 2, 127)),
        ("R3.9.36", (3, 9, 36)),
        ("8.3.5289", (8, 3, 5289)),
        ("D7.0", (7, 0, 0)),
        ("", (0, 0, 0)),
        ("unknown", (0, 0, 0)),
        ("D" + "9" * 5000 + ".1", (0, 0, 0)),  # no version; int() would refuse it
    ],
)
def test_parse_firmware(firmware: str, version: tuple[int, int, int]) -> None:
    """Firmware strings become comparable tuples."""
    assert parse_firmware(firmware) == version


def info_xml(software: str, web_tokens: str | None = None, sn: str = "1234") -> str:
    """An /info document."""
    tokens = "" if web_tokens is None else f"<web-tokens>{web_tokens}</web-tokens>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><envoy_info>'
        f"<device><sn>{sn}</sn><pn>800-1</pn><software>{software}</software>"
        f"<imeter>true</imeter></device>{tokens}</envoy_info>"
    )


@pytest.mark.parametrize(
    ("software", "web_tokens", "required"),
    [
        ("D7.3.130", None, True),  # firmware 7 without the flag: tokens
        ("D5.0.62", None, False),
        ("D8.2.127", "false", False),  # the flag wins over the version
        ("D5.0.62", "true", True),
        ("", None, False),
    ],
)
def test_tokens_required(software: str, web_tokens: str | None, required: bool) -> None:
    """web-tokens when present, else firmware 7 or newer."""
    info = GatewayInfo.from_xml(info_xml(software, web_tokens))
    assert info.tokens_required is required
    assert info.serial == "1234"
    assert info.part_number == "800-1"
    assert info.metered is True


@pytest.mark.parametrize("capture", ["3.7.0", "5.0.62", "7.3.130", RICH_CAPTURE])
def test_info_of_captures(capture: str) -> None:
    """The serial and firmware are the XML's."""
    xml = text(capture, "info")
    info = GatewayInfo.from_xml(xml)
    assert info.serial in xml
    assert f"<software>{info.firmware}" in xml.replace("<software> ", "<software>")
    assert info.firmware_version == parse_firmware(info.firmware)


@pytest.mark.parametrize(
    "document",
    [
        "",
        "{}",
        "<html><body>hello</body></html>",
        "<envoy_info><device><sn>  </sn></device></envoy_info>",
        "<envoy_info></envoy_info>",
        "<envoy_info><device><sn>1",
    ],
)
def test_info_that_is_not_a_gateway(document: str) -> None:
    """Anything that is not an envoy_info with a serial is refused."""
    with pytest.raises(IQGatewayUnsupportedError):
        GatewayInfo.from_xml(document)


# --------------------------------------------------------------------------- tolerance


def test_energy_counters_tolerate_missing_and_wrong_values() -> None:
    """Strings, bools, NaN and missing keys are None; wattNow is read too."""
    assert EnergyCounters.from_dict({}) == EnergyCounters(None, None, None, None)
    counters = EnergyCounters.from_dict(
        {
            "wattNow": 5,
            "wattHoursToday": "12",
            "wattHoursSevenDays": True,
            "wattHoursLifetime": math.inf,
        }
    )
    assert counters == EnergyCounters(5.0, None, None, None)
    assert counters.counts_nothing
    assert not EnergyCounters(0.0, 0.0, 0.0, 1.0).counts_nothing


def test_production_counters_from_capture() -> None:
    """/api/v1/production's counters are the body's."""
    body = raw(RICH_CAPTURE, "api_v1_production")
    counters = EnergyCounters.from_dict(body)
    assert counters.watts_now == body["wattsNow"]
    assert counters.wh_today == body["wattHoursToday"]
    assert counters.wh_last_seven_days == body["wattHoursSevenDays"]
    assert counters.wh_lifetime == body["wattHoursLifetime"]


def test_pdm_energy_from_capture_and_tolerance() -> None:
    """Sources by name; pcu is the microinverters, pou in older documents."""
    body = raw("8.3.5169_ACB_inventory", "ivp_pdm_energy")
    pdm = PdmEnergy.from_dict(body)
    assert set(pdm.production) == set(body["production"])
    assert pdm.microinverters is not None
    assert pdm.microinverters.wh_lifetime == body["production"]["pcu"]["wattHoursLifetime"]
    assert pdm.production["eim"].watts_now == body["production"]["eim"]["wattsNow"]

    old = PdmEnergy.from_dict({"production": {"pou": {"wattsNow": 3}, "x": 1}, "consumption": []})
    assert old.microinverters == EnergyCounters(3.0, None, None, None)
    assert set(old.production) == {"pou"}
    assert PdmEnergy.from_dict({}).microinverters is None


def test_inverters_from_capture_and_tolerance() -> None:
    """Keyed by serial; entries without a serial or not objects are skipped."""
    body = raw(RICH_CAPTURE, "api_v1_production_inverters")
    inverters = inverters_from_list(body)
    assert set(inverters) == {i["serialNumber"] for i in body}
    first = body[0]
    inverter = inverters[first["serialNumber"]]
    assert inverter.last_report_watts == first["lastReportWatts"]
    assert inverter.max_report_watts == first["maxReportWatts"]
    assert inverter.last_report == datetime.fromtimestamp(first["lastReportDate"], tz=UTC)
    assert inverter.device_type == first["devType"]

    odd = parsed(
        INVERTERS,
        [
            {"serialNumber": 1234, "lastReportDate": 0},
            {"serialNumber": ""},
            {"serialNumber": True},
            {"lastReportWatts": 3},
            [],
            {"serialNumber": "9", "lastReportDate": 10**12},
        ],
    )
    assert set(odd) == {"1234", "9"}
    assert odd["1234"].last_report is None  # 0 means never
    assert odd["9"].last_report is None  # past the year 3000: nonsense
    assert inverters_from_list([]) == {}
    assert Inverter.from_dict({"serialNumber": None}) is None


@pytest.mark.parametrize("capture", ["8.2.4382_ACB", "8.3.5169_ACB_inventory"])
def test_ac_batteries_are_not_microinverters(capture: str) -> None:
    """AC Batteries share the inverters list (devType 11); only microinverters are kept.

    The oracle is the same gateway's /production.json, which counts its active
    microinverters and its AC Batteries apart.
    """
    body = raw(capture, "api_v1_production_inverters")
    production_json = raw(capture, "production.json")
    (pcus,) = (e for e in production_json["production"] if e["type"] == "inverters")
    (acbs,) = (e for e in production_json["storage"] if e["type"] == "acb")
    inverters = inverters_from_list(body)
    assert len(inverters) == pcus["activeCount"]
    assert len(body) - len(inverters) == acbs["activeCount"] > 0
    assert {i.device_type for i in inverters.values()} == {1}
    # Legacy lists without devType are all microinverters; unknown kinds are left out.
    assert set(
        inverters_from_list([{"serialNumber": "1"}, {"serialNumber": "2", "devType": 7}])
    ) == {"1"}


def test_meters_and_readings_tolerate_bad_entries() -> None:
    """Entries without eid (or type) are skipped; odd flags and channels are ignored."""
    meters = parsed(
        METERS,
        [
            {
                "eid": 1,
                "state": "enabled",
                "measurementType": "production",
                "statusFlags": ["a", 2],
            },
            {"eid": 2, "state": "enabled"},
            {"state": "enabled", "measurementType": "storage"},
            {"eid": "3", "measurementType": "storage"},
            {"eid": 4, "measurementType": "storage", "statusFlags": "x"},
            7,
        ],
    )
    assert [(m.eid, m.enabled, m.status_flags) for m in meters] == [
        (1, True, ("a",)),
        (4, False, ()),
    ]
    readings = parsed(
        METER_READINGS, [{"eid": 1, "channels": "none", "activePower": 5}, {"channels": []}, None]
    )
    assert set(readings) == {1}
    assert readings[1].channels == ()
    assert readings[1].values.active_power == 5.0
    assert MeterValues.from_dict({"instantaneousDemand": 7}).active_power == 7.0
    assert MeterValues.from_report({"currW": 7, "actPower": "x"}).active_power == 7.0
    assert MeterValues.from_report({}) == MeterValues()
    assert ConsumptionReport.from_dict({"reportType": ""}) is None


def test_production_json_from_captures() -> None:
    """Inverters, eim entries by measurement type, and the AC Battery summary."""
    body = raw("8.2.4382_ACB", "production.json")
    parsed = ProductionJson.from_dict(body)
    inverters = next(e for e in body["production"] if e["type"] == "inverters")
    acb = body["storage"][0]
    assert parsed.inverters_watts_now == inverters["wNow"]
    assert parsed.inverters_wh_lifetime == inverters["whLifetime"]
    assert set(parsed.meters) == {"production", "total-consumption", "net-consumption"}
    assert parsed.storage is not None
    assert parsed.storage.percent_full == acb["percentFull"]
    assert parsed.storage.wh_now == acb["whNow"]
    assert parsed.storage.active_count == acb["activeCount"]
    assert parsed.has_batteries

    # An inactive AC Battery entry is no battery.
    assert not ProductionJson.from_dict(raw("7.3.130", "production.json")).has_batteries
    # Firmware 4 leaves measurementType out: production, and total consumption.
    old = ProductionJson.from_dict(raw("4.2.33", "production.json"))
    assert set(old.meters) == {"production", "total-consumption"}
    assert old.storage is None
    assert not old.has_batteries


def test_production_json_tolerates_wrong_shapes() -> None:
    """Sections of the wrong type are empty."""
    parsed = ProductionJson.from_dict({"production": "x", "consumption": {}, "storage": [1]})
    assert parsed.meters == {}
    assert parsed.inverters_watts_now is None
    assert parsed.storage is None
    others = ProductionJson.from_dict(
        {
            "production": [{"type": "rgms", "wNow": 1}, {"type": "eim", "wNow": 2}],
            "consumption": [{"type": "inverters"}, {"type": "eim", "wNow": 3}],
            "storage": [{"type": "encharge", "activeCount": 1}],
        }
    )
    assert {k: m.watts_now for k, m in others.meters.items()} == {
        "production": 2.0,
        "total-consumption": 3.0,
    }
    assert others.storage is None


@pytest.mark.parametrize(
    ("endpoint", "wrong"),
    [
        (PRODUCTION, "[]"),
        (INVERTERS, "{}"),
        (METERS, '{"eid": 1}'),
        (METER_READINGS, "null"),
        (PDM_ENERGY, "[1]"),
        (LIVEDATA, "1"),
        (BATTERY_CONTROL, "[]"),
        (BATTERY_POWER, "true"),
        (CONSUMPTION_REPORTS, '"text"'),
        (PRODUCTION_JSON, "[]"),
    ],
    ids=str,
)
def test_body_of_the_wrong_json_type(endpoint: Endpoint[Any], wrong: str) -> None:
    """A list where an object belongs (or the reverse) is a response error, not a crash."""
    with pytest.raises(IQGatewayResponseError) as caught:
        endpoint.parse(body(endpoint, wrong))
    assert caught.value.status is None
    assert endpoint.path in str(caught.value)  # the message says which endpoint


@pytest.mark.parametrize(
    ("text", "kind"),
    [("<html>busy</html>", "an HTML page"), ('{"cut": ', "not JSON"), ("", "not JSON")],
)
def test_body_that_is_not_json(text: str, kind: str) -> None:
    """HTML or broken JSON is a response error naming what came instead."""
    with pytest.raises(IQGatewayResponseError, match=kind) as caught:
        PRODUCTION.parse(body(PRODUCTION, text))
    assert not isinstance(caught.value.__cause__, IQGatewayResponseError)
    assert PRODUCTION.path in str(caught.value)


def test_bodies_that_break_a_json_decoder() -> None:
    """Nesting too deep for the decoder is a response error; an overflowing number is none."""
    with pytest.raises(IQGatewayResponseError, match="not JSON"):
        METERS.parse(body(METERS, "[" * 100_000 + "]" * 100_000))
    huge = PRODUCTION.parse(
        body(PRODUCTION, '{"wattsNow": 1' + "0" * 400 + ', "wattHoursToday": 5}')
    )
    assert huge.watts_now is None
    assert huge.wh_today == 5.0


# --------------------------------------------------------------------------- probe result


def test_probe_result_settled_and_dict() -> None:
    """Settled when nothing is left for a probe to ask again (polls ask ``retry``)."""
    supported = frozenset({PRODUCTION_JSON, METERS, PRODUCTION, PRODUCTION_HTML})
    probe = ProbeResult(supported, retry=frozenset({LIVEDATA}))
    assert probe.as_dict() == {
        "supported": ["/api/v1/production", "/ivp/meters", "/production", "/production.json"],
        "retry": ["/ivp/livedata/status"],
        "empty": [],
        "refused": [],
    }
    json.dumps(probe.as_dict())  # JSON-friendly
    assert probe.settled  # the polls ask it again
    assert not ProbeResult(supported, empty=frozenset({BATTERY_POWER})).settled
    assert not ProbeResult(supported, refused=frozenset({LIVEDATA})).settled
    assert ProbeResult(supported).settled
    assert str(PRODUCTION) == "/api/v1/production"  # as logs and diagnostics show it


def test_poll_data_by_endpoint() -> None:
    """A poll's bodies are found by endpoint; one that did not answer is None."""
    info = GatewayInfo("1", None, "D8.2.127", True, True)
    counters = EnergyCounters(1.0, 2.0, 3.0, 4.0)
    data = GatewayData(
        info=info, polled=frozenset({PRODUCTION, INVERTERS}), bodies={PRODUCTION: counters}
    )
    assert data.get(PRODUCTION) is counters
    assert data.get(INVERTERS) is None
    assert data.answered
    assert data.enabled_cts == frozenset()
    assert data.ct_meters == {}
    nothing = GatewayData(info=info, polled=data.polled)
    assert not nothing.answered
    assert nothing.get(PRODUCTION) is None
