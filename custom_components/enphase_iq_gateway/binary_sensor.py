"""Binary sensors: the grid, relays, and what the devices say about themselves.

The same description-table style as the sensors: each binary sensor is a description
with ``value_fn`` (on, off, or None when the gateway does not say) and ``exists_fn``
(whether this gateway has it; by default: it has a value now), read from a source (the
whole poll, one device, one dry contact). One entity class reads them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined]
    # Re-exported without "as" since Home Assistant 2025.x moved it to .const.
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator
from .entity import (
    Devices,
    IQGatewayEntity,
    Planned,
    UnitKind,
    add_as_reported,
    units,
)
from .iqgateway import GatewayData, site_values as site
from .iqgateway.endpoints import (
    DRY_CONTACT_SETTINGS,
    DRY_CONTACTS,
    ENSEMBLE_INVENTORY,
    GENERATOR,
)
from .iqgateway.models import (
    AcBattery,
    Combiner,
    DryContact,
    Generator,
    IQBattery,
    MeterCollar,
    StorageSettings,
    SystemController,
    join_dry_contacts,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class IQBinarySensorDescription[S](BinarySensorEntityDescription):
    """A binary sensor read from a source of type ``S``.

    ``exists_fn``: whether the gateway has this binary sensor (None: it has a value now).
    ``attributes_fn``: extra state attributes.
    """

    value_fn: Callable[[S], bool | None]
    exists_fn: Callable[[S], bool] | None = None
    attributes_fn: Callable[[S], dict[str, Any]] | None = None

    def exists(self, source: S) -> bool:
        """Whether the gateway has this binary sensor, judged on its source."""
        if self.exists_fn is not None:
            return self.exists_fn(source)
        return self.value_fn(source) is not None


def _diagnostic[S](
    key: str,
    value_fn: Callable[[S], bool | None],
    *,
    device_class: BinarySensorDeviceClass | None = None,
) -> IQBinarySensorDescription[S]:
    """A fact about a device rather than about the energy."""
    return IQBinarySensorDescription(
        key=key,
        translation_key=key,
        device_class=device_class,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=value_fn,
    )


def _communicating[S](value_fn: Callable[[S], bool | None]) -> IQBinarySensorDescription[S]:
    """The gateway hears the device."""
    return _diagnostic("communicating", value_fn, device_class=BinarySensorDeviceClass.CONNECTIVITY)


def _relay[S](key: str, value_fn: Callable[[S], bool | None]) -> IQBinarySensorDescription[S]:
    """A relay: on is closed (translated "Closed" / "Open")."""
    return IQBinarySensorDescription(key=key, translation_key=key, value_fn=value_fn)


GRID_STATUS = IQBinarySensorDescription[GatewayData](
    key="grid_status",
    translation_key="grid_status",
    # "On means power detected": the grid's. No better class exists.
    device_class=BinarySensorDeviceClass.POWER,
    value_fn=site.grid_status,
    exists_fn=site.has_grid_status,
)
"""Whether the site is connected to the grid, on the gateway device, wherever it can tell."""

IQ_BATTERY_BINARY_SENSORS: tuple[IQBinarySensorDescription[IQBattery], ...] = (
    _communicating(lambda b: b.communicating),
    _diagnostic("operating", lambda b: b.operating, device_class=BinarySensorDeviceClass.RUNNING),
    _diagnostic("sleep", lambda b: b.sleeping),
    # The battery's own DC switch: on unless the gateway says it is switched off.
    _diagnostic("dc_switch", lambda b: None if b.dc_switch_off is None else not b.dc_switch_off),
)

AC_BATTERY_BINARY_SENSORS: tuple[IQBinarySensorDescription[AcBattery], ...] = (
    _communicating(lambda b: b.communicating),
    _diagnostic("operating", lambda b: b.operating, device_class=BinarySensorDeviceClass.RUNNING),
    _diagnostic("sleep", lambda b: b.sleeping),
)

SYSTEM_CONTROLLER_BINARY_SENSORS: tuple[IQBinarySensorDescription[SystemController], ...] = (
    _relay("grid_relay", lambda c: c.grid_relay_closed),
    replace(
        _relay("grid_relay_command", lambda c: c.grid_relay_commanded),
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _communicating(lambda c: c.communicating),
)

METER_COLLAR_BINARY_SENSORS: tuple[IQBinarySensorDescription[MeterCollar], ...] = (
    # Its MID (microgrid interconnect device) is the collar's grid relay.
    _relay("grid_relay", lambda c: c.grid_relay_closed),
    _communicating(lambda c: c.communicating),
)

COMBINER_BINARY_SENSORS: tuple[IQBinarySensorDescription[Combiner], ...] = (
    _communicating(lambda c: c.communicating),
)

UNIT_BINARY_SENSORS: dict[UnitKind, tuple[IQBinarySensorDescription[Any], ...]] = {
    UnitKind.IQ_BATTERY: IQ_BATTERY_BINARY_SENSORS,
    UnitKind.AC_BATTERY: AC_BATTERY_BINARY_SENSORS,
    UnitKind.SYSTEM_CONTROLLER: SYSTEM_CONTROLLER_BINARY_SENSORS,
    UnitKind.METER_COLLAR: METER_COLLAR_BINARY_SENSORS,
    UnitKind.COMBINER: COMBINER_BINARY_SENSORS,
}

DRY_CONTACT = IQBinarySensorDescription[DryContact](
    key="dry_contact",
    translation_key="dry_contact",
    value_fn=lambda contact: contact.closed,
    attributes_fn=lambda contact: {
        "contact": contact.id,
        "type": contact.type,
        "mode": contact.mode,
        "grid_action": contact.grid_action,
        "micro_grid_action": contact.micro_grid_action,
        "generator_action": contact.generator_action,
        "soc_low": contact.soc_low,
        "soc_high": contact.soc_high,
    },
)
"""A dry contact (relay) of the System Controller; its settings as attributes."""

GENERATOR_RELAY: IQBinarySensorDescription[Generator] = _relay(
    "generator_relay", lambda generator: generator.relay_closed
)

CHARGE_FROM_GRID = IQBinarySensorDescription[StorageSettings](
    key="charge_from_grid",
    translation_key="charge_from_grid",
    value_fn=lambda settings: settings.charge_from_grid,
)


def _dry_contacts(data: GatewayData) -> dict[str, DryContact]:
    """Each contact's position with its settings (the settings alone are no contact)."""
    status = data.get(DRY_CONTACTS)
    settings = data.get(DRY_CONTACT_SETTINGS)
    return join_dry_contacts(status, settings or {}) if status is not None else {}


def _dry_contact(data: GatewayData, contact_id: str) -> DryContact | None:
    return _dry_contacts(data).get(contact_id)


def _generator(data: GatewayData) -> Generator | None:
    return data.get(GENERATOR)


type _Planned = Planned[IQBinarySensorDescription[Any], Any]


def _plan(coordinator: IQGatewayCoordinator, data: GatewayData) -> Iterator[_Planned]:
    """Every binary sensor this gateway may have, given what it reports (``data``)."""
    devices = Devices.of(coordinator)
    serial = devices.serial
    yield Planned(f"{serial}_{GRID_STATUS.key}", GRID_STATUS, lambda d: d, devices.gateway)
    yield Planned(
        f"{serial}_{CHARGE_FROM_GRID.key}",
        CHARGE_FROM_GRID,
        site.storage_settings,
        devices.battery,
    )
    for kind, unit, source, device in units(coordinator, data):
        for description in UNIT_BINARY_SENSORS[kind]:
            yield Planned(f"{unit}_{description.key}", description, source, device)

    inventory = data.get(ENSEMBLE_INVENTORY)
    controller = inventory.system_controller if inventory is not None else None
    if controller is None:
        return  # dry contacts and a generator are the System Controller's
    controller_device = devices.unit(UnitKind.SYSTEM_CONTROLLER, controller)
    for contact in _dry_contacts(data).values():
        yield Planned(
            f"{controller.serial}_dry_contact_{contact.id.lower()}",
            # A contact nothing is wired to (type NONE) starts disabled.
            replace(DRY_CONTACT, entity_registry_enabled_default=contact.wired),
            partial(_dry_contact, contact_id=contact.id),
            controller_device,
            {"contact": contact.name},
            reads=frozenset({DRY_CONTACTS, DRY_CONTACT_SETTINGS}),
        )
    yield Planned(
        f"{controller.serial}_{GENERATOR_RELAY.key}",
        GENERATOR_RELAY,
        _generator,
        controller_device,
        reads=frozenset({GENERATOR}),
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IQGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the binary sensors for what the gateway reports, and new ones as they appear."""
    coordinator = entry.runtime_data
    add_as_reported(
        coordinator,
        _plan,
        lambda planned: IQGatewayBinarySensor(coordinator, planned),
        async_add_entities,
    )


class IQGatewayBinarySensor[S](IQGatewayEntity[S], BinarySensorEntity):
    """A binary sensor read from the latest poll; it writes its state only when that changes."""

    entity_description: IQBinarySensorDescription[S]

    def _read(self) -> None:
        source = self._source(self.coordinator.data)
        description = self.entity_description
        self._attr_is_on = None if source is None else description.value_fn(source)
        if description.attributes_fn is not None and source is not None:
            self._attr_extra_state_attributes = description.attributes_fn(source)

    def _shown_value(self) -> Any:
        return self._attr_is_on

    @property
    def available(self) -> bool:
        """Unavailable, not wrong: a state the gateway no longer reports is unavailable."""
        return super().available and self._attr_is_on is not None
