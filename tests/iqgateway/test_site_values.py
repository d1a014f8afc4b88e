"""Site values for layouts no capture has (the captures' values are in test_captures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_components.enphase_iq_gateway.iqgateway import GatewayData, site_values
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    BATTERY_POWER,
    CONSUMPTION_REPORTS,
    LIVEDATA,
    METER_READINGS,
    METERS,
    PDM_ENERGY,
    PRODUCTION,
    PRODUCTION_JSON,
    Endpoint,
)
from custom_components.enphase_iq_gateway.iqgateway.models import (
    BatteryControl,
    BatteryPower,
    ConsumptionReport,
    EnergyCounters,
    GatewayInfo,
    LiveData,
    MeterValues,
    PdmEnergy,
    ProductionJson,
    meters_from_list,
    readings_from_list,
    reports_from_list,
)

INFO = GatewayInfo("1", None, "D8.2.127", True, True)
type Bodies = Mapping[Endpoint[Any], Any]


def poll_data(bodies: Bodies) -> GatewayData:
    """One poll's data: these endpoints are polled, and answered with these bodies."""
    return GatewayData(info=INFO, polled=frozenset(bodies), bodies=bodies)


def with_cts(*cts: tuple[str, dict[str, float]], others: Bodies | None = None) -> GatewayData:
    """Poll data with these enabled CTs (measurement type, readings) and other bodies."""
    meters = [
        {"eid": eid, "state": "enabled", "measurementType": kind, "phaseCount": 1}
        for eid, (kind, _) in enumerate(cts, start=1)
    ]
    readings = [{"eid": eid, **values} for eid, (_, values) in enumerate(cts, start=1)]
    return poll_data(
        {
            METERS: meters_from_list(meters),
            METER_READINGS: readings_from_list(readings),
            **(others or {}),
        }
    )


def changed(
    data: GatewayData, bodies: Mapping[Endpoint[Any], Any | None], **kwargs: Any
) -> GatewayData:
    """The same poll with some bodies replaced (None: that endpoint did not answer).

    ``enabled_cts`` is read from the new bodies unless given, as the client passes it.
    """
    merged = {**data.bodies, **bodies}
    return GatewayData(
        info=data.info,
        polled=data.polled,
        bodies={endpoint: body for endpoint, body in merged.items() if body is not None},
        **kwargs,
    )


def test_total_consumption_ct() -> None:
    """A total-consumption CT is read directly; the net is total - production."""
    data = with_cts(
        ("production", {"activePower": 1000.0, "actEnergyDlvd": 5000.0}),
        ("total-consumption", {"activePower": 1500.0, "actEnergyDlvd": 9000.0}),
    )
    assert site_values.consumption_power(data) == 1500.0
    assert site_values.net_consumption_power(data) == 500.0
    assert site_values.consumption_energy_lifetime(data) == 9000.0
    assert site_values.grid_import_energy(data) is None
    assert site_values.grid_export_energy(data) is None
    missing = changed(data, {METER_READINGS: {}})
    assert site_values.consumption_power(missing) is None
    assert site_values.net_consumption_power(missing) is None
    assert site_values.consumption_energy_lifetime(missing) is None


def test_net_ct_without_energy_counters() -> None:
    """A net CT that reports no received energy gives no lifetime consumption."""
    data = with_cts(
        ("production", {"activePower": 1000.0, "actEnergyDlvd": 5000.0}),
        ("net-consumption", {"activePower": -200.0, "actEnergyDlvd": 700.0}),
    )
    assert site_values.consumption_power(data) == 800.0
    assert site_values.consumption_energy_lifetime(data) is None
    assert site_values.grid_import_energy(data) == 700.0


def test_production_json_net_meter_without_readings() -> None:
    """No readings polled: production + /production.json's net eim."""
    production_json = ProductionJson.from_dict(
        {
            "production": [
                {"type": "inverters", "activeCount": 10, "wNow": 900, "whLifetime": 100},
                {"type": "eim", "measurementType": "production", "activeCount": 1, "wNow": 1000},
            ],
            "consumption": [
                {
                    "type": "eim",
                    "measurementType": "net-consumption",
                    "activeCount": 1,
                    "wNow": 250,
                },
            ],
        }
    )
    data = poll_data({PRODUCTION_JSON: production_json})
    assert site_values.production_power(data) == 1000.0
    assert site_values.net_consumption_power(data) == 250.0
    assert site_values.consumption_power(data) == 1250.0


def test_microinverter_counters_from_pdm_energy() -> None:
    """Without a production CT, /ivp/pdm/energy's pcu counts first."""
    data = poll_data(
        {
            PDM_ENERGY: PdmEnergy(production={"pcu": EnergyCounters(10.0, 20.0, 30.0, 40.0)}),
            PRODUCTION: EnergyCounters(11.0, 21.0, 31.0, 41.0),
        }
    )
    assert site_values.production_power(data) == 10.0
    assert site_values.production_energy_lifetime(data) == 40.0
    assert site_values.production_energy_today(data) == 20.0


def test_live_data_battery_power() -> None:
    """Without a storage CT, IQ Batteries' power comes from live data."""
    live = LiveData.from_dict(
        {
            "meters": {
                "soc": 55,
                "backup_soc": 20,
                "enc_agg_soc": 55,
                "enc_agg_energy": 5000,
                "storage": {"agg_p_mw": -1500000},
            }
        }
    )
    data = poll_data({LIVEDATA: live})
    assert site_values.has_batteries(data)
    assert site_values.battery_power(data) == -1500.0
    assert site_values.battery_soc(data) == 55.0
    assert site_values.battery_backup_reserve(data) == 20.0
    assert site_values.battery_available_energy(data) == 5000.0


def test_a_ct_missing_from_one_poll_switches_no_source() -> None:
    """A production CT whose readings are missing once is unknown, not the inverters' count.

    Otherwise a lifetime counter would jump between two meters (of different totals) and
    back, which the recorder would count as energy.
    """
    inverters = EnergyCounters(2000.0, 1.0, 2.0, 3_000_000.0)
    full = with_cts(
        ("production", {"activePower": 1000.0, "actEnergyDlvd": 1_000_000.0}),
        ("net-consumption", {"activePower": -200.0, "actEnergyDlvd": 7.0, "actEnergyRcvd": 9.0}),
        others={PRODUCTION: inverters},
    )
    assert site_values.production_energy_lifetime(full) == 1_000_000.0
    # The readings answered without this CT (or with nothing at all) ...
    no_readings = changed(full, {METER_READINGS: {}})
    # ... or /ivp/meters failed, so readings were skipped: the earlier meter list stands.
    no_meters = changed(
        full,
        {METERS: None, METER_READINGS: None},
        enabled_cts=frozenset({"production", "net-consumption"}),
    )
    for data in (no_readings, no_meters):
        assert site_values.production_power(data) is None
        assert site_values.production_energy_lifetime(data) is None
        assert site_values.net_consumption_power(data) is None
        assert site_values.consumption_power(data) is None
        assert site_values.consumption_energy_lifetime(data) is None
        assert site_values.grid_import_energy(data) is None
    # Only a CT that the gateway's configuration no longer enables gives way to the inverters.
    disabled = changed(
        full,
        {
            METERS: meters_from_list(
                [{"eid": 1, "state": "disabled", "measurementType": "production", "phaseCount": 1}]
            )
        },
    )
    assert site_values.production_energy_lifetime(disabled) == 3_000_000.0


def test_storage_ct_missing_from_one_poll() -> None:
    """A storage CT without readings this poll: battery power unknown, not live data's."""
    live = LiveData.from_dict({"meters": {"soc": 50, "storage": {"agg_p_mw": -1500000}}})
    data = with_cts(("storage", {"activePower": 300.0}), others={LIVEDATA: live})
    assert site_values.battery_power(data) == 300.0
    assert site_values.battery_power(changed(data, {METER_READINGS: {}})) is None


def test_drained_battery_keeps_its_power() -> None:
    """At 0 % the storage controller still knows the batteries: live power stays theirs."""
    live = LiveData.from_dict(
        {
            "meters": {
                "soc": 0,
                "enc_agg_soc": 0,
                "enc_agg_energy": 0,
                "storage": {"agg_p_mw": -1500000},
            }
        }
    )
    control = BatteryControl.from_dict(
        {"agg_soc": 0, "Max_energy": 10080, "ENC_agg_avail_energy": 0}
    )
    data = poll_data({LIVEDATA: live, BATTERY_CONTROL: control})
    assert site_values.has_batteries(data)
    assert site_values.battery_soc(data) == 0.0
    assert site_values.battery_power(data) == -1500.0
    # Without the controller, zeros everywhere in live data cannot be told from no battery.
    assert not site_values.has_batteries(changed(data, {BATTERY_CONTROL: None}))
    assert site_values.battery_power(changed(data, {BATTERY_CONTROL: None})) is None


def test_report_lines_follow_the_consumption_ct_phases() -> None:
    """A report's lines are phases only as far as the consumption CT's phase count goes."""
    reports = reports_from_list(
        [
            {
                "reportType": "net-consumption",
                "cumulative": {},
                "lines": [{"actPower": float(n)} for n in range(4)],
            },
            {
                "reportType": "total-consumption",
                "cumulative": {},
                "lines": [{"actPower": float(n)} for n in range(10, 13)],
            },
        ]
    )

    def data(phase_count: int | None) -> GatewayData:
        meters = [{"eid": 1, "state": "enabled", "measurementType": "net-consumption"}]
        if phase_count is not None:
            meters[0]["phaseCount"] = phase_count
        return poll_data(
            {
                METERS: meters_from_list(meters),
                METER_READINGS: readings_from_list([{"eid": 1, "activePower": 5.0}]),
                CONSUMPTION_REPORTS: reports,
            }
        )

    def powers(lines: tuple[MeterValues, ...]) -> list[float | None]:
        return [line.active_power for line in lines]

    assert powers(site_values.report_lines(data(3), "net-consumption")) == [0.0, 1.0, 2.0]
    assert powers(site_values.report_lines(data(2), "total-consumption")) == [10.0, 11.0]
    assert site_values.report_lines(data(1), "net-consumption") == ()
    assert site_values.report_lines(data(None), "net-consumption") == ()
    assert site_values.report_lines(data(3), "storage") == ()


def test_battery_power_of_iq_and_ac_batteries() -> None:
    """IQ Batteries (each listed) plus AC Batteries; a polled part missing makes it unknown."""
    iq = BatteryPower.from_dict(
        {"devices:": [{"serial_num": "1", "real_power_mw": 105000}, {"serial_num": "2"}]}
    )
    assert iq.total is None  # one battery without a reading: no partial sum
    iq = BatteryPower.from_dict({"devices": [{"serial_num": "1", "real_power_mw": -2500}]})
    assert iq.total == -2.5
    assert BatteryPower.from_dict({"devices:": [{"real_power_mw": 5}]}).batteries == {}
    assert BatteryPower.from_dict({}).total is None
    data = poll_data({BATTERY_POWER: iq})
    assert site_values.has_batteries(data)
    assert site_values.battery_power(data) == -2.5
    assert site_values.battery_power(changed(data, {BATTERY_POWER: None})) is None


def test_total_report_that_copies_the_net_is_rebuilt() -> None:
    """Firmware 8.3.5433's total report repeats the net: the total is derived instead.

    From the CTs: consumption = production + net, for power and lifetime energy. The copied
    lines mean nothing for the total, so it has none.
    """
    cumulative = {"actPower": 200.0, "whDlvdCum": 7000.0, "rmsVoltage": 240.0}
    line = {"actPower": 100.0}
    copied = reports_from_list(
        [
            {"reportType": "net-consumption", "cumulative": cumulative, "lines": [line] * 2},
            {"reportType": "total-consumption", "cumulative": cumulative, "lines": [line] * 2},
        ]
    )
    data = with_cts(
        ("production", {"activePower": 1000.0, "actEnergyDlvd": 5000.0}),
        (
            "net-consumption",
            {"activePower": 200.0, "actEnergyDlvd": 7000.0, "actEnergyRcvd": 2000.0},
        ),
        others={CONSUMPTION_REPORTS: copied},
    )
    total = site_values.consumption_report(data, "total-consumption")
    assert total == ConsumptionReport(
        "total-consumption",
        cumulative=MeterValues(active_power=1200.0, energy_delivered=10_000.0),
        lines=(),
    )
    assert site_values.report_lines(data, "total-consumption") == ()
    # The net report is the gateway's own.
    assert site_values.consumption_report(data, "net-consumption") == copied["net-consumption"]

    # A total that differs from the net is the gateway's own too.
    own = reports_from_list(
        [
            {"reportType": "net-consumption", "cumulative": cumulative},
            {"reportType": "total-consumption", "cumulative": {**cumulative, "actPower": 1200.0}},
        ]
    )
    data = changed(data, {CONSUMPTION_REPORTS: own})
    assert site_values.consumption_report(data, "total-consumption") == own["total-consumption"]
    assert site_values.consumption_report(data, "storage") is None
    assert (
        site_values.consumption_report(
            changed(data, {CONSUMPTION_REPORTS: None}), "net-consumption"
        )
        is None
    )


def test_ac_batteries_alone() -> None:
    """Without a storage controller or live data, /production.json's AC Batteries count."""
    production_json = ProductionJson.from_dict(
        {
            "production": [{"type": "inverters", "activeCount": 10, "wNow": 900}],
            "storage": [
                {"type": "acb", "activeCount": 2, "wNow": -150, "whNow": 1800, "percentFull": 45}
            ],
        }
    )
    data = poll_data({PRODUCTION_JSON: production_json})
    assert site_values.has_batteries(data)
    assert site_values.battery_soc(data) == 45.0
    assert site_values.battery_available_energy(data) == 1800.0
    assert site_values.battery_power(data) == -150.0
    assert site_values.battery_backup_reserve(data) is None


def test_impossible_day_and_week_counts_are_unknown() -> None:
    """Today / last seven days that their own source's counters make impossible: None.

    (Today, week, lifetime) as /api/v1/production reports them; the microinverters'
    counters are not consulted instead (a source is never chosen by its values).
    """

    def period(today: float, week: float, lifetime: float) -> tuple[float | None, ...]:
        data = poll_data({PRODUCTION: EnergyCounters(100.0, today, week, lifetime)})
        return (
            site_values.production_energy_today(data),
            site_values.production_energy_last_seven_days(data),
        )

    assert period(5_000, 70_000, 2_000_000) == (5_000, 70_000)
    assert period(0, 70_000, 2_000_000) == (0, 70_000)
    assert period(5_000, 70_000, 4_000) == (None, None)  # both more than the lifetime
    assert period(5_000, 4_000, 2_000_000) == (None, None)  # today more than the week
    assert period(2_000_000, 2_500_000, 2_000_000) == (None, None)  # today = lifetime
    assert period(5_000, 2_000_000, 2_000_000) == (5_000, None)  # the week = lifetime
    assert period(5_000, 2_500_000, 2_000_000) == (5_000, None)  # the week > lifetime
    pdm = PdmEnergy(production={"pcu": EnergyCounters(1.0, 9e9, 1.0, 10.0)})
    data = poll_data({PDM_ENERGY: pdm, PRODUCTION: EnergyCounters(1.0, 5.0, 7.0, 10.0)})
    assert site_values.production_energy_today(data) is None


HUGE = 1e308  # finite, but two of them add up to infinity


def test_finite_readings_that_add_up_to_infinity_are_unknown() -> None:
    """Every site value is a finite number or unknown: sums that overflow are unknown."""
    data = with_cts(
        ("production", {"activePower": HUGE, "actEnergyDlvd": HUGE}),
        ("net-consumption", {"activePower": HUGE, "actEnergyDlvd": HUGE, "actEnergyRcvd": 0}),
    )
    assert site_values.production_power(data) == HUGE
    assert site_values.consumption_power(data) is None  # inf
    assert site_values.consumption_energy_lifetime(data) is None  # inf
    assert site_values.net_consumption_power(data) == HUGE
    # inf - inf is NaN: unknown too.
    total = with_cts(
        ("production", {"activePower": -HUGE, "actEnergyDlvd": 1.0}),
        ("total-consumption", {"activePower": HUGE}),
    )
    assert site_values.net_consumption_power(total) is None

    control = BatteryControl.from_dict(
        {
            "agg_soc": 50,
            "Max_energy": 10000,
            "Enc_max_available_capacity": 10000,
            "ENC_agg_avail_energy": HUGE,
            "ACB_agg_energy": HUGE,
        }
    )
    assert control.available_energy is None
    assert site_values.battery_available_energy(poll_data({BATTERY_CONTROL: control})) is None
    live = LiveData.from_dict(
        {"meters": {"soc": 50, "enc_agg_energy": HUGE, "acb_agg_energy": HUGE}}
    )
    assert site_values.battery_available_energy(poll_data({LIVEDATA: live})) is None
    power = BatteryPower.from_dict(
        {"devices": [{"serial_num": "1", "real_power_mw": HUGE}] * 2 + [{"serial_num": "2"}]}
    )
    assert BatteryPower({"1": HUGE, "2": HUGE}).total is None
    assert site_values.battery_power(poll_data({BATTERY_POWER: power})) is None


def test_percentages_outside_0_to_100_are_unknown() -> None:
    """A state of charge or reserve outside 0-100 % is a glitch, not a value."""

    def control(soc: float, reserve: float) -> GatewayData:
        return poll_data(
            {
                BATTERY_CONTROL: BatteryControl.from_dict(
                    {
                        "agg_soc": soc,
                        "Max_energy": 10000,
                        "Enc_max_available_capacity": 10000,
                        "adjusted_backup_soc": reserve,
                    }
                )
            }
        )

    assert site_values.battery_soc(control(0, 100)) == 0
    assert site_values.battery_backup_reserve(control(0, 100)) == 100
    assert site_values.battery_soc(control(100.5, -1)) is None
    assert site_values.battery_backup_reserve(control(100.5, -1)) is None
    live = poll_data(
        {
            LIVEDATA: LiveData.from_dict(
                {"meters": {"soc": 250, "enc_agg_soc": 50, "backup_soc": 30}}
            )
        }
    )
    assert site_values.battery_soc(live) is None
    assert site_values.battery_backup_reserve(live) == 30


def test_negative_energy_counts_are_unknown() -> None:
    """Lifetime, period and stored energy below zero are unknown; powers may be negative."""
    data = with_cts(
        ("production", {"activePower": -5.0, "actEnergyDlvd": -100.0}),
        ("net-consumption", {"activePower": -50.0, "actEnergyDlvd": -1.0, "actEnergyRcvd": -2.0}),
        ("storage", {"activePower": -10.0, "actEnergyDlvd": -3.0, "actEnergyRcvd": 4.0}),
    )
    assert site_values.production_power(data) == -5.0
    assert site_values.net_consumption_power(data) == -50.0
    assert site_values.battery_power(data) == -10.0
    assert site_values.production_energy_lifetime(data) is None
    assert site_values.grid_import_energy(data) is None
    assert site_values.grid_export_energy(data) is None
    assert site_values.consumption_energy_lifetime(data) is None  # -100 - 1 + 2
    assert site_values.battery_discharged_energy(data) is None
    assert site_values.battery_charged_energy(data) == 4.0
    counters = poll_data(
        {
            PRODUCTION: EnergyCounters(
                watts_now=1.0, wh_today=-1.0, wh_last_seven_days=-7.0, wh_lifetime=-9.0
            )
        }
    )
    assert site_values.production_energy_today(counters) is None
    assert site_values.production_energy_last_seven_days(counters) is None
    assert site_values.production_energy_lifetime(counters) is None
