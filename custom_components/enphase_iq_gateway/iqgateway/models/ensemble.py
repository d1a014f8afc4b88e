"""Batteries and the Ensemble devices.

IQ Batteries, System Controller, Meter Collar, Combiner, dry contacts, generator and
storage settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
import logging
from typing import Self

from ..exceptions import IQGatewayResponseError
from .parse import (
    JSON,
    _bool,
    _dict,
    _dicts,
    _int,
    _milli,
    _num,
    _serial,
    _share,
    _str,
    _sum,
    _time,
)

_LOGGER = logging.getLogger(__name__)


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


def _closed(data: Mapping[str, JSON], key: str) -> bool | None:
    """A relay position: True closed, False open, None when not told.

    The System Controller says "closed", the Meter Collar "close".
    """
    value = _str(data, key)
    if value is None:
        return None
    return {"closed": True, "close": True, "open": False}.get(value.strip().lower())


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
