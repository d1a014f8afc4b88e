"""Base entity and the device descriptions of the gateway and what hangs off it."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import IQGatewayCoordinator
from .iqgateway import GatewayInfo


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


class IQGatewayEntity(CoordinatorEntity[IQGatewayCoordinator]):
    """An entity of an IQ Gateway config entry."""

    _attr_has_entity_name = True

    @property
    def gateway_serial(self) -> str:
        """The serial of the gateway this entity belongs to."""
        return str(self.coordinator.config_entry.unique_id)
