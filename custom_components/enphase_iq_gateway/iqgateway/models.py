"""Typed, frozen views of the IQ Gateway's endpoint bodies.

Every ``from_*`` constructor is tolerant: gateways from firmware 3.7 to 8.3 leave keys out,
send empty lists, report disabled meters, and use one, two (split) or three phases. A value
the gateway did not send is ``None``; it is never invented. Shapes are read by their
meaning (measurement types, phase counts, report types), never by list position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
import logging
import math
import re
from typing import Any, Self
from xml.etree import ElementTree as ET

from .exceptions import IQGatewayResponseError, IQGatewayUnsupportedError

JSON = Any

_LOGGER = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- helpers


def _num(data: Mapping[str, JSON], *keys: str) -> float | None:
    """The first of ``keys`` holding a finite number (bools and strings are not numbers)."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        try:
            number = float(value)  # an int of hundreds of digits overflows a float
        except OverflowError:
            continue
        if math.isfinite(number):
            return number
    return None


def _sum(values: Iterable[float]) -> float | None:
    """A sum that is a number: huge parts that add up to infinity make it unknown."""
    total = sum(values, 0.0)
    return total if math.isfinite(total) else None


def _int(data: Mapping[str, JSON], *keys: str) -> int | None:
    value = _num(data, *keys)
    return None if value is None else int(value)


def _str(data: Mapping[str, JSON], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _share(data: Mapping[str, JSON], key: str) -> float | None:
    """A percentage: unknown unless within 0-100."""
    value = _num(data, key)
    return value if value is not None and 0 <= value <= 100 else None


def _bool(data: Mapping[str, JSON], key: str) -> bool | None:
    """A JSON boolean (or the strings "true"/"false" some settings use)."""
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _epoch(data: Mapping[str, JSON], *keys: str) -> float | None:
    """A number, or a string of digits (``/inventory.json`` sends its times as strings)."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip().isdecimal():
            return float(value.strip())
        number = _num(data, key)
        if number is not None:
            return number
    return None


def _time(data: Mapping[str, JSON], *keys: str) -> datetime | None:
    """A UNIX timestamp as an aware datetime; 0 and absurd values mean "never"."""
    value = _epoch(data, *keys)
    if value is None or value <= 0 or value > 32503680000:  # year 3000
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _dict(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: JSON) -> list[Mapping[str, JSON]]:
    """The mappings in a list (anything else in it is skipped)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def expect_list(body: JSON, path: str) -> list[Mapping[str, JSON]]:
    """A body that must be a JSON list of objects."""
    if not isinstance(body, list):
        raise IQGatewayResponseError(f"{path} did not return a list")
    return _dicts(body)


def expect_dict(body: JSON, path: str) -> Mapping[str, JSON]:
    """A body that must be a JSON object."""
    if not isinstance(body, Mapping):
        raise IQGatewayResponseError(f"{path} did not return an object")
    return body


# --------------------------------------------------------------------------- /info


# Parts of at most 9 digits: a longer run is no version, and int() refuses huge ones.
_FIRMWARE_RE = re.compile(r"(?<!\d)(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?(?!\d)")


def parse_firmware(text: str) -> tuple[int, int, int]:
    """``D8.2.127`` / ``R3.9.36`` / ``8.3.5289`` -> ``(8, 2, 127)``; unknown -> (0, 0, 0)."""
    match = _FIRMWARE_RE.search(text)
    if match is None:
        return (0, 0, 0)
    major, minor, patch = match.groups()
    return (int(major), int(minor), int(patch or 0))


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """``GET /info`` (XML, no authentication)."""

    serial: str
    part_number: str | None
    firmware: str
    metered: bool | None
    web_tokens: bool | None

    @property
    def firmware_version(self) -> tuple[int, int, int]:
        """The firmware as a comparable tuple."""
        return parse_firmware(self.firmware)

    @property
    def tokens_required(self) -> bool:
        """Firmware 7 and newer needs a token; older firmware has no token auth at all."""
        if self.web_tokens is not None:
            return self.web_tokens
        return self.firmware_version >= (7, 0, 0)

    @classmethod
    def from_xml(cls, text: str) -> Self:
        """Parse the XML; anything that is not an ``envoy_info`` document is refused."""
        try:
            # The gateway on the local network; expat refuses entity-expansion bombs.
            root = ET.fromstring(text)  # noqa: S314
        except ET.ParseError as err:
            raise IQGatewayUnsupportedError("/info is not XML: not an IQ Gateway") from err
        if root.tag != "envoy_info":
            raise IQGatewayUnsupportedError("/info is not an IQ Gateway's envoy_info")
        device = root.find("device")
        serial = _xml_text(device, "sn")
        if device is None or not serial:
            raise IQGatewayUnsupportedError("/info has no serial number")
        return cls(
            serial=serial,
            part_number=_xml_text(device, "pn"),
            firmware=_xml_text(device, "software") or "",
            metered=_xml_bool(_xml_text(device, "imeter")),
            web_tokens=_xml_bool(_xml_text(root, "web-tokens")),
        )


def _xml_text(node: ET.Element | None, tag: str) -> str | None:
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _xml_bool(text: str | None) -> bool | None:
    if text is None:
        return None
    return text.strip().lower() in ("true", "1", "yes")


# --------------------------------------------------------------------------- production


@dataclass(frozen=True, slots=True)
class EnergyCounters:
    """Watts now and watt-hours today / last seven days / lifetime.

    The shape of ``/api/v1/production`` and of each source in ``/ivp/pdm/energy``.
    """

    watts_now: float | None
    wh_today: float | None
    wh_last_seven_days: float | None
    wh_lifetime: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read one counters object (``wattNow`` is a spelling seen in Enphase's docs)."""
        return cls(
            watts_now=_num(data, "wattsNow", "wattNow"),
            wh_today=_num(data, "wattHoursToday"),
            wh_last_seven_days=_num(data, "wattHoursSevenDays"),
            wh_lifetime=_num(data, "wattHoursLifetime"),
        )

    @property
    def counts_nothing(self) -> bool:
        """No energy counted at all: the source is not installed (or its CT disabled)."""
        return not any((self.wh_today, self.wh_last_seven_days, self.wh_lifetime))


@dataclass(frozen=True, slots=True)
class PdmEnergy:
    """``GET /ivp/pdm/energy``: production counters per source.

    Sources: pcu = microinverters, rgm = revenue-grade meter, eim = CT. Its consumption
    section is not used: the CT readings have it.
    """

    production: Mapping[str, EnergyCounters]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the production section; sources are kept by their own names."""
        return cls(
            production={
                str(name): EnergyCounters.from_dict(counters)
                for name, counters in _dict(data.get("production")).items()
                if isinstance(counters, Mapping)
            }
        )

    @property
    def microinverters(self) -> EnergyCounters | None:
        """Production counted by the microinverters (``pcu``; ``pou`` in older docs)."""
        return self.production.get("pcu") or self.production.get("pou")


@dataclass(frozen=True, slots=True)
class Inverter:
    """One microinverter in ``GET /api/v1/production/inverters``."""

    serial: str
    last_report_watts: float | None
    max_report_watts: float | None
    last_report: datetime | None
    device_type: int | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self | None:
        """Read one inverter; an entry without a serial number is skipped (None)."""
        serial = data.get("serialNumber")
        if isinstance(serial, int) and not isinstance(serial, bool):
            serial = str(serial)
        if not isinstance(serial, str) or not serial:
            return None
        return cls(
            serial=serial,
            last_report_watts=_num(data, "lastReportWatts"),
            max_report_watts=_num(data, "maxReportWatts"),
            last_report=_time(data, "lastReportDate"),
            device_type=_int(data, "devType"),
        )


# ``devType`` of a microinverter (PCU) in the inverters list. AC Batteries are listed there
# too (devType 11, with their own power), and other device kinds may be: they are not
# microinverters and must not be counted or shown as such. Entries without a devType
# (firmware before 4.10) are all microinverters.
MICROINVERTER_DEVICE_TYPE = 1


def inverters_from_list(items: Iterable[Mapping[str, JSON]]) -> dict[str, Inverter]:
    """The microinverters of the list, keyed by serial (other device kinds left out)."""
    inverters: dict[str, Inverter] = {}
    for item in items:
        inverter = Inverter.from_dict(item)
        if inverter is not None and inverter.device_type in (None, MICROINVERTER_DEVICE_TYPE):
            inverters[inverter.serial] = inverter
    return inverters


# --------------------------------------------------------------------------- meters


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


# --------------------------------------------------------------------------- reports


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


# --------------------------------------------------------------------------- live data


PHASE_SUFFIXES = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class LivePower:
    """Live power of one flow (pv, grid, load, storage, generator), converted to W.

    ``phases`` holds the power of phases a, b, c where the gateway sent them.
    """

    power: float | None
    phases: tuple[float | None, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read one flow (milliwatts in the body)."""
        return cls(
            power=_milli(_num(data, "agg_p_mw")),
            phases=tuple(_milli(_num(data, f"agg_p_ph_{ph}_mw")) for ph in PHASE_SUFFIXES),
        )


def _milli(value: float | None) -> float | None:
    return None if value is None else value / 1000


LIVE_FLOWS = ("pv", "grid", "load", "storage", "generator")


@dataclass(frozen=True, slots=True)
class LiveData:
    """``GET /ivp/livedata/status``.

    The gateway refreshes it only while its live stream is on; ``last_update`` is when it
    last did (the gateway's clock).
    """

    last_update: datetime | None
    phase_count: int | None
    is_split_phase: bool | None
    soc: float | None
    backup_soc: float | None
    main_relay_state: int | None
    gen_relay_state: int | None
    encharge_soc: float | None
    encharge_energy: float | None
    acb_soc: float | None
    acb_energy: float | None
    flows: Mapping[str, LivePower]
    connection: Mapping[str, str]
    counters: Mapping[str, int]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the meters, connection and counters sections."""
        meters = _dict(data.get("meters"))
        split = _int(meters, "is_split_phase")
        return cls(
            last_update=_time(meters, "last_update"),
            phase_count=_int(meters, "phase_count"),
            is_split_phase=None if split is None else bool(split),
            soc=_num(meters, "soc"),
            backup_soc=_num(meters, "backup_soc"),
            main_relay_state=_int(meters, "main_relay_state"),
            gen_relay_state=_int(meters, "gen_relay_state"),
            encharge_soc=_num(meters, "enc_agg_soc"),
            encharge_energy=_num(meters, "enc_agg_energy"),
            acb_soc=_num(meters, "acb_agg_soc"),
            acb_energy=_num(meters, "acb_agg_energy"),
            flows={
                name: LivePower.from_dict(meters[name])
                for name in LIVE_FLOWS
                if isinstance(meters.get(name), Mapping)
            },
            connection={
                str(k): v for k, v in _dict(data.get("connection")).items() if isinstance(v, str)
            },
            counters={
                str(k): int(v)
                for k, v in _dict(data.get("counters")).items()
                if isinstance(v, int) and not isinstance(v, bool)
            },
        )

    @property
    def streaming(self) -> bool:
        """The gateway says its live stream is on (``connection.sc_stream``), refreshing this."""
        return self.connection.get("sc_stream") == "enabled"


# --------------------------------------------------------------------------- batteries


@dataclass(frozen=True, slots=True)
class BatteryControl:
    """``GET /ivp/ensemble/secctrl``: the storage controller's view of all batteries.

    It counts IQ Batteries (``ENC_``) and AC Batteries (``ACB_``) together; a gateway
    without batteries answers too, with every capacity zero.
    """

    soc: float | None
    capacity: float | None
    encharge_energy: float | None
    encharge_capacity: float | None
    acb_energy: float | None
    backup_reserve_soc: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the aggregate fields (the grid-forming settings beside them are not used)."""
        return cls(
            soc=_num(data, "agg_soc"),
            capacity=_num(data, "Max_energy"),
            encharge_energy=_num(data, "ENC_agg_avail_energy"),
            encharge_capacity=_num(data, "Enc_max_available_capacity", "Enc_commissioned_capacity"),
            acb_energy=_num(data, "ACB_agg_energy"),
            # The reserve in force (the configured one, unless the gateway adjusted it).
            backup_reserve_soc=_num(data, "adjusted_backup_soc", "configured_backup_soc"),
        )

    @property
    def has_batteries(self) -> bool:
        """Batteries are commissioned: some capacity is counted."""
        return any(v is not None and v > 0 for v in (self.capacity, self.encharge_capacity))

    @property
    def available_energy(self) -> float | None:
        """Energy stored in all batteries now (Wh)."""
        parts = [v for v in (self.encharge_energy, self.acb_energy) if v is not None]
        return _sum(parts) if parts else None


@dataclass(frozen=True, slots=True)
class BatteryPower:
    """``GET /ivp/ensemble/power``: each IQ Battery's power (AC Batteries are not listed).

    Keyed by battery serial; W, positive = discharging (milliwatts in the body).
    """

    batteries: Mapping[str, float | None]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the device list (firmware names it ``devices:``, colon included)."""
        devices = data.get("devices:", data.get("devices"))
        batteries: dict[str, float | None] = {}
        for device in _dicts(devices):
            serial = _str(device, "serial_num")
            if serial:
                batteries[serial] = _milli(_num(device, "real_power_mw"))
        return cls(batteries=batteries)

    @property
    def total(self) -> float | None:
        """All IQ Batteries together (W); unknown if any battery's power is."""
        values = list(self.batteries.values())
        if not values or any(v is None for v in values):
            return None
        return _sum([v for v in values if v is not None])


# --------------------------------------------------------------------------- ensemble devices


def _closed(data: Mapping[str, JSON], key: str) -> bool | None:
    """A relay position: True closed, False open, None when not told.

    The System Controller says "closed", the Meter Collar "close".
    """
    value = _str(data, key)
    if value is None:
        return None
    return {"closed": True, "close": True, "open": False}.get(value.strip().lower())


def _serial(data: Mapping[str, JSON], key: str) -> str | None:
    """A serial number (a few firmware send it as a number)."""
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


@dataclass(frozen=True, slots=True)
class EnsembleUnit:
    """What every device of ``/ivp/ensemble/inventory`` says of itself."""

    serial: str
    part_number: str | None
    firmware: str | None
    last_report: datetime | None
    status: str | None
    communicating: bool | None


def _unit(
    serial: str, data: Mapping[str, JSON], firmware: str | None = None
) -> tuple[str, str | None, str | None, datetime | None, str | None, bool | None]:
    """An inventory device's ``EnsembleUnit`` fields, in order (``firmware`` if known)."""
    return (
        serial,
        _str(data, "part_num"),
        firmware or _str(data, "img_pnum_running"),
        _time(data, "last_rpt_date"),
        _str(data, "admin_state_str"),
        _bool(data, "communicating"),
    )


@dataclass(frozen=True, slots=True)
class IQBattery(EnsembleUnit):
    """An IQ Battery (``ENCHARGE``) in ``/ivp/ensemble/inventory``.

    Temperatures in °C, capacity in Wh, state of charge in %.
    """

    operating: bool | None
    sleeping: bool | None
    dc_switch_off: bool | None
    soc: float | None
    temperature: float | None
    max_cell_temperature: float | None
    capacity: float | None
    grid_state: str | None

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, JSON]) -> Self:
        """Read one battery."""
        return cls(
            *_unit(serial, data),
            operating=_bool(data, "operating"),
            sleeping=_bool(data, "sleep_enabled"),
            dc_switch_off=_bool(data, "dc_switch_off"),
            soc=_share(data, "percentFull"),
            temperature=_num(data, "temperature"),
            max_cell_temperature=_num(data, "maxCellTemp"),
            capacity=_num(data, "encharge_capacity"),
            grid_state=_str(data, "reported_enc_grid_state"),
        )


@dataclass(frozen=True, slots=True)
class SystemController(EnsembleUnit):
    """The IQ System Controller (``ENPOWER``): the site's grid relay.

    ``grid_relay_closed`` is the relay's actual position (closed: the site is connected
    to the grid), ``grid_relay_commanded`` the position it was told to take. Its
    temperature is in °F, unlike every other device's.
    """

    temperature_f: float | None
    grid_relay_closed: bool | None
    grid_relay_commanded: bool | None
    grid_mode: str | None

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, JSON]) -> Self:
        """Read the controller."""
        return cls(
            *_unit(serial, data),
            temperature_f=_num(data, "temperature"),
            grid_relay_closed=_closed(data, "mains_oper_state"),
            grid_relay_commanded=_closed(data, "mains_admin_state"),
            grid_mode=_str(data, "Enpwr_grid_mode"),
        )


@dataclass(frozen=True, slots=True)
class MeterCollar(EnsembleUnit):
    """The IQ Meter Collar (``COLLAR``): a grid relay (the MID) under the utility meter.

    Temperature in °C.
    """

    temperature: float | None
    grid_relay_closed: bool | None
    grid_state: str | None
    collar_state: str | None
    control_error: int | None

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, JSON]) -> Self:
        """Read the collar."""
        return cls(
            *_unit(serial, data),
            temperature=_num(data, "temperature"),
            grid_relay_closed=_closed(data, "mid_state"),
            grid_state=_str(data, "grid_state"),
            collar_state=_str(data, "collar_state"),
            control_error=_int(data, "control_error"),
        )


@dataclass(frozen=True, slots=True)
class Combiner(EnsembleUnit):
    """The IQ Combiner 6C: its controller (``C6 COMBINER CONTROLLER``) and meter.

    The meter (``C6 RGM``) is joined only where the gateway lists exactly one of each.
    """

    meter_firmware: str | None = None
    meter_state: int | None = None

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, JSON]) -> Self:
        """Read the controller (its firmware is ``fw_version``)."""
        return cls(*_unit(serial, data, _str(data, "fw_version")))


class EnsembleType(StrEnum):
    """The device groups of ``/ivp/ensemble/inventory``."""

    BATTERY = "ENCHARGE"
    SYSTEM_CONTROLLER = "ENPOWER"
    COLLAR = "COLLAR"
    COMBINER = "C6 COMBINER CONTROLLER"
    COMBINER_METER = "C6 RGM"


@cache
def _ignore_type(kind: str) -> None:
    """Say once (per process) that a device type is not shown."""
    _LOGGER.debug("Ignoring ensemble inventory devices of unknown type %r", kind)


@dataclass(frozen=True, slots=True)
class EnsembleInventory:
    """``GET /ivp/ensemble/inventory``: the Ensemble devices, each kind keyed by serial.

    Groups of an unknown type are ignored (one debug line).
    """

    batteries: Mapping[str, IQBattery]
    system_controllers: Mapping[str, SystemController]
    collars: Mapping[str, MeterCollar]
    combiners: Mapping[str, Combiner]

    @classmethod
    def from_list(cls, groups: Iterable[Mapping[str, JSON]]) -> Self:
        """Read every group; a device without a serial is skipped."""
        devices: dict[str, dict[str, Mapping[str, JSON]]] = {kind: {} for kind in EnsembleType}
        for group in groups:
            kind = str(group.get("type", "")).strip().upper()
            if kind not in devices:
                _ignore_type(kind)
                continue
            for device in _dicts(group.get("devices")):
                serial = _serial(device, "serial_num")
                if serial is not None:
                    devices[kind][serial] = device
        combiners = {
            serial: Combiner.from_dict(serial, device)
            for serial, device in devices[EnsembleType.COMBINER].items()
        }
        meters = devices[EnsembleType.COMBINER_METER]
        if len(combiners) == 1 and len(meters) == 1:
            # One combiner and one meter: the meter is the combiner's (with several, which
            # meter sits in which combiner cannot be told, and the meters are left out).
            [(serial, combiner)] = combiners.items()
            [meter] = meters.values()
            combiners[serial] = replace(
                combiner,
                meter_firmware=_str(meter, "FW Version"),
                meter_state=_int(meter, "Device State"),
            )
        return cls(
            batteries={
                serial: IQBattery.from_dict(serial, device)
                for serial, device in devices[EnsembleType.BATTERY].items()
            },
            system_controllers={
                serial: SystemController.from_dict(serial, device)
                for serial, device in devices[EnsembleType.SYSTEM_CONTROLLER].items()
            },
            collars={
                serial: MeterCollar.from_dict(serial, device)
                for serial, device in devices[EnsembleType.COLLAR].items()
            },
            combiners=combiners,
        )

    @property
    def empty(self) -> bool:
        """No device is listed (a gateway without Ensemble devices)."""
        return not (self.batteries or self.system_controllers or self.collars or self.combiners)

    @property
    def system_controller(self) -> SystemController | None:
        """The site's System Controller (the first, should several be listed)."""
        return next(iter(self.system_controllers.values()), None)

    @property
    def collar(self) -> MeterCollar | None:
        """The site's Meter Collar (the first, should several be listed)."""
        return next(iter(self.collars.values()), None)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What ``/ivp/ensemble/status`` adds about one device.

    Its communication interface (CAN, ZigBee, USB) and, for an IQ Battery, its rated
    power (W).
    """

    interface: str | None
    rated_power: float | None


@dataclass(frozen=True, slots=True)
class EnsembleStatus:
    """``GET /ivp/ensemble/status``, keyed by device serial.

    It lists the inventory's devices again with other details (and modules the inventory
    does not list); its ``relay`` section reports a closed grid relay even on sites that
    have none, so it is not read.
    """

    devices: Mapping[str, DeviceStatus]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read ``inventory.serial_nums``."""
        devices = _dict(_dict(data.get("inventory")).get("serial_nums"))
        return cls(
            devices={
                str(serial): DeviceStatus(
                    interface=_str(device, "com_interface_str"),
                    rated_power=_num(device, "encharge_rated_power"),
                )
                for serial, device in devices.items()
                if isinstance(device, Mapping)
            }
        )

    @property
    def empty(self) -> bool:
        """No device listed (a gateway without Ensemble devices)."""
        return not self.devices


@dataclass(frozen=True, slots=True)
class DryContact:
    """One dry contact (relay) of the System Controller: status joined with settings."""

    id: str
    closed: bool | None
    load_name: str | None = None
    type: str | None = None
    mode: str | None = None
    grid_action: str | None = None
    micro_grid_action: str | None = None
    generator_action: str | None = None
    soc_low: float | None = None
    soc_high: float | None = None

    @property
    def name(self) -> str:
        """The name the installer gave its load, else the contact's id (NC1, NO2, ...)."""
        return self.load_name or self.id

    @property
    def wired(self) -> bool:
        """Something is wired to it: its type is set (a type ``NONE`` is an unused contact)."""
        return self.type is None or self.type.upper() != "NONE"


def dry_contacts_from_dict(data: Mapping[str, JSON]) -> dict[str, DryContact]:
    """``GET /ivp/ensemble/dry_contacts``: each contact's position, by id."""
    contacts: dict[str, DryContact] = {}
    for item in _dicts(data.get("dry_contacts")):
        contact_id = _str(item, "id")
        if contact_id:
            contacts[contact_id] = DryContact(id=contact_id, closed=_closed(item, "status"))
    return contacts


def dry_contact_settings_from_dict(data: Mapping[str, JSON]) -> dict[str, DryContact]:
    """``GET /ivp/ss/dry_contact_settings``: each contact's settings, by id (no position)."""
    settings: dict[str, DryContact] = {}
    for item in _dicts(data.get("dry_contacts")):
        contact_id = _str(item, "id")
        if contact_id:
            settings[contact_id] = DryContact(
                id=contact_id,
                closed=None,
                load_name=(_str(item, "load_name") or "").strip() or None,
                type=_str(item, "type"),
                mode=_str(item, "mode"),
                grid_action=_str(item, "grid_action"),
                micro_grid_action=_str(item, "micro_grid_action"),
                generator_action=_str(item, "gen_action"),
                soc_low=_num(item, "soc_low"),
                soc_high=_num(item, "soc_high"),
            )
    return settings


def join_dry_contacts(
    status: Mapping[str, DryContact], settings: Mapping[str, DryContact]
) -> dict[str, DryContact]:
    """The contacts of the status, each with its settings (by id) where they are known."""
    return {
        contact_id: replace(settings[contact_id], closed=contact.closed)
        if contact_id in settings
        else contact
        for contact_id, contact in status.items()
    }


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """``GET /ivp/ss/gen_config``: a generator's configuration (``{}`` without one)."""

    configured: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Any key means a generator was configured."""
        return cls(configured=bool(data))


@dataclass(frozen=True, slots=True)
class Generator:
    """``GET /ivp/ensemble/generator``: the generator relay of the System Controller."""

    relay_closed: bool | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the relay (``oper_state``)."""
        return cls(relay_closed=_closed(data, "oper_state"))


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """``GET /admin/lib/tariff``: the batteries' settings (``tariff.storage_settings``).

    ``mode`` as the gateway spells it (self-consumption, economy, backup, ...); reserves in %.
    """

    mode: str | None
    reserve_soc: float | None
    very_low_soc: float | None
    charge_from_grid: bool | None

    @classmethod
    def from_tariff(cls, data: Mapping[str, JSON]) -> Self:
        """Read the settings; a tariff without them (firmware before 7) is refused."""
        settings = _dict(data.get("tariff")).get("storage_settings")
        if not isinstance(settings, Mapping):
            raise IQGatewayResponseError("/admin/lib/tariff has no storage settings")
        return cls(
            mode=_str(settings, "mode"),
            reserve_soc=_share(settings, "reserved_soc"),
            very_low_soc=_share(settings, "very_low_soc"),
            charge_from_grid=_bool(settings, "charge_from_grid"),
        )


# --------------------------------------------------------------------------- device data


@dataclass(frozen=True, slots=True)
class InverterDetail:
    """One microinverter in ``GET /ivp/pdm/device_data``, in SI units.

    The body gives mV, mA, mHz and joules; these are V, A, Hz and Wh. ``reporting`` is
    False for a device the gateway marks inactive or gone (``modGone``): its values are
    not current.
    """

    serial: str
    reporting: bool
    dc_voltage: float | None
    dc_current: float | None
    ac_voltage: float | None
    ac_current: float | None
    ac_frequency: float | None
    temperature: float | None
    lifetime_energy: float | None

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, JSON]) -> Self:
        """Read a device's first channel (a microinverter has one)."""
        channel = next(iter(_dicts(data.get("channels"))), {})
        reading = _dict(channel.get("lastReading"))
        lifetime = _dict(channel.get("lifetime"))
        joules = _num(lifetime, "joulesProduced")
        return cls(
            serial=serial,
            # Told inactive or gone: not reporting (a gateway that does not say is believed).
            reporting=_bool(data, "active") is not False and _bool(data, "modGone") is not True,
            dc_voltage=_milli(_num(reading, "dcVoltageINmV")),
            dc_current=_milli(_num(reading, "dcCurrentINmA")),
            ac_voltage=_milli(_num(reading, "acVoltageINmV")),
            # The gateway spells this one with a lower-case "n".
            ac_current=_milli(_num(reading, "acCurrentInmA", "acCurrentINmA")),
            ac_frequency=_milli(_num(reading, "acFrequencyINmHz")),
            temperature=_num(reading, "channelTemp"),
            lifetime_energy=None if joules is None or joules < 0 else joules / 3600,
        )

    @property
    def dc_power(self) -> float | None:
        """DC power (W) at the moment of the reading: voltage times current."""
        if self.dc_voltage is None or self.dc_current is None:
            return None
        return self.dc_voltage * self.dc_current


# devName of a microinverter in /ivp/pdm/device_data (others: eim CT channels, acb AC
# Batteries, nsrb Q-Relays).
MICROINVERTER_DEVICE_NAME = "pcu"


def inverter_details_from_dict(data: Mapping[str, JSON]) -> dict[str, InverterDetail]:
    """The microinverters of ``/ivp/pdm/device_data``, keyed by serial.

    The body is keyed by device id, beside two counts that are not devices. A serial
    listed twice is left out: which entry is right cannot be told.
    """
    details: dict[str, InverterDetail] = {}
    twice: set[str] = set()
    for device in data.values():
        if not isinstance(device, Mapping) or device.get("devName") != MICROINVERTER_DEVICE_NAME:
            continue
        serial = _serial(device, "sn")
        if serial is None:
            continue
        if serial in details:
            twice.add(serial)
        details[serial] = InverterDetail.from_dict(serial, device)
    return {serial: detail for serial, detail in details.items() if serial not in twice}


# --------------------------------------------------------------------------- AC Batteries


@dataclass(frozen=True, slots=True)
class AcBattery:
    """An AC Battery in the ``ACB`` group of ``GET /inventory.json`` (°C, %)."""

    serial: str
    part_number: str | None
    firmware: str | None
    last_report: datetime | None
    communicating: bool | None
    operating: bool | None
    sleeping: bool | None
    soc: float | None
    max_cell_temperature: float | None
    charge_status: str | None

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, JSON]) -> Self:
        """Read one AC Battery (its times are strings of digits)."""
        return cls(
            serial=serial,
            part_number=_str(data, "part_num"),
            firmware=_str(data, "img_pnum_running"),
            last_report=_time(data, "last_rpt_date"),
            communicating=_bool(data, "communicating"),
            operating=_bool(data, "operating"),
            sleeping=_bool(data, "sleep_enabled"),
            soc=_share(data, "percentFull"),
            max_cell_temperature=_num(data, "maxCellTemp"),
            charge_status=_str(data, "charge_status"),
        )


def ac_batteries_from_list(groups: Iterable[Mapping[str, JSON]]) -> dict[str, AcBattery]:
    """The AC Batteries of ``/inventory.json``, keyed by serial.

    A device with ``admin_state`` 0 is decommissioned (the gateway still lists it).
    """
    batteries: dict[str, AcBattery] = {}
    for group in groups:
        if str(group.get("type", "")).strip().upper() != "ACB":
            continue
        for device in _dicts(group.get("devices")):
            serial = _serial(device, "serial_num")
            if serial is not None and _int(device, "admin_state") != 0:
                batteries[serial] = AcBattery.from_dict(serial, device)
    return batteries


# --------------------------------------------------------------------------- production.json


@dataclass(frozen=True, slots=True)
class ProductionJsonMeter:
    """An ``eim`` (CT) entry of ``/production.json``."""

    measurement_type: str
    active_count: int | None
    watts_now: float | None
    wh_lifetime: float | None
    wh_today: float | None
    wh_last_seven_days: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON], default_type: str) -> Self:
        """Read one eim entry; old firmware leaves ``measurementType`` out."""
        return cls(
            measurement_type=_str(data, "measurementType") or default_type,
            active_count=_int(data, "activeCount"),
            watts_now=_num(data, "wNow"),
            wh_lifetime=_num(data, "whLifetime"),
            wh_today=_num(data, "whToday"),
            wh_last_seven_days=_num(data, "whLastSevenDays"),
        )


@dataclass(frozen=True, slots=True)
class StorageSummary:
    """The ``acb`` (AC Battery) entry of ``/production.json``'s storage section."""

    active_count: int | None
    watts_now: float | None
    wh_now: float | None
    percent_full: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the storage entry."""
        return cls(
            active_count=_int(data, "activeCount"),
            watts_now=_num(data, "wNow"),
            wh_now=_num(data, "whNow"),
            percent_full=_num(data, "percentFull"),
        )


@dataclass(frozen=True, slots=True)
class ProductionJson:
    """``GET /production.json``: inverter and CT summaries, and AC batteries."""

    inverters_watts_now: float | None
    inverters_wh_lifetime: float | None
    meters: Mapping[str, ProductionJsonMeter]
    storage: StorageSummary | None

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the sections; eim entries are keyed by measurement type."""
        inverters: Mapping[str, JSON] = {}
        meters: dict[str, ProductionJsonMeter] = {}
        for entry in _dicts(data.get("production")):
            if entry.get("type") == "inverters":
                inverters = entry
            elif entry.get("type") == "eim":
                meter = ProductionJsonMeter.from_dict(entry, MeasurementType.PRODUCTION)
                meters.setdefault(meter.measurement_type, meter)
        for entry in _dicts(data.get("consumption")):
            if entry.get("type") == "eim":
                meter = ProductionJsonMeter.from_dict(entry, MeasurementType.TOTAL_CONSUMPTION)
                meters.setdefault(meter.measurement_type, meter)
        storage = next(
            (
                StorageSummary.from_dict(e)
                for e in _dicts(data.get("storage"))
                if e.get("type") == "acb"
            ),
            None,
        )
        return cls(
            inverters_watts_now=_num(inverters, "wNow"),
            inverters_wh_lifetime=_num(inverters, "whLifetime"),
            meters=meters,
            storage=storage,
        )

    @property
    def has_batteries(self) -> bool:
        """AC Batteries are installed."""
        return bool(self.storage and self.storage.active_count)


# --------------------------------------------------------------------------- legacy HTML


_LEGACY_ROW_RE = re.compile(
    r"<td>\s*(?P<label>(?i:currently|today|past week|since installation))\s*</td>\s*"
    r"<td>\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[kMG]?W)h?\s*</td>",
)
# Case matters: "mW" would be milliwatts, not megawatts, and the page never says it.
_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def legacy_production_from_html(text: str) -> EnergyCounters:
    """The production page of firmware 3.x (the only data such gateways publish).

    Values are rounded by the gateway to three significant digits ("133 MWh").
    """
    found: dict[str, float] = {}
    for match in _LEGACY_ROW_RE.finditer(text):
        unit = match["unit"]
        value = float(match["value"]) * _SCALE[unit[:-1]]
        if math.isfinite(value):
            found[match["label"].lower()] = value
    if not found:
        raise IQGatewayResponseError("/production has no production table")
    return EnergyCounters(
        watts_now=found.get("currently"),
        wh_today=found.get("today"),
        wh_last_seven_days=found.get("past week"),
        wh_lifetime=found.get("since installation"),
    )


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True, slots=True)
class RawBody:
    """An endpoint's body as received, kept for diagnostics."""

    path: str
    status: int
    content_type: str | None
    body: str
