"""Base entity and the devices of a gateway.

Devices: the gateway itself; one per enabled CT meter ("Production CT", ...); one per
microinverter; one for the batteries where the gateway reports any. All but the gateway
hang off it (``via_device``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_INVERTER_ENTITIES, DOMAIN, MANUFACTURER
from .coordinator import IQGatewayCoordinator, Lane, live_device_id
from .iqgateway import site_values as site
from .iqgateway.endpoints import INVERTERS

# The CT measurement types with a device name of their own (translations: "device").
CT_KINDS = frozenset(
    {
        "production",
        "net-consumption",
        "total-consumption",
        "storage",
        "backfeed",
        "load",
        "evse",
        "pv3p",
    }
)
INVERTER_MODEL = "Microinverter"


# Home Assistant 2026.8 links a child device to its parent by the parent's registry id
# (``via_device_id``) and deprecates ``via_device`` (identifiers); 2025.x knows only the
# latter. Link the way the running release expects.
VIA_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__


def ct_device_id(gateway_serial: str, measurement_type: str) -> str:
    """The device identifier of a CT meter: the gateway serial and what it measures."""
    return f"{gateway_serial}_ct_{measurement_type}"


def battery_device_id(gateway_serial: str) -> str:
    """The device identifier of the gateway's batteries, taken together."""
    return f"{gateway_serial}_battery"


@dataclass(frozen=True, slots=True)
class Devices:
    """The devices of one gateway: the gateway itself, and those hung off it.

    Names come from translations ("device"); ``suffix`` tells two gateways apart.
    """

    serial: str
    suffix: str
    parent: DeviceInfo
    """The DeviceInfo keys that hang a device off the gateway."""

    @classmethod
    def of(cls, coordinator: IQGatewayCoordinator) -> Devices:
        """The devices of the coordinator's gateway (registered at setup)."""
        serial = str(coordinator.config_entry.unique_id)
        suffix = coordinator.name_suffix
        if not VIA_DEVICE_ID:
            return cls(serial, suffix, cast("DeviceInfo", {"via_device": (DOMAIN, serial)}))
        return cls(serial, suffix, DeviceInfo(via_device_id=coordinator.gateway_device_id))

    @property
    def gateway(self) -> DeviceInfo:
        """The gateway's own device (registered at setup with its full details)."""
        return DeviceInfo(identifiers={(DOMAIN, self.serial)})

    def _child(self, identifier: str, key: str, model: str, **placeholders: str) -> DeviceInfo:
        return DeviceInfo(
            identifiers={(DOMAIN, identifier)},
            manufacturer=MANUFACTURER,
            model=model,
            translation_key=key,
            translation_placeholders={"suffix": self.suffix, **placeholders},
            **self.parent,
        )

    def ct(self, measurement_type: str) -> DeviceInfo:
        """A CT meter's device ("Production CT", ...)."""
        if measurement_type in CT_KINDS:
            key, placeholders = f"ct_{measurement_type.replace('-', '_')}", {}
        else:
            key, placeholders = "ct", {"kind": measurement_type}
        return self._child(
            ct_device_id(self.serial, measurement_type),
            key,
            "Current transformer",
            **placeholders,
        )

    def inverter(self, inverter_serial: str) -> DeviceInfo:
        """A microinverter's device (its own serial identifies it)."""
        device = self._child(inverter_serial, "microinverter", INVERTER_MODEL)
        device["translation_placeholders"] = {"serial": inverter_serial}
        device["serial_number"] = inverter_serial
        return device

    @property
    def battery(self) -> DeviceInfo:
        """The batteries' device, all of them together."""
        return self._child(battery_device_id(self.serial), "battery", "IQ Battery")

    @property
    def reports(self) -> DeviceInfo:
        """The gateway's consumption reports, a device of their own."""
        return self._child(f"{self.serial}_reports", "consumption_reports", "Consumption reports")

    @property
    def live(self) -> DeviceInfo:
        """The gateway's live data, a device of its own."""
        return self._child(live_device_id(self.serial), "live_data", "Live data")


def reported_devices(coordinator: IQGatewayCoordinator) -> set[tuple[str, str]]:
    """The identifiers of the devices the gateway reports in its latest poll.

    Microinverters count only while the option to show them is on.
    """
    serial = str(coordinator.config_entry.unique_id)
    data = coordinator.data
    reported = {(DOMAIN, serial), (DOMAIN, f"{serial}_reports"), (DOMAIN, live_device_id(serial))}
    reported |= {(DOMAIN, ct_device_id(serial, kind)) for kind in data.ct_meters}
    if coordinator.config_entry.options.get(CONF_INVERTER_ENTITIES, True):
        reported |= {(DOMAIN, inverter) for inverter in data.get(INVERTERS) or {}}
    if site.has_batteries(data):
        reported.add((DOMAIN, battery_device_id(serial)))
    return reported


class IQGatewayEntity(CoordinatorEntity[Lane]):
    """An entity of an IQ Gateway config entry, on the main poll or the power lane."""

    _attr_has_entity_name = True
