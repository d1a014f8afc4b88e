"""CT meters, joined by meter id.

From ``/ivp/meters`` (configuration), ``/ivp/meters/readings`` and the consumption reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from .parse import JSON, _dict, _dicts, _int, _num, _str


class MeasurementType(StrEnum):
    """What a CT meter measures (``measurementType`` / ``reportType``)."""

    PRODUCTION = "production"
    NET_CONSUMPTION = "net-consumption"
    TOTAL_CONSUMPTION = "total-consumption"
    STORAGE = "storage"
    BACKFEED = "backfeed"
    LOAD = "load"
    EV = "evse"
    PV3P = "pv3p"


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """One CT meter in ``GET /ivp/meters``."""

    eid: int
    enabled: bool
    measurement_type: str
    phase_count: int | None
    metering_status: str | None
    status_flags: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self | None:
        """Read one meter; an entry without eid or measurement type is skipped (None)."""
        eid = _int(data, "eid")
        measurement_type = _str(data, "measurementType")
        if eid is None or not measurement_type:
            return None
        flags = data.get("statusFlags")
        return cls(
            eid=eid,
            enabled=_str(data, "state") == "enabled",
            measurement_type=measurement_type,
            phase_count=_phase_count(data),
            metering_status=_str(data, "meteringStatus"),
            status_flags=tuple(f for f in flags if isinstance(f, str))
            if isinstance(flags, list)
            else (),
        )


# Phases a meter measures when it does not give its phaseCount ("three" says nothing: a
# three-phase site may have a CT on one phase only).
_PHASES_BY_MODE = {"single": 1, "split": 2}


def _phase_count(data: Mapping[str, JSON]) -> int | None:
    """How many phases the meter measures (1-3), or None when it cannot be told."""
    count = _int(data, "phaseCount")
    if count is None:
        mode = _str(data, "phaseMode")
        return _PHASES_BY_MODE.get(mode) if mode is not None else None
    return count if 1 <= count <= 3 else None


def meters_from_list(items: Iterable[Mapping[str, JSON]]) -> tuple[MeterConfig, ...]:
    """All meters of ``/ivp/meters`` (enabled or not)."""
    meters = (MeterConfig.from_dict(item) for item in items)
    return tuple(meter for meter in meters if meter is not None)


@dataclass(frozen=True, slots=True)
class MeterValues:
    """The readings of a CT meter or of one of its phase channels."""

    active_power: float | None = None
    apparent_power: float | None = None
    reactive_power: float | None = None
    energy_delivered: float | None = None
    energy_received: float | None = None
    apparent_energy: float | None = None
    reactive_energy_lagging: float | None = None
    reactive_energy_leading: float | None = None
    voltage: float | None = None
    current: float | None = None
    frequency: float | None = None
    power_factor: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read one reading or channel."""
        return cls(
            active_power=_num(data, "activePower", "instantaneousDemand"),
            apparent_power=_num(data, "apparentPower"),
            reactive_power=_num(data, "reactivePower"),
            energy_delivered=_num(data, "actEnergyDlvd"),
            energy_received=_num(data, "actEnergyRcvd"),
            apparent_energy=_num(data, "apparentEnergy"),
            reactive_energy_lagging=_num(data, "reactEnergyLagg"),
            reactive_energy_leading=_num(data, "reactEnergyLead"),
            voltage=_num(data, "voltage"),
            current=_num(data, "current"),
            frequency=_num(data, "freq"),
            power_factor=_num(data, "pwrFactor"),
        )

    @property
    def power_factor_of_powers(self) -> float | None:
        """The power factor as the active over the apparent power (signed as the active).

        What a power factor is, for totals over several phases: the gateway's own total is
        the sum (or, on other firmware, the mean) of its phases' factors, which is no power
        factor at all (1.94 on a split-phase site). The apparent power's sign is taken as
        the flow's direction (the net consumption report signs it), not as its size.
        """
        active, apparent = self.active_power, self.apparent_power
        if active is None or apparent is None or apparent == 0:
            return None
        return active / abs(apparent)

    @classmethod
    def from_report(cls, data: Mapping[str, JSON]) -> Self:
        """Read a consumption report's ``cumulative`` or one of its ``lines``."""
        return cls(
            active_power=_num(data, "actPower", "currW"),
            apparent_power=_num(data, "apprntPwr"),
            reactive_power=_num(data, "reactPwr"),
            energy_delivered=_num(data, "whDlvdCum"),
            energy_received=_num(data, "whRcvdCum"),
            apparent_energy=_num(data, "vahCum"),
            reactive_energy_lagging=_num(data, "varhLagCum"),
            reactive_energy_leading=_num(data, "varhLeadCum"),
            voltage=_num(data, "rmsVoltage"),
            current=_num(data, "rmsCurrent"),
            frequency=_num(data, "freqHz"),
            power_factor=_num(data, "pwrFactor"),
        )


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One CT meter in ``GET /ivp/meters/readings``: totals plus a channel per phase."""

    eid: int
    values: MeterValues
    channels: tuple[MeterValues, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self | None:
        """Read one meter's readings; an entry without eid is skipped (None)."""
        eid = _int(data, "eid")
        if eid is None:
            return None
        return cls(
            eid=eid,
            values=MeterValues.from_dict(data),
            channels=tuple(MeterValues.from_dict(ch) for ch in _dicts(data.get("channels"))),
        )


def readings_from_list(items: Iterable[Mapping[str, JSON]]) -> dict[int, MeterReading]:
    """All readings of ``/ivp/meters/readings``, keyed by eid.

    An eid reported twice is left out: which of the two is right cannot be told.
    """
    readings: dict[int, MeterReading] = {}
    twice: set[int] = set()
    for item in items:
        reading = MeterReading.from_dict(item)
        if reading is not None:
            if reading.eid in readings:
                twice.add(reading.eid)
            readings[reading.eid] = reading
    return {eid: reading for eid, reading in readings.items() if eid not in twice}


@dataclass(frozen=True, slots=True)
class CTMeter:
    """An enabled CT meter joined (by eid) with its readings.

    ``phases`` holds the channels that carry a phase of this installation: the first
    ``phaseCount`` channels. A meter that measures one phase has none (its totals are the
    phase), and the zero or noise channels a meter reports beyond its phase count are
    dropped.
    """

    config: MeterConfig
    reading: MeterReading | None

    @property
    def measurement_type(self) -> str:
        """What the meter measures."""
        return self.config.measurement_type

    @property
    def values(self) -> MeterValues | None:
        """The meter's totals, when the gateway reported readings for it."""
        return self.reading.values if self.reading else None

    @property
    def phases(self) -> tuple[MeterValues, ...]:
        """Per-phase channels (L1, L2, L3), only where the meter measures several phases."""
        if self.reading is None:
            return ()
        count = self.config.phase_count
        if count is None or count < 2:
            return ()
        return self.reading.channels[:count]


def join_meters(
    meters: Iterable[MeterConfig], readings: Mapping[int, MeterReading]
) -> dict[str, CTMeter]:
    """Enabled meters keyed by measurement type, each with the readings of its eid.

    A disabled CT can report garbage, so it is left out entirely. Should two enabled
    meters claim one measurement type, the one with the lowest eid is taken (whatever
    their order in the list).
    """
    joined: dict[str, CTMeter] = {}
    for meter in sorted(meters, key=lambda m: m.eid):
        if meter.enabled and meter.measurement_type not in joined:
            joined[meter.measurement_type] = CTMeter(meter, readings.get(meter.eid))
    return joined


def enabled_ct_types(meters: Iterable[MeterConfig]) -> frozenset[str]:
    """The measurement types of the enabled meters."""
    return frozenset(meter.measurement_type for meter in meters if meter.enabled)


@dataclass(frozen=True, slots=True)
class ConsumptionReport:
    """One report of ``GET /ivp/meters/reports/consumption``: totals and a line per channel.

    The report's fields mean what a CT reading's do, under other names, so they are read
    into the same ``MeterValues``.
    """

    report_type: str
    cumulative: MeterValues
    lines: tuple[MeterValues, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self | None:
        """Read one report; one without a ``reportType`` is skipped (None)."""
        report_type = _str(data, "reportType")
        if not report_type:
            return None
        return cls(
            report_type=report_type,
            cumulative=MeterValues.from_report(_dict(data.get("cumulative"))),
            lines=tuple(MeterValues.from_report(line) for line in _dicts(data.get("lines"))),
        )


def reports_from_list(items: Iterable[Mapping[str, JSON]]) -> dict[str, ConsumptionReport]:
    """Reports keyed by ``reportType`` (total-consumption, net-consumption, ...)."""
    reports: dict[str, ConsumptionReport] = {}
    for item in items:
        report = ConsumptionReport.from_dict(item)
        if report is not None and report.report_type not in reports:
            reports[report.report_type] = report
    return reports
