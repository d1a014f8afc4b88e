"""Production counters and the microinverters that make them.

From ``/api/v1/production``, ``/production.json``, the legacy HTML page of firmware 3.x,
and ``/api/v1/production/inverters``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
import math
import re
from typing import Self

from ..exceptions import IQGatewayResponseError
from .meters import MeasurementType
from .parse import JSON, _dict, _dicts, _int, _num, _str, _time


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
