"""Base entity, planned entities and the devices of a gateway.

Devices: the gateway itself; one per enabled CT meter ("Production CT", ...); one per
microinverter; one for the batteries taken together where the gateway reports any; one
per IQ Battery and AC Battery; the IQ System Controller, IQ Meter Collar and IQ Combiner
6C where installed. All but the gateway hang off it (``via_device``).

Every platform plans its entities the same way: a ``Planned`` entity is a description
(what it is), a source (where in the coordinator's data it reads) and a device; the
platform adds what the gateway reports, and more as it appears (``add_as_reported``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from typing import Any, Protocol, cast

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_INVERTER_ENTITIES, DOMAIN, MANUFACTURER
from .coordinator import IQGatewayCoordinator, Lane, live_device_id, name_suffix
from .iqgateway import GatewayData, site_values as site
from .iqgateway.endpoints import (
    AC_BATTERIES,
    DEVICE_DATA,
    ENSEMBLE_INVENTORY,
    ENSEMBLE_STATUS,
    INVERTERS,
    Endpoint,
)
from .iqgateway.models import (
    AcBattery,
    DeviceStatus,
    EnsembleInventory,
    InverterDetail,
)

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
IQ_BATTERY_MODEL = "IQ Battery"
# How many of its serial's last characters a device named after its serial shows: a name
# is cut off in the overview after about twenty characters, so the part that tells a
# site's devices apart (the serial's end, the maker's running number) comes first.
SERIAL_SHOWN = 6


class UnitKind(StrEnum):
    """The kinds of device with a serial of their own, beside the microinverters."""

    IQ_BATTERY = "iq_battery"
    AC_BATTERY = "ac_battery"
    SYSTEM_CONTROLLER = "system_controller"
    METER_COLLAR = "meter_collar"
    COMBINER = "combiner"


UNIT_MODELS: dict[UnitKind, str] = {
    UnitKind.IQ_BATTERY: IQ_BATTERY_MODEL,
    UnitKind.AC_BATTERY: "AC Battery",
    UnitKind.SYSTEM_CONTROLLER: "IQ System Controller",
    UnitKind.METER_COLLAR: "IQ Meter Collar",
    UnitKind.COMBINER: "IQ Combiner 6C",
}


class Unit(Protocol):
    """A device with a serial number of its own (an IQ Battery, a System Controller, ...)."""

    @property
    def serial(self) -> str:
        """Its serial number."""
        ...

    @property
    def part_number(self) -> str | None:
        """Its part number (the model, and a revision after "-r")."""
        ...

    @property
    def firmware(self) -> str | None:
        """The firmware it runs."""
        ...


# Home Assistant 2026.8 links a child device to its parent by the parent's registry id
# (``via_device_id``) and deprecates ``via_device`` (identifiers); 2025.x knows only the
# latter. Link the way the running release expects.
VIA_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__


UNIT_KINDS = {model: kind for kind, model in UNIT_MODELS.items()}


def serial_end(serial: str) -> str:
    """The end of a serial that a device's name shows (the whole of a short one)."""
    return serial[-SERIAL_SHOWN:]


def ct_device_id(gateway_serial: str, measurement_type: str) -> str:
    """The device identifier of a CT meter: the gateway serial and what it measures."""
    return f"{gateway_serial}_ct_{measurement_type}"


def battery_device_id(gateway_serial: str) -> str:
    """The device identifier of the gateway's batteries, taken together."""
    return f"{gateway_serial}_battery"


@dataclass(frozen=True, slots=True)
class Devices:
    """The devices of one gateway: the gateway itself, and those hung off it.

    Names come from translations ("device"); ``suffix`` tells two gateways apart. A
    device named after its own serial (a battery, a microinverter) shows the serial's end;
    the whole serial is its ``serial_number``.
    """

    serial: str
    suffix: str
    parent: DeviceInfo
    """The DeviceInfo keys that hang a device off the gateway."""

    @classmethod
    def of(cls, coordinator: IQGatewayCoordinator, *, leaving: str | None = None) -> Devices:
        """The devices of the coordinator's gateway (registered at setup).

        ``leaving``: an entry being removed, that no longer counts as another gateway.
        """
        serial = str(coordinator.config_entry.unique_id)
        suffix = name_suffix(coordinator.hass, coordinator.config_entry, leaving=leaving)
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

    @staticmethod
    def _ct_name(measurement_type: str) -> tuple[str, dict[str, str]]:
        """A CT device's translation key and placeholders, by what it measures."""
        if measurement_type in CT_KINDS:
            return f"ct_{measurement_type.replace('-', '_')}", {}
        return "ct", {"kind": measurement_type}

    def ct(self, measurement_type: str) -> DeviceInfo:
        """A CT meter's device ("Production CT", ...)."""
        key, placeholders = self._ct_name(measurement_type)
        return self._child(
            ct_device_id(self.serial, measurement_type),
            key,
            "Current transformer",
            **placeholders,
        )

    def inverter(self, inverter_serial: str) -> DeviceInfo:
        """A microinverter's device (its own serial identifies it)."""
        device = self._child(inverter_serial, "microinverter", INVERTER_MODEL)
        device["translation_placeholders"] = {"serial_end": serial_end(inverter_serial)}
        device["serial_number"] = inverter_serial
        return device

    @property
    def battery(self) -> DeviceInfo:
        """The batteries' device, all of them together."""
        return self._child(battery_device_id(self.serial), "battery", IQ_BATTERY_MODEL)

    def unit(self, kind: UnitKind, unit: Unit) -> DeviceInfo:
        """A battery, System Controller, Collar or Combiner: identified by its serial.

        Named from translations ("device": the kind, with the end of its serial where a
        site has several).
        """
        device = self._child(
            unit.serial, kind, UNIT_MODELS[kind], serial_end=serial_end(unit.serial)
        )
        device["serial_number"] = unit.serial
        if unit.part_number:
            device["model_id"] = unit.part_number.rsplit("-r", 1)[0]
            device["hw_version"] = unit.part_number
        if unit.firmware:
            device["sw_version"] = unit.firmware
        return device

    @property
    def reports(self) -> DeviceInfo:
        """The gateway's consumption reports, a device of their own."""
        return self._child(f"{self.serial}_reports", "consumption_reports", "Consumption reports")

    @property
    def live(self) -> DeviceInfo:
        """The gateway's live data, a device of its own."""
        return self._child(live_device_id(self.serial), "live_data", "Live data")

    def naming(self, identifier: str, model: str | None) -> tuple[str, dict[str, str]] | None:
        """How a device of this gateway is named: translation key and placeholders.

        For a registered device, by its identifier (and model): what the builders above
        give it. None: not a device of this gateway.
        """
        serial, ct_prefix = self.serial, ct_device_id(self.serial, "")
        own = {
            serial: "gateway",
            battery_device_id(serial): "battery",
            f"{serial}_reports": "consumption_reports",
            live_device_id(serial): "live_data",
        }
        placeholders: dict[str, str] = {}
        if identifier in own:
            key = own[identifier]
        elif identifier.startswith(ct_prefix):
            key, placeholders = self._ct_name(identifier.removeprefix(ct_prefix))
        elif model == INVERTER_MODEL:
            key, placeholders = "microinverter", {"serial_end": serial_end(identifier)}
        elif model in UNIT_KINDS:
            key, placeholders = UNIT_KINDS[model], {"serial_end": serial_end(identifier)}
        else:
            return None
        return key, {"suffix": self.suffix, **placeholders}


@callback
def async_name_devices(hass: HomeAssistant, *, leaving: str | None = None) -> None:
    """Name the devices of every loaded gateway for the number of gateways there is now.

    Names carry a suffix only while there are several gateways (``name_suffix``): when one
    is added, disabled or removed (``leaving``: the entry on its way out), the others'
    devices are renamed at once rather than at their next reload. Only the name the
    integration gives changes: a name the user gave (``name_by_user``) stays, and entity
    ids are never renamed.
    """
    registry = dr.async_get(hass)
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.entry_id == leaving or entry.state is not ConfigEntryState.LOADED:
            continue
        devices = Devices.of(entry.runtime_data, leaving=leaving)
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
            identifier = next((i for domain, i in device.identifiers if domain == DOMAIN), None)
            naming = devices.naming(identifier, device.model) if identifier else None
            if naming is None:
                continue
            key, placeholders = naming
            registry.async_get_or_create(
                config_entry_id=entry.entry_id,
                identifiers=device.identifiers,
                translation_key=key,
                translation_placeholders=placeholders,
            )


def reported_devices(coordinator: IQGatewayCoordinator) -> set[tuple[str, str]]:
    """The identifiers of the devices the gateway reports in its latest poll.

    Microinverters count only while the option to show them is on.
    """
    serial = str(coordinator.config_entry.unique_id)
    data = coordinator.data
    reported = {(DOMAIN, serial), (DOMAIN, f"{serial}_reports"), (DOMAIN, live_device_id(serial))}
    reported |= {(DOMAIN, ct_device_id(serial, kind)) for kind in data.ct_meters}
    if coordinator.config_entry.options.get(CONF_INVERTER_ENTITIES, True):
        reported |= {(DOMAIN, inverter) for inverter in inverter_serials(data)}
    if site.has_batteries(data):
        reported.add((DOMAIN, battery_device_id(serial)))
    if (inventory := data.get(ENSEMBLE_INVENTORY)) is not None:
        for devices in (
            inventory.batteries,
            inventory.system_controllers,
            inventory.collars,
            inventory.combiners,
        ):
            reported |= {(DOMAIN, device) for device in devices}
    reported |= {(DOMAIN, battery) for battery in data.get(AC_BATTERIES) or {}}
    return reported


class IQGatewayEntity[S](CoordinatorEntity[Lane]):
    """An entity of an IQ Gateway, read from its coordinator's data as planned.

    It reads the poll once per update (a failed poll has nothing to read) and writes its
    state only when what it shows changed. Each platform says how it reads
    (``_read``) and what it shows (``_shown_value``).
    """

    _attr_has_entity_name = True

    def __init__(self, coordinator: Lane, planned: Planned[Any, S]) -> None:
        """Read with the planned description from the planned source, in ``coordinator``."""
        super().__init__(coordinator, planned.context)
        self.entity_description = planned.description
        self._source = planned.source
        self._attr_unique_id = planned.unique_id
        self._attr_device_info = planned.device
        if planned.placeholders:
            self._attr_translation_placeholders = planned.placeholders
        self._shown: tuple[Any, ...] | None = None

    async def async_added_to_hass(self) -> None:
        """Read the latest poll before the first state is written."""
        await super().async_added_to_hass()
        self._read()
        self._shown = self._showing()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Read the new poll (a failed one has none); write only what changed."""
        if self.coordinator.last_update_success:
            self._read()
        if (showing := self._showing()) != self._shown:
            self._shown = showing
            self.async_write_ha_state()

    @abstractmethod
    def _read(self) -> None:
        """Take this entity's part of the latest poll."""

    @abstractmethod
    def _shown_value(self) -> Any:
        """The state this entity shows."""

    def _showing(self) -> tuple[Any, ...]:
        """What the state machine would show."""
        return (self._shown_value(), self.available, self.extra_state_attributes)


type Source[S] = Callable[[GatewayData], S | None]
"""Where an entity reads: its part of its coordinator's data (None: not reported)."""


class Described(Protocol):
    """An entity description that says whether the gateway has its entity."""

    def exists(self, source: Any) -> bool:
        """Whether the gateway has this entity, judged on its source."""
        ...


@dataclass(frozen=True, slots=True)
class Planned[D: Described, S]:
    """An entity the gateway may have: its description, source, device and unique id.

    ``reads``: the on-demand endpoints it shows (``Endpoint.on_demand``), its coordinator
    context (``context``): while no added entity has an endpoint in its context, the
    coordinator has the poll skip that endpoint.
    """

    unique_id: str
    description: D
    source: Source[S]
    device: DeviceInfo
    placeholders: dict[str, str] | None = None
    reads: frozenset[Endpoint[Any]] = frozenset()

    @property
    def context(self) -> frozenset[Endpoint[Any]] | None:
        """The entity's coordinator context: what it reads on demand (None: nothing)."""
        return self.reads or None


def add_as_reported[P: Planned[Any, Any]](
    coordinator: IQGatewayCoordinator,
    plan: Callable[[IQGatewayCoordinator, GatewayData], Iterable[P]],
    make: Callable[[P], Entity],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the planned entities the gateway reports now, and those it reports later.

    An entity is added once its source exists and its description says the gateway has
    it (a new microinverter, a CT enabled by the installer: no reload needed). Entities
    are added one batch per device: a site with dozens of inverters adds hundreds of
    entities, and smaller batches keep each step of the event loop short.
    """
    known: set[str] = set()

    @callback
    def add_new() -> None:
        if not coordinator.last_update_success:
            return
        # What the gateway has, out-of-date live data included: its entities exist (and
        # show as unavailable) whether or not the data is fresh now.
        data = coordinator.data
        if data.stale:
            data = replace(data, bodies={**data.stale, **data.bodies}, stale={})
        batches: dict[str, list[Entity]] = {}
        for planned in plan(coordinator, data):
            if planned.unique_id in known:
                continue
            source = planned.source(data)
            if source is None or not planned.description.exists(source):
                continue
            known.add(planned.unique_id)
            device = str(sorted(planned.device.get("identifiers") or ()))
            batches.setdefault(device, []).append(make(planned))
        for batch in batches.values():
            async_add_entities(batch)

    add_new()
    coordinator.config_entry.async_on_unload(coordinator.async_add_listener(add_new))


def _listed[U](
    data: GatewayData, serial: str, group: Callable[[EnsembleInventory], Mapping[str, U]]
) -> U | None:
    inventory = data.get(ENSEMBLE_INVENTORY)
    return group(inventory).get(serial) if inventory is not None else None


def _ac_battery(data: GatewayData, serial: str) -> AcBattery | None:
    return (data.get(AC_BATTERIES) or {}).get(serial)


# The Ensemble inventory's groups of devices with a serial of their own.
ENSEMBLE_GROUPS: tuple[tuple[UnitKind, Callable[[EnsembleInventory], Mapping[str, Unit]]], ...] = (
    (UnitKind.IQ_BATTERY, lambda inventory: inventory.batteries),
    (UnitKind.SYSTEM_CONTROLLER, lambda inventory: inventory.system_controllers),
    (UnitKind.METER_COLLAR, lambda inventory: inventory.collars),
    (UnitKind.COMBINER, lambda inventory: inventory.combiners),
)


def units(
    coordinator: IQGatewayCoordinator, data: GatewayData
) -> Iterator[tuple[UnitKind, str, Source[Any], DeviceInfo]]:
    """Every device of its own serial ``data`` reports: kind, serial, source, device.

    The source reads that device from each poll (None once it is no longer listed).
    """
    devices = Devices.of(coordinator)
    if (inventory := data.get(ENSEMBLE_INVENTORY)) is not None:
        for kind, group in ENSEMBLE_GROUPS:
            for unit in group(inventory).values():
                listed = partial(_listed, serial=unit.serial, group=group)
                yield kind, unit.serial, listed, devices.unit(kind, unit)
    for battery in (data.get(AC_BATTERIES) or {}).values():
        yield (
            UnitKind.AC_BATTERY,
            battery.serial,
            partial(_ac_battery, serial=battery.serial),
            devices.unit(UnitKind.AC_BATTERY, battery),
        )


def ensemble_device_status(data: GatewayData, serial: str) -> DeviceStatus | None:
    """What ``/ivp/ensemble/status`` adds about one device."""
    status = data.get(ENSEMBLE_STATUS)
    return status.devices.get(serial) if status is not None else None


def inverter_serials(data: GatewayData) -> list[str]:
    """The microinverters the gateway names: in its inverters list, else its device data.

    Where the gateway is polled for its inverters list, that list names them (device data
    may still hold a replaced one); where it does not answer or refuses it, device data
    does.
    """
    if INVERTERS in data.polled:
        listed = data.get(INVERTERS)
        return list(listed) if listed else []
    details = data.get(DEVICE_DATA)
    return list(details) if details else []


def inverter_detail(data: GatewayData, serial: str) -> InverterDetail | None:
    """One microinverter's detail in ``/ivp/pdm/device_data`` (joined by serial)."""
    return (data.get(DEVICE_DATA) or {}).get(serial)
