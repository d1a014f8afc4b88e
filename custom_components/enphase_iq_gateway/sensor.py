"""Sensors of the site, its CT meters and their phases, reports, live data and devices.

The site (production, consumption, grid), the CT meters with their phases, the
consumption reports, live data, batteries, microinverters and gateway diagnostics.

Every sensor is a description (what it is, ``value_fn`` to read it, ``exists_fn`` to say
whether this gateway has it) and one of a few entity classes that say where the value is
read from. Entities are created for what the gateway reports, and added later when more
appears (a new microinverter, a CT enabled by the installer) without a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactivePower,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import CONF_INVERTER_ENTITIES, DOMAIN
from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator
from .entity import (
    IQGatewayEntity,
    LifetimeGuard,
    battery_device_info,
    ct_device_info,
    gateway_parent,
    inverter_device_info,
)
from .iqgateway import (
    ConsumptionReport,
    GatewayData,
    Inverter,
    LiveData,
    MeterConfig,
    MeterValues,
    ReportValues,
    site_values as site,
)

PARALLEL_UPDATES = 0

PHASES = ("l1", "l2", "l3")
METERING_STATUSES = {
    "normal": "normal",
    "not-metering": "not_metering",
    "check-wiring": "check_wiring",
}
REPORT_TYPES = ("total-consumption", "net-consumption")
LIVE_FLOWS = ("pv", "grid", "load", "storage", "generator")
UNIT_VAH = "VAh"
UNIT_VARH = "varh"
# Home Assistant 2026.x has a reactive-energy device class (unit varh); 2025.x has none.
REACTIVE_ENERGY: SensorDeviceClass | None = getattr(SensorDeviceClass, "REACTIVE_ENERGY", None)

Value = StateType | datetime


# --------------------------------------------------------------------------- descriptions


@dataclass(frozen=True, kw_only=True)
class IQSensorDescription(SensorEntityDescription):
    """Common to every sensor here.

    ``lifetime``: a cumulative counter guarded against dips and glitches (LifetimeGuard).
    """

    lifetime: bool = False


@dataclass(frozen=True, kw_only=True)
class SiteSensorDescription(IQSensorDescription):
    """A value of the whole site, derived from the poll (see iqgateway/site_values.py)."""

    value_fn: Callable[[GatewayData], Value]
    exists_fn: Callable[[GatewayData], bool]
    battery: bool = False


@dataclass(frozen=True, kw_only=True)
class MeterSensorDescription(IQSensorDescription):
    """A reading of a CT meter, for its totals and (``per_phase``) each phase channel."""

    value_fn: Callable[[MeterValues], float | None]
    per_phase: bool = True
    phase_enabled: bool = False


@dataclass(frozen=True, kw_only=True)
class MeterConfigSensorDescription(IQSensorDescription):
    """A property of a CT meter from /ivp/meters."""

    value_fn: Callable[[MeterConfig], Value]


@dataclass(frozen=True, kw_only=True)
class ReportSensorDescription(IQSensorDescription):
    """A value of a consumption report, cumulative and (``per_line``) per line."""

    value_fn: Callable[[ReportValues], float | None]
    per_line: bool = True


@dataclass(frozen=True, kw_only=True)
class LiveSensorDescription(IQSensorDescription):
    """A value of /ivp/livedata/status."""

    value_fn: Callable[[LiveData], Value]


@dataclass(frozen=True, kw_only=True)
class InverterSensorDescription(IQSensorDescription):
    """A value of one microinverter."""

    value_fn: Callable[[Inverter], Value]


@dataclass(frozen=True, kw_only=True)
class DiagnosticSensorDescription(IQSensorDescription):
    """About the gateway connection rather than the energy."""

    value_fn: Callable[[IQGatewayCoordinator], Value]
    exists_fn: Callable[[IQGatewayCoordinator], bool] = lambda _: True


def _power(key: str, value_fn: Any, **kwargs: Any) -> dict[str, Any]:
    return {
        "key": key,
        "translation_key": key,
        "native_unit_of_measurement": UnitOfPower.WATT,
        "device_class": SensorDeviceClass.POWER,
        "state_class": SensorStateClass.MEASUREMENT,
        "suggested_display_precision": 0,
        "value_fn": value_fn,
        **kwargs,
    }


def _energy(key: str, value_fn: Any, *, lifetime: bool = True, **kwargs: Any) -> dict[str, Any]:
    """Energy in Wh shown as kWh; lifetime counters are total_increasing and guarded."""
    return {
        "key": key,
        "translation_key": key,
        "native_unit_of_measurement": UnitOfEnergy.WATT_HOUR,
        "suggested_unit_of_measurement": UnitOfEnergy.KILO_WATT_HOUR,
        "suggested_display_precision": 2,
        "device_class": SensorDeviceClass.ENERGY,
        "state_class": SensorStateClass.TOTAL_INCREASING if lifetime else None,
        "lifetime": lifetime,
        "value_fn": value_fn,
        **kwargs,
    }


SITE_SENSORS: tuple[SiteSensorDescription, ...] = (
    SiteSensorDescription(
        **_power("production_power", site.production_power),
        exists_fn=lambda d: site.production_power(d) is not None,
    ),
    # "Today" and "last seven days" reset on the gateway's own clock: no state class, so
    # long-term statistics are not fed a counter that jumps back at the gateway's midnight.
    SiteSensorDescription(
        **_energy("production_energy_today", site.production_energy_today, lifetime=False),
        exists_fn=lambda d: site.production_energy_today(d) is not None,
    ),
    SiteSensorDescription(
        **_energy(
            "production_energy_last_seven_days",
            site.production_energy_last_seven_days,
            lifetime=False,
        ),
        exists_fn=lambda d: site.production_energy_last_seven_days(d) is not None,
    ),
    SiteSensorDescription(
        **_energy("production_energy_lifetime", site.production_energy_lifetime),
        exists_fn=lambda d: site.production_energy_lifetime(d) is not None,
    ),
    SiteSensorDescription(
        **_power("consumption_power", site.consumption_power),
        exists_fn=lambda d: site.consumption_power(d) is not None,
    ),
    SiteSensorDescription(
        **_power("net_consumption_power", site.net_consumption_power),
        exists_fn=lambda d: site.net_consumption_power(d) is not None,
    ),
    SiteSensorDescription(
        **_energy("consumption_energy_lifetime", site.consumption_energy_lifetime),
        exists_fn=lambda d: site.consumption_energy_lifetime(d) is not None,
    ),
    SiteSensorDescription(
        **_energy("grid_import_energy", site.grid_import_energy),
        exists_fn=lambda d: site.grid_import_energy(d) is not None,
    ),
    SiteSensorDescription(
        **_energy("grid_export_energy", site.grid_export_energy),
        exists_fn=lambda d: site.grid_export_energy(d) is not None,
    ),
    SiteSensorDescription(
        key="battery_soc",
        translation_key="battery_soc",
        native_unit_of_measurement=PERCENTAGE,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=site.battery_soc,
        exists_fn=lambda d: site.battery_soc(d) is not None,
        battery=True,
    ),
    SiteSensorDescription(
        key="battery_backup_reserve",
        translation_key="battery_backup_reserve",
        native_unit_of_measurement=PERCENTAGE,
        device_class=SensorDeviceClass.BATTERY,
        suggested_display_precision=0,
        value_fn=site.battery_backup_reserve,
        exists_fn=lambda d: site.battery_backup_reserve(d) is not None,
        battery=True,
    ),
    SiteSensorDescription(
        key="battery_available_energy",
        translation_key="battery_available_energy",
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=site.battery_available_energy,
        exists_fn=lambda d: site.battery_available_energy(d) is not None,
        battery=True,
    ),
    SiteSensorDescription(
        key="battery_capacity",
        translation_key="battery_capacity",
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=site.battery_capacity,
        exists_fn=lambda d: site.battery_capacity(d) is not None,
        battery=True,
    ),
    SiteSensorDescription(
        **_power("battery_power", site.battery_power),
        exists_fn=lambda d: site.battery_power(d) is not None,
        battery=True,
    ),
    SiteSensorDescription(
        **_energy("battery_charged_energy", site.battery_charged_energy),
        exists_fn=lambda d: site.battery_charged_energy(d) is not None,
        battery=True,
    ),
    SiteSensorDescription(
        **_energy("battery_discharged_energy", site.battery_discharged_energy),
        exists_fn=lambda d: site.battery_discharged_energy(d) is not None,
        battery=True,
    ),
)


METER_SENSORS: tuple[MeterSensorDescription, ...] = (
    MeterSensorDescription(**_power("active_power", lambda v: v.active_power), phase_enabled=True),
    MeterSensorDescription(
        **_energy("energy_delivered", lambda v: v.energy_delivered), phase_enabled=True
    ),
    MeterSensorDescription(
        **_energy("energy_received", lambda v: v.energy_received), phase_enabled=True
    ),
    MeterSensorDescription(
        key="apparent_power",
        translation_key="apparent_power",
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        device_class=SensorDeviceClass.APPARENT_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda v: v.apparent_power,
    ),
    MeterSensorDescription(
        key="reactive_power",
        translation_key="reactive_power",
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda v: v.reactive_power,
    ),
    MeterSensorDescription(
        key="apparent_energy",
        translation_key="apparent_energy",
        native_unit_of_measurement=UNIT_VAH,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        lifetime=True,
        value_fn=lambda v: v.apparent_energy,
    ),
    MeterSensorDescription(
        key="reactive_energy_lagging",
        translation_key="reactive_energy_lagging",
        native_unit_of_measurement=UNIT_VARH,
        device_class=REACTIVE_ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        lifetime=True,
        value_fn=lambda v: v.reactive_energy_lagging,
    ),
    MeterSensorDescription(
        key="reactive_energy_leading",
        translation_key="reactive_energy_leading",
        native_unit_of_measurement=UNIT_VARH,
        device_class=REACTIVE_ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        lifetime=True,
        value_fn=lambda v: v.reactive_energy_leading,
    ),
    MeterSensorDescription(
        key="voltage",
        translation_key="voltage",
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        phase_enabled=True,
        value_fn=lambda v: v.voltage,
    ),
    MeterSensorDescription(
        key="current",
        translation_key="current",
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        phase_enabled=True,
        value_fn=lambda v: v.current,
    ),
    MeterSensorDescription(
        key="frequency",
        translation_key="frequency",
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=lambda v: v.frequency,
    ),
    MeterSensorDescription(
        key="power_factor",
        translation_key="power_factor",
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda v: v.power_factor,
    ),
)

METER_CONFIG_SENSORS: tuple[MeterConfigSensorDescription, ...] = (
    MeterConfigSensorDescription(
        key="metering_status",
        translation_key="metering_status",
        device_class=SensorDeviceClass.ENUM,
        options=list(METERING_STATUSES.values()),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: METERING_STATUSES.get(m.metering_status or ""),
    ),
    MeterConfigSensorDescription(
        key="status_flags",
        translation_key="status_flags",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: ", ".join(m.status_flags) if m.status_flags else "none",
    ),
)


def _report_energy(
    key: str, value_fn: Callable[[ReportValues], float | None], unit: str, **kwargs: Any
) -> ReportSensorDescription:
    # Report energies may be net values that go down: TOTAL, not TOTAL_INCREASING.
    return ReportSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=unit,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=0,
        value_fn=value_fn,
        **kwargs,
    )


REPORT_SENSORS: tuple[ReportSensorDescription, ...] = (
    ReportSensorDescription(**_power("active_power", lambda r: r.active_power)),
    ReportSensorDescription(
        key="apparent_power",
        translation_key="apparent_power",
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        device_class=SensorDeviceClass.APPARENT_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.apparent_power,
    ),
    ReportSensorDescription(
        key="reactive_power",
        translation_key="reactive_power",
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.reactive_power,
    ),
    _report_energy(
        "energy_delivered",
        lambda r: r.wh_delivered,
        UnitOfEnergy.WATT_HOUR,
        device_class=SensorDeviceClass.ENERGY,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    ),
    _report_energy(
        "energy_received",
        lambda r: r.wh_received,
        UnitOfEnergy.WATT_HOUR,
        device_class=SensorDeviceClass.ENERGY,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        entity_registry_enabled_default=False,
    ),
    _report_energy(
        "apparent_energy", lambda r: r.vah, UNIT_VAH, entity_registry_enabled_default=False
    ),
    _report_energy(
        "reactive_energy_lagging",
        lambda r: r.varh_lagging,
        UNIT_VARH,
        device_class=REACTIVE_ENERGY,
        entity_registry_enabled_default=False,
    ),
    _report_energy(
        "reactive_energy_leading",
        lambda r: r.varh_leading,
        UNIT_VARH,
        device_class=REACTIVE_ENERGY,
        entity_registry_enabled_default=False,
    ),
    ReportSensorDescription(
        key="voltage",
        translation_key="voltage",
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.voltage,
    ),
    ReportSensorDescription(
        key="current",
        translation_key="current",
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.current,
    ),
    ReportSensorDescription(
        key="power_factor",
        translation_key="power_factor",
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.power_factor,
    ),
    ReportSensorDescription(
        key="frequency",
        translation_key="frequency",
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.frequency,
    ),
)

LIVE_STATUS_SENSORS: tuple[LiveSensorDescription, ...] = (
    LiveSensorDescription(
        key="main_relay_state",
        translation_key="main_relay_state",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda live: live.main_relay_state,
    ),
    LiveSensorDescription(
        key="generator_relay_state",
        translation_key="generator_relay_state",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda live: live.gen_relay_state,
    ),
    LiveSensorDescription(
        key="live_data_updated",
        translation_key="live_data_updated",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda live: live.last_update,
    ),
)

INVERTER_SENSORS: tuple[InverterSensorDescription, ...] = (
    InverterSensorDescription(**_power("inverter_power", lambda i: i.last_report_watts)),
    InverterSensorDescription(
        **_power("inverter_max_power", lambda i: i.max_report_watts),
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
    InverterSensorDescription(
        key="inverter_last_report",
        translation_key="inverter_last_report",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda i: i.last_report,
    ),
)

DIAGNOSTIC_SENSORS: tuple[DiagnosticSensorDescription, ...] = (
    DiagnosticSensorDescription(
        key="token_expires",
        translation_key="token_expires",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.tokens.expires_at,
        exists_fn=lambda c: c.tokens.expires_at is not None,
    ),
    DiagnosticSensorDescription(
        key="last_poll",
        translation_key="last_poll",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.last_poll,
    ),
    DiagnosticSensorDescription(
        key="endpoints_supported",
        translation_key="endpoints_supported",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda c: ", ".join(c.probe.polled()) if c.probe else None,
    ),
)


# --------------------------------------------------------------------------- setup


def _live_phases(live: LiveData) -> int:
    """How many phases the live data speaks of: its phase count, or two when split."""
    if live.phase_count and live.phase_count > 1:
        return min(live.phase_count, len(PHASES))
    return 2 if live.is_split_phase else 1


def _shape(coordinator: IQGatewayCoordinator) -> tuple[object, ...]:
    """What decides which sensors exist (not their values): cheap to compare each poll."""
    data = coordinator.data
    live = data.livedata
    return (
        tuple(d.exists_fn(coordinator) for d in DIAGNOSTIC_SENSORS),
        tuple(d.exists_fn(data) for d in SITE_SENSORS),
        tuple((k, m.values is not None, len(m.phases)) for k, m in data.ct_meters.items()),
        tuple((t, site.report_line_count(data, t)) for t in (data.consumption_reports or {})),
        None if live is None else (_live_phases(live), tuple(live.flows), tuple(live.counters)),
        tuple(data.inverters or {}),
    )


def build_entities(coordinator: IQGatewayCoordinator) -> list[IQGatewaySensor]:
    """Every sensor this poll has data for (existing ones are filtered out by the caller)."""
    data = coordinator.data
    serial = str(coordinator.config_entry.unique_id)
    parent = gateway_parent(coordinator)
    entities: list[IQGatewaySensor] = [
        DiagnosticSensor(coordinator, d) for d in DIAGNOSTIC_SENSORS if d.exists_fn(coordinator)
    ]
    entities += [SiteSensor(coordinator, d) for d in SITE_SENSORS if d.exists_fn(data)]
    for kind, meter in data.ct_meters.items():
        if meter.values is None:
            continue
        device = ct_device_info(serial, parent, kind)
        for desc in METER_SENSORS:
            entities.append(MeterSensor(coordinator, desc, kind, None, device))
            if desc.per_phase:
                for index in range(len(meter.phases)):
                    entities.append(MeterSensor(coordinator, desc, kind, index, device))
        entities += [MeterConfigSensor(coordinator, d, kind, device) for d in METER_CONFIG_SENSORS]
    for report_type in REPORT_TYPES:
        report = (data.consumption_reports or {}).get(report_type)
        if report is None:
            continue
        for report_desc in REPORT_SENSORS:
            entities.append(ReportSensor(coordinator, report_desc, report_type, None))
            if report_desc.per_line:
                entities += [
                    ReportSensor(coordinator, report_desc, report_type, index)
                    for index in range(site.report_line_count(data, report_type))
                ]
    if data.livedata is not None:
        live = data.livedata
        phases = _live_phases(live)
        for flow in LIVE_FLOWS:
            if flow not in live.flows:
                continue
            entities.append(LivePowerSensor(coordinator, flow, None))
            if phases > 1:
                entities += [LivePowerSensor(coordinator, flow, i) for i in range(phases)]
        entities += [LiveSensor(coordinator, d) for d in LIVE_STATUS_SENSORS]
        entities += [LiveCounterSensor(coordinator, name) for name in live.counters]
    if coordinator.config_entry.options.get(CONF_INVERTER_ENTITIES, True):
        for inverter_serial in data.inverters or {}:
            entities += [InverterSensor(coordinator, d, inverter_serial) for d in INVERTER_SENSORS]
    return entities


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IQGatewayConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Create the sensors for what the gateway reports, and add new ones as they appear."""
    coordinator = entry.runtime_data.coordinator
    known: set[str] = set()
    last_shape: list[tuple[object, ...]] = []

    @callback
    def add_new() -> None:
        shape = _shape(coordinator)
        if last_shape and shape == last_shape[0]:
            return  # the same meters, phases, reports, flows and inverters as before
        last_shape[:] = [shape]
        new = [e for e in build_entities(coordinator) if e.unique_id not in known]
        known.update(str(e.unique_id) for e in new)
        # One batch per device: a site with dozens of inverters adds hundreds of
        # entities, and smaller batches keep each step of the event loop short.
        batches: dict[str, list[IQGatewaySensor]] = {}
        for entity in new:
            identifiers = (entity.device_info or {}).get("identifiers") or set()
            batches.setdefault(str(sorted(identifiers)), []).append(entity)
        for batch in batches.values():
            async_add_entities(batch)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))


# --------------------------------------------------------------------------- entities


class IQGatewaySensor(IQGatewayEntity, RestoreSensor):
    """A sensor whose value is read from the latest poll.

    Each poll's data is applied once, whichever comes first: the coordinator's update (when
    the data changed) or, for sensors that count polls (``per_poll``: lifetime counters
    confirming a dip, the last-poll time), the coordinator's poll announcement.
    """

    entity_description: IQSensorDescription

    def __init__(self, coordinator: IQGatewayCoordinator, unique_suffix: str) -> None:
        """Name the sensor ``{gateway serial}_{suffix}``."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{self.gateway_serial}_{unique_suffix}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, self.gateway_serial)})
        self._guard = LifetimeGuard() if self.entity_description.lifetime else None
        self._applied_poll: int | None = None

    @property
    def per_poll(self) -> bool:
        """Whether this sensor must see every poll, changed or not."""
        return self._guard is not None

    def read(self) -> Value:
        """The raw value from the latest data (None: not in this poll)."""
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Restore a lifetime counter's last value, so a dip across restarts is caught."""
        await super().async_added_to_hass()
        if self._guard is not None and (last := await self.async_get_last_sensor_data()):
            value = last.native_value
            if isinstance(value, int | float):
                self._guard.restore(float(value), dt_util.utcnow())
        if self.per_poll:
            self.async_on_remove(self.coordinator.async_add_poll_listener(self._handle_poll))
        self._apply_poll()

    @callback
    def _handle_coordinator_update(self) -> None:
        self._apply_poll()
        super()._handle_coordinator_update()

    @callback
    def _handle_poll(self) -> None:
        if self._applied_poll != self.coordinator.poll_count:
            self._apply_poll()
            self.async_write_ha_state()

    def _apply_poll(self) -> None:
        if self._applied_poll == self.coordinator.poll_count:
            return
        self._applied_poll = self.coordinator.poll_count
        value = self.read()
        if self._guard is not None:
            value = self._guard.update(
                float(value) if isinstance(value, int | float) else None, dt_util.utcnow()
            )
        self._attr_native_value = value

    @property
    def available(self) -> bool:
        """Unavailable, not wrong: a value the gateway no longer reports is unavailable."""
        return super().available and self._attr_native_value is not None


class SiteSensor(IQGatewaySensor):
    """A site value, on the gateway device (or the battery device)."""

    entity_description: SiteSensorDescription

    def __init__(
        self, coordinator: IQGatewayCoordinator, description: SiteSensorDescription
    ) -> None:
        """Attach to the gateway, or to the batteries' device."""
        self.entity_description = description
        super().__init__(coordinator, description.key)
        if description.battery:
            self._attr_device_info = battery_device_info(self.gateway_serial, self.parent)

    def read(self) -> Value:
        """Derive the value from the poll."""
        return self.entity_description.value_fn(self.coordinator.data)


class MeterSensor(IQGatewaySensor):
    """A CT meter reading, for the meter's totals or one phase channel."""

    entity_description: MeterSensorDescription

    def __init__(
        self,
        coordinator: IQGatewayCoordinator,
        description: MeterSensorDescription,
        measurement_type: str,
        phase: int | None,
        device: DeviceInfo,
    ) -> None:
        """Key the sensor by what the meter measures (and the phase), never by position."""
        if phase is not None:
            description = replace(
                description,
                key=f"{description.key}_{PHASES[phase]}",
                translation_key=f"{description.translation_key}_phase",
                entity_registry_enabled_default=description.phase_enabled,
            )
        self.entity_description = description
        self._measurement_type = measurement_type
        self._phase = phase
        super().__init__(coordinator, f"{measurement_type}_{description.key}")
        self._attr_device_info = device
        if phase is not None:
            self._attr_translation_placeholders = {"phase": PHASES[phase].upper()}

    def read(self) -> Value:
        """The reading, or None when the meter (or phase) is gone from this poll."""
        meter = self.coordinator.data.ct_meters.get(self._measurement_type)
        if meter is None or meter.values is None:
            return None
        if self._phase is None:
            return self.entity_description.value_fn(meter.values)
        phases = meter.phases
        if self._phase >= len(phases):
            return None
        return self.entity_description.value_fn(phases[self._phase])


class MeterConfigSensor(IQGatewaySensor):
    """Status of a CT meter (from /ivp/meters)."""

    entity_description: MeterConfigSensorDescription

    def __init__(
        self,
        coordinator: IQGatewayCoordinator,
        description: MeterConfigSensorDescription,
        measurement_type: str,
        device: DeviceInfo,
    ) -> None:
        """Attach to the CT's device."""
        self.entity_description = description
        self._measurement_type = measurement_type
        super().__init__(coordinator, f"{measurement_type}_{description.key}")
        self._attr_device_info = device

    def read(self) -> Value:
        """The meter's status, or None when the meter is gone."""
        meter = self.coordinator.data.ct_meters.get(self._measurement_type)
        return None if meter is None else self.entity_description.value_fn(meter.config)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The status flags as a list, for automations."""
        if self.entity_description.key != "status_flags":
            return None
        meter = self.coordinator.data.ct_meters.get(self._measurement_type)
        return {"flags": list(meter.config.status_flags)} if meter else None


class ReportSensor(IQGatewaySensor):
    """A value of a consumption report (cumulative, or one line)."""

    entity_description: ReportSensorDescription

    def __init__(
        self,
        coordinator: IQGatewayCoordinator,
        description: ReportSensorDescription,
        report_type: str,
        line: int | None,
    ) -> None:
        """Key by report type (and line)."""
        prefix = report_type.replace("-", "_")
        translation_key = f"{prefix}_report_{description.translation_key}"
        key = f"{prefix}_report_{description.key}"
        enabled = description.entity_registry_enabled_default
        if line is not None:
            key = f"{key}_{PHASES[line]}"
            translation_key = f"{translation_key}_phase"
            enabled = False
        self.entity_description = replace(
            description,
            key=key,
            translation_key=translation_key,
            entity_registry_enabled_default=enabled,
        )
        self._report_type = report_type
        self._line = line
        super().__init__(coordinator, key)
        if line is not None:
            self._attr_translation_placeholders = {"phase": PHASES[line].upper()}

    def read(self) -> Value:
        """The report's value, corrected where firmware copies net into total."""
        data = self.coordinator.data
        reports = data.consumption_reports or {}
        report: ConsumptionReport | None = reports.get(self._report_type)
        if report is None:
            return None
        if self._report_type == "total-consumption" and site.total_report_copies_net(data):
            # The firmware sent the net report as the total: derive what can be derived.
            if self._line is not None:
                return None
            corrected = {
                "total_consumption_report_active_power": site.consumption_power,
                "total_consumption_report_energy_delivered": site.consumption_energy_lifetime,
            }.get(self.entity_description.key)
            return corrected(data) if corrected else None
        if self._line is None:
            return self.entity_description.value_fn(report.cumulative)
        if self._line >= site.report_line_count(data, self._report_type):
            return None
        return self.entity_description.value_fn(report.lines[self._line])


class LivePowerSensor(IQGatewaySensor):
    """Live power of one flow (pv, grid, load, storage, generator), total or one phase."""

    def __init__(self, coordinator: IQGatewayCoordinator, flow: str, phase: int | None) -> None:
        """Key by flow (and phase); the generator and phases start disabled."""
        key = f"live_{flow}_power"
        translation_key = key
        if phase is not None:
            key = f"{key}_{PHASES[phase]}"
            translation_key = f"{translation_key}_phase"
        self.entity_description = IQSensorDescription(
            key=key,
            translation_key=translation_key,
            native_unit_of_measurement=UnitOfPower.WATT,
            device_class=SensorDeviceClass.POWER,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=0,
            entity_registry_enabled_default=phase is None and flow != "generator",
        )
        self._flow = flow
        self._phase = phase
        super().__init__(coordinator, key)
        if phase is not None:
            self._attr_translation_placeholders = {"phase": PHASES[phase].upper()}

    def read(self) -> Value:
        """Live power in W (the gateway reports mW)."""
        live = self.coordinator.data.livedata
        flow = live.flows.get(self._flow) if live else None
        if flow is None:
            return None
        if self._phase is None:
            return flow.power
        return flow.phases[self._phase][0]


class LiveSensor(IQGatewaySensor):
    """A status value of the live data."""

    entity_description: LiveSensorDescription

    def __init__(
        self, coordinator: IQGatewayCoordinator, description: LiveSensorDescription
    ) -> None:
        """Attach to the gateway."""
        self.entity_description = description
        super().__init__(coordinator, description.key)

    def read(self) -> Value:
        """The value, or None without live data."""
        live = self.coordinator.data.livedata
        return None if live is None else self.entity_description.value_fn(live)


class LiveCounterSensor(IQGatewaySensor):
    """One of the gateway's internal counters, for diagnosis (disabled by default)."""

    def __init__(self, coordinator: IQGatewayCoordinator, counter: str) -> None:
        """One sensor per counter name the gateway reports."""
        self.entity_description = IQSensorDescription(
            key=f"live_counter_{counter}",
            translation_key="live_counter",
            entity_category=EntityCategory.DIAGNOSTIC,
            entity_registry_enabled_default=False,
            state_class=SensorStateClass.TOTAL_INCREASING,
        )
        self._counter = counter
        super().__init__(coordinator, self.entity_description.key)
        self._attr_translation_placeholders = {"counter": counter}

    def read(self) -> Value:
        """The counter's value."""
        live = self.coordinator.data.livedata
        return None if live is None else live.counters.get(self._counter)


class InverterSensor(IQGatewaySensor):
    """A microinverter's report, on its own device."""

    entity_description: InverterSensorDescription

    def __init__(
        self,
        coordinator: IQGatewayCoordinator,
        description: InverterSensorDescription,
        inverter_serial: str,
    ) -> None:
        """Key by the inverter's own serial."""
        self.entity_description = description
        self._inverter = inverter_serial
        super().__init__(coordinator, description.key)
        key = description.key.removeprefix("inverter_")
        self._attr_unique_id = f"{inverter_serial}_{key}"
        self._attr_device_info = inverter_device_info(self.parent, inverter_serial)

    def read(self) -> Value:
        """The inverter's value, or None when it is gone from the report."""
        inverter = (self.coordinator.data.inverters or {}).get(self._inverter)
        return None if inverter is None else self.entity_description.value_fn(inverter)


class DiagnosticSensor(IQGatewaySensor):
    """About the connection: token expiry, last poll, endpoints in use."""

    entity_description: DiagnosticSensorDescription

    def __init__(
        self, coordinator: IQGatewayCoordinator, description: DiagnosticSensorDescription
    ) -> None:
        """Attach to the gateway."""
        self.entity_description = description
        super().__init__(coordinator, description.key)

    @property
    def per_poll(self) -> bool:
        """Connection facts change with every poll (time) or between them (token)."""
        return True

    def read(self) -> Value:
        """Read from the coordinator rather than the data."""
        return self.entity_description.value_fn(self.coordinator)
