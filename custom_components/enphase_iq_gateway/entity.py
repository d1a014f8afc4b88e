"""Base entity, the lifetime-counter guard, and the devices of a gateway.

Devices: the gateway itself; one per enabled CT meter ("Production CT", ...); one per
microinverter; one for the batteries where the gateway reports any. All but the gateway
hang off it (``via_device``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import IQGatewayCoordinator
from .iqgateway import GatewayInfo

CT_NAMES = {
    "production": "Production CT",
    "net-consumption": "Net consumption CT",
    "total-consumption": "Total consumption CT",
    "storage": "Storage CT",
    "backfeed": "Backfeed CT",
    "load": "Load CT",
    "evse": "EV charger CT",
    "pv3p": "Third-party PV CT",
}


def gateway_model(info: GatewayInfo) -> str:
    """A model name from what /info says: metered gateways measure with CTs."""
    if info.metered:
        return "IQ Gateway Metered"
    if info.metered is False:
        return "IQ Gateway Standard"
    return "IQ Gateway"


def gateway_device_info(info: GatewayInfo) -> DeviceInfo:
    """The gateway device, registered before the platforms load."""
    part = info.part_number
    return DeviceInfo(
        identifiers={(DOMAIN, info.serial)},
        manufacturer=MANUFACTURER,
        name="IQ Gateway",
        model=gateway_model(info),
        model_id=part.rsplit("-r", 1)[0] if part else None,
        serial_number=info.serial,
        sw_version=info.firmware,
        hw_version=part,
    )


# Home Assistant 2026.8 links a child device to its parent by the parent's registry id
# (``via_device_id``) and deprecates ``via_device`` (identifiers); 2025.x knows only the
# latter. Link the way the running release expects.
VIA_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__


def parent_link(gateway_serial: str, gateway_device_id: str) -> DeviceInfo:
    """The DeviceInfo keys that hang a device off the gateway."""
    if VIA_DEVICE_ID:
        return DeviceInfo(via_device_id=gateway_device_id)
    return cast("DeviceInfo", {"via_device": (DOMAIN, gateway_serial)})


def ct_device_id(gateway_serial: str, measurement_type: str) -> str:
    """The device identifier of a CT meter: the gateway serial and what it measures."""
    return f"{gateway_serial}_ct_{measurement_type}"


def ct_device_info(gateway_serial: str, parent: DeviceInfo, measurement_type: str) -> DeviceInfo:
    """A CT meter's device."""
    name = CT_NAMES.get(measurement_type, f"{measurement_type.replace('-', ' ').capitalize()} CT")
    return DeviceInfo(
        identifiers={(DOMAIN, ct_device_id(gateway_serial, measurement_type))},
        manufacturer=MANUFACTURER,
        name=name,
        model="Current transformer",
        **parent,
    )


def inverter_device_info(parent: DeviceInfo, inverter_serial: str) -> DeviceInfo:
    """A microinverter's device (its own serial identifies it)."""
    return DeviceInfo(
        identifiers={(DOMAIN, inverter_serial)},
        manufacturer=MANUFACTURER,
        name=f"Microinverter {inverter_serial}",
        model="Microinverter",
        serial_number=inverter_serial,
        **parent,
    )


def battery_device_id(gateway_serial: str) -> str:
    """The device identifier of the gateway's batteries, taken together."""
    return f"{gateway_serial}_battery"


def battery_device_info(gateway_serial: str, parent: DeviceInfo) -> DeviceInfo:
    """The batteries' device."""
    return DeviceInfo(
        identifiers={(DOMAIN, battery_device_id(gateway_serial))},
        manufacturer=MANUFACTURER,
        name="Battery",
        model="IQ Battery",
        **parent,
    )


class IQGatewayEntity(CoordinatorEntity[IQGatewayCoordinator]):
    """An entity of an IQ Gateway config entry."""

    _attr_has_entity_name = True

    @property
    def gateway_serial(self) -> str:
        """The serial of the gateway this entity belongs to."""
        return str(self.coordinator.config_entry.unique_id)

    @property
    def parent(self) -> DeviceInfo:
        """DeviceInfo keys hanging a device off the gateway device."""
        return gateway_parent(self.coordinator)


def gateway_parent(coordinator: IQGatewayCoordinator) -> DeviceInfo:
    """DeviceInfo keys hanging a device off the gateway of this coordinator."""
    entry = coordinator.config_entry
    return parent_link(str(entry.unique_id), entry.runtime_data.gateway_device_id)


# A lifetime counter rising more than this per day is a glitch, not energy: a whole
# utility-scale plant does not make 4 GWh a day.
ABSURD_WH_PER_DAY = 4e9
DIP_CONFIRMATIONS = 3


@dataclass(slots=True)
class LifetimeGuard:
    """Keeps a lifetime energy counter monotonic for the recorder.

    Long-term statistics read any drop of a ``total_increasing`` sensor as a meter reset
    and then count the whole value again: a glitch of one poll becomes a phantom spike of
    years of energy. So a lower reading is held back (the last good value stays) until it
    has been seen DIP_CONFIRMATIONS times in a row, when it is accepted as a real reset
    (a replaced gateway or meter). Zero and absurd jumps are unavailable, not numbers.
    """

    value: float | None = None
    accepted_at: datetime | None = None
    dips: int = 0

    def restore(self, value: float | None, when: datetime) -> None:
        """Start from the value published before a restart."""
        if value is not None and value > 0:
            self.value, self.accepted_at = value, when

    def update(self, reading: float | None, now: datetime) -> float | None:
        """The value to publish for ``reading`` (None: unavailable)."""
        if reading is None or reading <= 0:
            self.dips = 0
            return None
        if self.value is None or self.accepted_at is None:
            self.value, self.accepted_at, self.dips = reading, now, 0
            return reading
        if reading < self.value:
            self.dips += 1
            if self.dips < DIP_CONFIRMATIONS:
                return self.value
            self.value, self.accepted_at, self.dips = reading, now, 0
            return reading
        self.dips = 0
        days = max((now - self.accepted_at) / timedelta(days=1), 1.0)
        if reading - self.value > ABSURD_WH_PER_DAY * days:
            return None
        self.value, self.accepted_at = reading, now
        return reading
