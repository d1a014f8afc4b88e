"""Site-level values derived from one poll, each by one stated rule.

Production: an enabled production CT is the site's meter: power and lifetime energy come
from its readings, today / last seven days from the CT's counters (``/ivp/pdm/energy``
``eim``, or ``/production.json``'s eim where that is polled anyway), else from
``/api/v1/production`` (on metered gateways usually the CT's own count, seconds older;
these two have no state class, so they never enter long-term statistics; one that the
source's own counters make impossible is None). Without a
production CT, the microinverters' own counts:
``/ivp/pdm/energy`` ``pcu``, then ``/api/v1/production``, then ``/production.json``'s
inverters, then the legacy HTML page. Sources are chosen by what the gateway has (an
endpoint that reports nothing measured is not even polled), never by one poll's values.
Nor by one failing endpoint (``GatewayData.failing``): while the preferred source's
endpoint fails, the value is unavailable rather than taken from the next source, whose
count differs (a switch would publish a step the recorder counts as energy). While
``/ivp/meters`` has not answered since setup, which CTs there are is not known: every
value a CT could be the source of is unavailable until it answers.

Consumption (needs a consumption CT): a total-consumption CT is read directly; with a
net-consumption CT, total = production + net (power and energy alike: production +
imported - exported), because the net CT measures the grid: positive = import, delivered
= imported, received = exported. Without meter readings, ``/production.json``'s eim
entries are used; a total that merely repeats the net (a firmware 8.3.5433 bug) is not
trusted and the power is recomputed as production + net.

House load (sites with batteries): what the house itself uses, batteries apart. The
consumption above (production + grid) counts battery charging as consumption and leaves
discharge out; the house load adds the battery power (positive = discharging) to it, all
from the same poll: production + grid + battery (where the battery power comes from live
data, it is fresh). Meters that add up to less than nothing make it unknown. It has no
lifetime counter: production + imported - exported + discharged - charged is a
difference of five counters, which falls whenever the meters' errors outweigh what the
house used in a poll (a house using little while the batteries feed the grid); a
published lifetime counter must never fall, and holding such a fall would report a
gateway fault that is none.

Battery: a storage CT measures battery power (positive = discharging) and the energy
discharged (delivered) and charged (received). Without one, battery power is live data's
storage flow, else the IQ Batteries' (``/ivp/ensemble/power``) plus the AC Batteries'
(``/production.json``) power. State of charge, backup reserve, stored energy and capacity
come from the storage controller (``/ivp/ensemble/secctrl``), which counts IQ Batteries
and AC Batteries together; without it, from live data (IQ Batteries), then
``/production.json`` (AC Batteries). Their settings (``/admin/lib/tariff``) count only
where batteries are installed (the gateway reports defaults on sites without any).

Grid: whether the site is connected to the grid, from the best witness the site has
(``/ivp/ensemble/inventory``): the System Controller's grid relay; else the Meter
Collar's relay and grid state; else what the IQ Batteries report. Never from a relay
state the gateway reports without such a device (``/ivp/ensemble/status`` says "closed"
on sites that have no relay at all).

Every value is a finite number or unknown (None): sums of huge readings that overflow to
infinity, percentages outside 0-100 and negative energy counts are unknown, never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import functools
import math
from typing import Any

from .data import GatewayData
from .endpoints import (
    BATTERY_CONTROL,
    BATTERY_POWER,
    CONSUMPTION_REPORTS,
    ENSEMBLE_INVENTORY,
    LIVEDATA,
    METER_READINGS,
    METERS,
    PDM_ENERGY,
    PRODUCTION,
    PRODUCTION_HTML,
    PRODUCTION_JSON,
    STORAGE_SETTINGS,
    Endpoint,
)
from .models import (
    BatteryControl,
    ConsumptionReport,
    CTMeter,
    EnergyCounters,
    LiveData,
    MeasurementType,
    MeterCollar,
    MeterValues,
    ProductionJsonMeter,
    StorageSettings,
    StorageSummary,
)

type SiteValue = Callable[[GatewayData], float | None]


def _bounded(low: float, high: float) -> Callable[[SiteValue], SiteValue]:
    """A site value that is unknown unless finite and within ``low``-``high``."""

    def decorate(value_of: SiteValue) -> SiteValue:
        @functools.wraps(value_of)
        def bounded(data: GatewayData) -> float | None:
            value = value_of(data)
            if value is None or not math.isfinite(value) or not low <= value <= high:
                return None
            return value

        return bounded

    return decorate


_finite = _bounded(-math.inf, math.inf)
"""A power: any sign, but a number."""
_energy = _bounded(0.0, math.inf)
"""Energy counted (lifetime, today, stored): never below zero."""
_percent = _bounded(0.0, 100.0)


def _ct(data: GatewayData, kind: str) -> MeterValues | None:
    """The readings of the enabled CT of this measurement type."""
    meter: CTMeter | None = data.ct_meters.get(kind)
    return meter.values if meter is not None else None


def _ct_reading(
    data: GatewayData, kind: str, reading: Callable[[MeterValues], float | None]
) -> float | None:
    """One reading of the enabled CT of this measurement type."""
    values = _ct(data, kind)
    return reading(values) if values is not None else None


def _json_meter(data: GatewayData, kind: str) -> ProductionJsonMeter | None:
    """An active eim entry of /production.json (activeCount 0 means not installed)."""
    production_json = data.get(PRODUCTION_JSON)
    if production_json is None:
        return None
    meter = production_json.meters.get(kind)
    if meter is None or meter.active_count == 0:
        return None
    return meter


def _readings_polled(data: GatewayData) -> bool:
    """The gateway is polled for CT readings (whether or not this poll got them)."""
    return METER_READINGS in data.polled


def _configured(data: GatewayData, kind: str) -> bool:
    """An enabled CT of this type is installed and its readings are polled.

    Decided by configuration (``/ivp/meters``, or the probe's when this poll's failed),
    not by whether this poll got its readings: a CT whose readings are missing once makes
    its values unknown for that poll instead of switching them to another source.
    """
    return kind in (data.enabled_cts or ()) and _readings_polled(data)


def _meters_known[**P, R](value_of: Callable[P, R | None]) -> Callable[P, R | None]:
    """None while ``/ivp/meters`` fails and no earlier answer says which CTs there are."""

    @functools.wraps(value_of)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        data = args[0]
        assert isinstance(data, GatewayData)
        if METERS in data.failing:
            return None
        return value_of(*args, **kwargs)

    return guarded


def _has_production_ct(data: GatewayData) -> bool:
    """An enabled production CT is installed: it is the site's production meter."""
    return _configured(data, MeasurementType.PRODUCTION)


def _inverter_sources(data: GatewayData) -> list[EnergyCounters]:
    """The microinverters' counters, best first.

    A source is chosen by what the gateway has, never by the values of one poll: a
    lifetime counter that switched sources would show a jump the recorder counts as
    energy. (An endpoint that answers with nothing measured is not polled at all: see
    the client's probe.)
    """
    pdm = data.get(PDM_ENERGY)
    production_json = data.get(PRODUCTION_JSON)
    candidates: list[tuple[Endpoint[Any], EnergyCounters | None]] = [
        (PDM_ENERGY, pdm.microinverters if pdm is not None else None),
        (PRODUCTION, data.get(PRODUCTION)),
        (
            PRODUCTION_JSON,
            EnergyCounters(
                watts_now=production_json.inverters_watts_now,
                wh_today=None,
                wh_last_seven_days=None,
                wh_lifetime=production_json.inverters_wh_lifetime,
            )
            if production_json is not None and production_json.inverters_wh_lifetime is not None
            else None,
        ),
        (PRODUCTION_HTML, data.get(PRODUCTION_HTML)),
    ]
    sources: list[EnergyCounters] = []
    for endpoint, source in candidates:
        if source is not None:
            sources.append(source)
        elif endpoint in data.polled and endpoint in data.failing:
            break  # polled, failing now: what comes after it is not this site's source
    return sources


def _ct_period_counters(data: GatewayData) -> EnergyCounters | None:
    """Today / last seven days as counted by the production CT."""
    pdm = data.get(PDM_ENERGY)
    eim = pdm.production.get("eim") if pdm is not None else None
    if eim is not None and not eim.counts_nothing:
        return eim
    meter = _json_meter(data, MeasurementType.PRODUCTION)
    if meter is not None:
        return EnergyCounters(
            watts_now=meter.watts_now,
            wh_today=meter.wh_today,
            wh_last_seven_days=meter.wh_last_seven_days,
            wh_lifetime=meter.wh_lifetime,
        )
    return None


# --------------------------------------------------------------------------- production


def _production(
    data: GatewayData,
    ct: Callable[[MeterValues], float | None],
    summary: Callable[[ProductionJsonMeter | EnergyCounters], float | None],
) -> float | None:
    """A production value from the source the gateway's configuration names.

    The production CT where one is enabled; else ``/production.json``'s CT entry on
    firmware without meter readings; else the microinverters' best source.
    """
    if _has_production_ct(data):
        return _ct_reading(data, MeasurementType.PRODUCTION, ct)
    json_meter = _json_meter(data, MeasurementType.PRODUCTION)
    if json_meter is not None and not _readings_polled(data):
        return summary(json_meter)
    sources = _inverter_sources(data)
    return summary(sources[0]) if sources else None


@_finite
@_meters_known
def production_power(data: GatewayData) -> float | None:
    """Solar production now (W)."""
    return _production(data, lambda v: v.active_power, lambda s: s.watts_now)


@_energy
@_meters_known
def production_energy_lifetime(data: GatewayData) -> float | None:
    """Solar production since installation (Wh)."""
    return _production(data, lambda v: v.energy_delivered, lambda s: s.wh_lifetime)


@_meters_known
def _period(data: GatewayData, field: str) -> float | None:
    """Today's or the last seven days' production, from the first source that counts it.

    Unknown (None) where the source's own counters make it impossible: more than its
    lifetime, today more than the week, or equal to the lifetime (a lifetime count in the
    period's field).
    """
    ct = _has_production_ct(data) or (
        not _readings_polled(data) and _json_meter(data, MeasurementType.PRODUCTION) is not None
    )
    for source in (_ct_period_counters(data) if ct else None, *_inverter_sources(data)):
        value = getattr(source, field) if source is not None else None
        if source is not None and value is not None:
            return float(value) if _plausible_period(source, float(value)) else None
    return None


def _plausible_period(counters: EnergyCounters, value: float) -> bool:
    """Whether a period's energy can be true, next to the same source's other counters.

    Today more than the week makes both unknown: which of the two is wrong cannot be told.
    """
    lifetime = counters.wh_lifetime
    if lifetime is not None and (value > lifetime or (value > 0 and value == lifetime)):
        return False
    today, week = counters.wh_today, counters.wh_last_seven_days
    return not (today is not None and week is not None and today > week)


@_energy
def production_energy_today(data: GatewayData) -> float | None:
    """Solar production today, on the gateway's clock (Wh)."""
    return _period(data, "wh_today")


@_energy
def production_energy_last_seven_days(data: GatewayData) -> float | None:
    """Solar production over the last seven days, on the gateway's clock (Wh)."""
    return _period(data, "wh_last_seven_days")


# --------------------------------------------------------------------------- consumption


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < 0.01


def _json_total_is_net(data: GatewayData) -> bool:
    """Firmware 8.3.5433 reports total consumption as a copy of net consumption."""
    total = _json_meter(data, MeasurementType.TOTAL_CONSUMPTION)
    net = _json_meter(data, MeasurementType.NET_CONSUMPTION)
    return (
        total is not None
        and net is not None
        and _same(total.wh_lifetime, net.wh_lifetime)
        and _same(total.watts_now, net.watts_now)
    )


@_finite
@_meters_known
def net_consumption_power(data: GatewayData) -> float | None:
    """Power from the grid now (W): positive imports, negative exports."""
    if _configured(data, MeasurementType.NET_CONSUMPTION):
        net = _ct(data, MeasurementType.NET_CONSUMPTION)
        return net.active_power if net is not None else None
    if _configured(data, MeasurementType.TOTAL_CONSUMPTION):
        total = _ct(data, MeasurementType.TOTAL_CONSUMPTION)
        production = production_power(data)
        if total is None or total.active_power is None or production is None:
            return None
        return total.active_power - production
    if not _readings_polled(data) and (meter := _json_meter(data, MeasurementType.NET_CONSUMPTION)):
        return meter.watts_now
    return None


@_finite
@_meters_known
def consumption_power(data: GatewayData) -> float | None:
    """Power used by the site now (W): production + net, or the total CT."""
    if _configured(data, MeasurementType.TOTAL_CONSUMPTION):
        total = _ct(data, MeasurementType.TOTAL_CONSUMPTION)
        return total.active_power if total is not None else None
    production = production_power(data)
    if _configured(data, MeasurementType.NET_CONSUMPTION):
        net = _ct(data, MeasurementType.NET_CONSUMPTION)
        if net is None or net.active_power is None or production is None:
            return None
        return production + net.active_power
    if not _readings_polled(data):
        total_meter = _json_meter(data, MeasurementType.TOTAL_CONSUMPTION)
        if total_meter is not None and not _json_total_is_net(data):
            return total_meter.watts_now
        net_meter = _json_meter(data, MeasurementType.NET_CONSUMPTION)
        if net_meter is not None and net_meter.watts_now is not None and production is not None:
            return production + net_meter.watts_now
    return None


@_bounded(0.0, math.inf)
def house_load_power(data: GatewayData) -> float | None:
    """Power the house uses now, batteries apart (W): consumption + battery power.

    Only where batteries are known (elsewhere the consumption is the house's). Charging
    (negative battery power) is taken out of the consumption, discharging added to it.
    """
    if not has_batteries(data):
        return None
    consumption, battery = consumption_power(data), battery_power(data)
    if consumption is None or battery is None:
        return None
    return consumption + battery


def has_house_load(data: GatewayData) -> bool:
    """The site has batteries, and measures its consumption and their power."""
    return (
        has_batteries(data)
        and consumption_power(data) is not None
        and battery_power(data) is not None
    )


@_energy
def grid_import_energy(data: GatewayData) -> float | None:
    """Energy imported from the grid since the net CT was installed (Wh)."""
    return _ct_reading(data, MeasurementType.NET_CONSUMPTION, lambda v: v.energy_delivered)


@_energy
def grid_export_energy(data: GatewayData) -> float | None:
    """Energy exported to the grid since the net CT was installed (Wh)."""
    return _ct_reading(data, MeasurementType.NET_CONSUMPTION, lambda v: v.energy_received)


@_energy
@_meters_known
def consumption_energy_lifetime(data: GatewayData) -> float | None:
    """Energy used by the site since installation (Wh): production + import - export."""
    if _configured(data, MeasurementType.TOTAL_CONSUMPTION):
        total = _ct(data, MeasurementType.TOTAL_CONSUMPTION)
        return total.energy_delivered if total is not None else None
    if _configured(data, MeasurementType.NET_CONSUMPTION):
        net = _ct(data, MeasurementType.NET_CONSUMPTION)
        production = production_energy_lifetime(data)
        if net is None or production is None:
            return None
        if net.energy_delivered is None or net.energy_received is None:
            return None
        return production + net.energy_delivered - net.energy_received
    if not _readings_polled(data):
        # /production.json's net lifetime means imports on some firmware (4.x) and
        # imports - exports on others (8.x): it cannot give a total either way.
        total_meter = _json_meter(data, MeasurementType.TOTAL_CONSUMPTION)
        if total_meter is not None and not _json_total_is_net(data):
            return total_meter.wh_lifetime
    return None


def _total_report_copies_net(reports: Mapping[str, ConsumptionReport]) -> bool:
    """The reports' total merely repeats the net (firmware 8.3.5433)."""
    total = reports.get(MeasurementType.TOTAL_CONSUMPTION)
    net = reports.get(MeasurementType.NET_CONSUMPTION)
    return (
        total is not None
        and net is not None
        and _same(total.cumulative.energy_delivered, net.cumulative.energy_delivered)
        and _same(total.cumulative.active_power, net.cumulative.active_power)
    )


def consumption_report(data: GatewayData, report_type: str) -> ConsumptionReport | None:
    """A consumption report as the gateway means it.

    A total that copies the net (firmware 8.3.5433) is rebuilt from what can be derived,
    the site's consumption power and lifetime energy, without lines.
    """
    reports = data.get(CONSUMPTION_REPORTS) or {}
    report = reports.get(report_type)
    if report is None or report_type != MeasurementType.TOTAL_CONSUMPTION:
        return report
    if not _total_report_copies_net(reports):
        return report
    derived = MeterValues(
        active_power=consumption_power(data),
        energy_delivered=consumption_energy_lifetime(data),
    )
    return ConsumptionReport(report_type, cumulative=derived, lines=())


def report_lines(data: GatewayData, report_type: str) -> tuple[MeterValues, ...]:
    """The lines of a consumption report that are phases of this site (none apart).

    A report lists a line per meter channel, whether or not a phase is wired to it; the
    site's phases are those its consumption CT measures (its phase count), as for the
    CT's own channels. A single phase has no lines apart from the report's totals.
    """
    report = consumption_report(data, report_type)
    meter = data.ct_meters.get(MeasurementType.NET_CONSUMPTION) or data.ct_meters.get(
        MeasurementType.TOTAL_CONSUMPTION
    )
    if report is None or meter is None or meter.config.phase_count is None:
        return ()
    lines = report.lines[: meter.config.phase_count]
    return lines if len(lines) > 1 else ()


# --------------------------------------------------------------------------- battery


def _battery_control(data: GatewayData) -> BatteryControl | None:
    """The storage controller's aggregates, where batteries are commissioned."""
    control = data.get(BATTERY_CONTROL)
    return control if control is not None and control.has_batteries else None


def _reports_batteries(live: LiveData | None) -> bool:
    """Live data that reports batteries (any charge or stored energy)."""
    return live is not None and bool(
        live.encharge_energy or live.acb_energy or live.encharge_soc or live.acb_soc
    )


def _live_batteries(data: GatewayData) -> LiveData | None:
    """The live data, where it is fresh and reports batteries."""
    live = data.get(LIVEDATA)
    return live if _reports_batteries(live) else None


def _ac_batteries(data: GatewayData) -> StorageSummary | None:
    """/production.json's AC Battery summary, where AC Batteries are installed."""
    production_json = data.get(PRODUCTION_JSON)
    if production_json is not None and production_json.has_batteries:
        return production_json.storage
    return None


def has_batteries(data: GatewayData) -> bool:
    """The gateway reports batteries (IQ Batteries, AC Batteries, or a storage CT)."""
    return (
        _battery_control(data) is not None
        or _reports_batteries(data.latest(LIVEDATA))
        or _ac_batteries(data) is not None
        or _configured(data, MeasurementType.STORAGE)
        or bool((power := data.get(BATTERY_POWER)) and power.batteries)
    )


def reads_live_data(data: GatewayData) -> bool:
    """Whether a battery value comes from live data here: then it must be kept live.

    Battery power does where batteries are known and no storage CT measures them; charge,
    reserve and stored energy do where no storage controller reports them. Judged on the
    latest live data, fresh or not (an out-of-date one is what asks for it to be kept live).
    """
    live = data.latest(LIVEDATA)
    if live is None:
        return False
    control = _battery_control(data) is not None
    batteries = control or _reports_batteries(live)
    power = batteries and "storage" in live.flows and not _configured(data, MeasurementType.STORAGE)
    return power or (not control and _reports_batteries(live))


@_finite
@_meters_known
def battery_power(data: GatewayData) -> float | None:
    """Battery power now (W): positive discharging, negative charging."""
    if _configured(data, MeasurementType.STORAGE):
        storage = _ct(data, MeasurementType.STORAGE)
        return storage.active_power if storage is not None else None
    live = data.get(LIVEDATA)
    if (
        live is not None
        and (flow := live.flows.get("storage")) is not None
        # Live data reports a storage flow with or without batteries; it is theirs only
        # where batteries are known (a drained battery reads 0 % in live data).
        and (_battery_control(data) is not None or _live_batteries(data) is not None)
    ):
        return flow.power
    # Else each kind as its own endpoint reports it: IQ Batteries in /ivp/ensemble/power,
    # AC Batteries in /production.json. A polled part missing this poll makes the sum
    # unknown rather than a part of it.
    parts: list[float | None] = []
    if BATTERY_POWER in data.polled:
        power = data.get(BATTERY_POWER)
        parts.append(power.total if power is not None else None)
    if (acb := _ac_batteries(data)) is not None:
        parts.append(acb.watts_now)
    if not parts or any(part is None for part in parts):
        return None
    return sum(part for part in parts if part is not None)


@_energy
def battery_charged_energy(data: GatewayData) -> float | None:
    """Energy charged into the batteries, as the storage CT counts it (Wh)."""
    return _ct_reading(data, MeasurementType.STORAGE, lambda v: v.energy_received)


@_energy
def battery_discharged_energy(data: GatewayData) -> float | None:
    """Energy discharged from the batteries, as the storage CT counts it (Wh)."""
    return _ct_reading(data, MeasurementType.STORAGE, lambda v: v.energy_delivered)


@_percent
def battery_soc(data: GatewayData) -> float | None:
    """State of charge of all batteries together (%)."""
    if (control := _battery_control(data)) is not None:
        return control.soc
    if (live := _live_batteries(data)) is not None:
        return live.soc if live.soc is not None else live.encharge_soc
    if (acb := _ac_batteries(data)) is not None:
        return acb.percent_full
    return None


@_percent
def battery_backup_reserve(data: GatewayData) -> float | None:
    """State of charge kept in reserve for grid outages (%)."""
    if (control := _battery_control(data)) is not None:
        return control.backup_reserve_soc
    live = _live_batteries(data)
    return live.backup_soc if live is not None else None


@_energy
def battery_available_energy(data: GatewayData) -> float | None:
    """Energy stored in the batteries now (Wh)."""
    if (control := _battery_control(data)) is not None:
        return control.available_energy
    if (live := _live_batteries(data)) is not None:
        parts = [v for v in (live.encharge_energy, live.acb_energy) if v is not None]
        return sum(parts) if parts else None
    if (acb := _ac_batteries(data)) is not None:
        return acb.wh_now
    return None


@_energy
def battery_capacity(data: GatewayData) -> float | None:
    """Energy all batteries hold when full (Wh), as the storage controller counts it."""
    control = _battery_control(data)
    return control.capacity if control is not None else None


def storage_settings(data: GatewayData) -> StorageSettings | None:
    """The batteries' settings (mode, reserves), where the site has batteries."""
    return data.get(STORAGE_SETTINGS) if has_batteries(data) else None


# --------------------------------------------------------------------------- grid


def _battery_says(state: str | None) -> bool | None:
    """A battery's grid state: True on grid, False off grid, None when not understood.

    Seen: "grid-tied", "multimode-ongrid"; an off-grid state says "offgrid" somehow.
    """
    if state is None:
        return None
    text = state.strip().lower().replace("_", "-")
    if "off-grid" in text or "offgrid" in text:
        return False
    if text == "grid-tied" or "on-grid" in text or "ongrid" in text:
        return True
    return None


def _collar_says(collar: MeterCollar) -> bool | None:
    """The Meter Collar's view: off grid if any of its three indicators says so.

    Its relay (the MID), its mode (``admin_state_str`` ``..._ON_GRID`` / ``..._OFF_GRID``)
    and its grid state; the mode may change while the grid state does not, so one
    indicator saying "off" is enough.
    """
    mode = (collar.status or "").strip().upper()
    grid_state = (collar.grid_state or "").strip().lower()
    return _consensus(
        [
            collar.grid_relay_closed,
            False if mode.endswith("OFF_GRID") else True if mode.endswith("ON_GRID") else None,
            {"on_grid": True, "off_grid": False, "synchronizing": False}.get(grid_state),
        ]
    )


def _consensus(said: list[bool | None]) -> bool | None:
    """Off if any says off, on if any says on, else unknown."""
    if False in said:
        return False
    return True if True in said else None


def has_grid_status(data: GatewayData) -> bool:
    """The site has a witness of its grid connection (by device, not by value)."""
    inventory = data.get(ENSEMBLE_INVENTORY)
    if inventory is None:
        return False
    return bool(
        inventory.system_controllers
        or inventory.collars
        or any(battery.grid_state is not None for battery in inventory.batteries.values())
    )


def grid_status(data: GatewayData) -> bool | None:
    """Whether the site is connected to the grid now (None: cannot be told)."""
    inventory = data.get(ENSEMBLE_INVENTORY)
    if inventory is None:
        return None
    if (controller := inventory.system_controller) is not None:
        return controller.grid_relay_closed
    if (collar := inventory.collar) is not None:
        return _collar_says(collar)
    return _consensus([_battery_says(b.grid_state) for b in inventory.batteries.values()])
