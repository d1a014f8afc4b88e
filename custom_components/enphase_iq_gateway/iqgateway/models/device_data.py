"""``/ivp/pdm/device_data``: each microinverter's detail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from .parse import JSON, _bool, _dict, _dicts, _milli, _num, _serial


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
