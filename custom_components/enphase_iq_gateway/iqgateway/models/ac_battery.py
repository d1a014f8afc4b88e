"""AC Batteries, from ``/inventory.json``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from .parse import JSON, _bool, _dicts, _int, _num, _serial, _share, _str, _time


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
