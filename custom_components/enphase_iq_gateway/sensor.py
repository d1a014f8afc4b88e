"""Sensors of the IQ Gateway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import DOMAIN
from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator
from .entity import IQGatewayEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GatewaySensorDescription(SensorEntityDescription):
    """A sensor of the gateway device itself."""

    value_fn: Callable[[IQGatewayCoordinator], StateType | datetime]
    exists_fn: Callable[[IQGatewayCoordinator], bool] = lambda _: True


GATEWAY_SENSORS: tuple[GatewaySensorDescription, ...] = (
    GatewaySensorDescription(
        key="token_expires",
        translation_key="token_expires",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.tokens.expires_at,
        exists_fn=lambda c: c.tokens.expires_at is not None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IQGatewayConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Create the sensors this gateway has data for."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        GatewaySensor(coordinator, description)
        for description in GATEWAY_SENSORS
        if description.exists_fn(coordinator)
    )


class GatewaySensor(IQGatewayEntity, SensorEntity):
    """A sensor on the gateway device."""

    entity_description: GatewaySensorDescription

    def __init__(
        self, coordinator: IQGatewayCoordinator, description: GatewaySensorDescription
    ) -> None:
        """Attach the sensor to the gateway device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{self.gateway_serial}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, self.gateway_serial)})

    @property
    def native_value(self) -> StateType | datetime:
        """The current value."""
        return self.entity_description.value_fn(self.coordinator)
