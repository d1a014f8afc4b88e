"""Sensors of the site, its CT meters and their phases, reports, live data and devices.

Every sensor is a description in one of the tables below: what it is, ``value_fn`` to read
it from its source, and ``exists_fn`` to say whether this gateway has it (by default: it
has a value now). One entity class reads them all; what differs between sensors is the
source the description reads (the whole poll, one CT meter or one of its phases, a
report, a live flow, a microinverter, the coordinator). Entities are created for what the
gateway reports, and added later when more appears (a new microinverter, a CT enabled by
the installer) without a reload.

Power sensors (``power_lane``) listen to the fast power lane where it is on; every other
sensor, energy counters included, to the main poll. Live data that is out of date reads as
no value: its sensors are unavailable (``GatewayData.stale``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, partial
import math
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.components.sensor.const import UNIT_CONVERTERS
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
    UnitOfTemperature,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import CONF_INVERTER_ENTITIES, LOGGER
from .coordinator import IQGatewayConfigEntry, IQGatewayCoordinator, Lane
from .counters import (
    ATTR_GATEWAY_VALUE,
    HOLD_POLLS,
    STORED_KEY,
    CounterStoredData,
    LifetimeGuard,
    update_stitch_issue,
)
from .entity import (
    Devices,
    IQGatewayEntity,
    Planned,
    UnitKind,
    add_as_reported,
    ensemble_device_status,
    inverter_detail,
    inverter_serials,
    units,
)
from .iqgateway import (
    GatewayData,
    Inverter,
    LiveData,
    LivePower,
    MeasurementType,
    MeterConfig,
    MeterValues,
    site_values as site,
)
from .iqgateway.endpoints import DEVICE_DATA, INVERTERS, LIVEDATA
from .iqgateway.models import (
    LIVE_FLOWS,
    AcBattery,
    Combiner,
    DeviceStatus,
    InverterDetail,
    IQBattery,
    MeterCollar,
    StorageSettings,
    SystemController,
)

PARALLEL_UPDATES = 0

type Value = StateType | datetime

PHASES = ("l1", "l2", "l3")
REPORT_TYPES = (MeasurementType.TOTAL_CONSUMPTION, MeasurementType.NET_CONSUMPTION)
METERING_STATUSES = {
    "normal": "normal",
    "not-metering": "not_metering",
    "check-wiring": "check_wiring",
}
UNIT_VAH = "VAh"
UNIT_VARH = "varh"
# Home Assistant 2026.x has a reactive-energy device class (unit varh); 2025.x has none.
REACTIVE_ENERGY: SensorDeviceClass | None = getattr(SensorDeviceClass, "REACTIVE_ENERGY", None)


@dataclass(frozen=True, kw_only=True)
class IQSensorDescription[S](SensorEntityDescription):
    """A sensor read from a source of type ``S``.

    ``exists_fn``: whether the gateway has this sensor (None: it has a value now).
    ``phase_enabled``: for descriptions repeated per phase, whether the phases' sensors
    are enabled by default.
    ``attributes_fn``: extra state attributes.
    ``none_is_unknown``: no value is unknown rather than unavailable (a value the gateway
    reports but that cannot be true).
    ``power_lane``: a power that the fast power lane refreshes, where it is on.
    ``phase_value_fn``: for descriptions repeated per phase, how a phase's value is read
    where that differs from the totals' (None: as the totals').
    A ``total_increasing`` sensor is a lifetime counter, guarded (``counters.py``).
    """

    value_fn: Callable[[S], Value]
    exists_fn: Callable[[S], bool] | None = None
    phase_enabled: bool = False
    phase_value_fn: Callable[[S], Value] | None = None
    attributes_fn: Callable[[S], dict[str, Any]] | None = None
    none_is_unknown: bool = False
    power_lane: bool = False

    def exists(self, source: S) -> bool:
        """Whether the gateway has this sensor, judged on its source."""
        if self.exists_fn is not None:
            return self.exists_fn(source)
        return self.value_fn(source) is not None


# --------------------------------------------------------------------------- factories


def _power[S](
    key: str, value_fn: Callable[[S], float | None], *, enabled: bool = True
) -> IQSensorDescription[S]:
    """A power in W (refreshed by the fast power lane, where it is on)."""
    return IQSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=enabled,
        phase_enabled=enabled,
        value_fn=value_fn,
        power_lane=True,
    )


def _energy[S](
    key: str, value_fn: Callable[[S], float | None], *, lifetime: bool = True
) -> IQSensorDescription[S]:
    """An energy in Wh shown as kWh: a lifetime counter, or (not) a gateway period total.

    "Today" and "last seven days" reset on the gateway's own clock: no state class, so
    long-term statistics are not fed a counter that jumps back at the gateway's midnight;
    one the gateway reports but that cannot be true is unknown (``site_values``).
    """
    return IQSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING if lifetime else None,
        phase_enabled=True,
        value_fn=value_fn,
        none_is_unknown=not lifetime,
    )


# Unit, device class and precision shown, of each kind of measured value.
MEASURED: dict[str, tuple[str | None, SensorDeviceClass, int]] = {
    "voltage": (UnitOfElectricPotential.VOLT, SensorDeviceClass.VOLTAGE, 1),
    "current": (UnitOfElectricCurrent.AMPERE, SensorDeviceClass.CURRENT, 2),
    "frequency": (UnitOfFrequency.HERTZ, SensorDeviceClass.FREQUENCY, 2),
    "power_factor": (None, SensorDeviceClass.POWER_FACTOR, 2),
    "apparent_power": (UnitOfApparentPower.VOLT_AMPERE, SensorDeviceClass.APPARENT_POWER, 0),
    "reactive_power": (
        UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        SensorDeviceClass.REACTIVE_POWER,
        0,
    ),
    "temperature": (UnitOfTemperature.CELSIUS, SensorDeviceClass.TEMPERATURE, 0),
}


def _measurement[S](
    key: str,
    value_fn: Callable[[S], float | None],
    *,
    kind: str | None = None,
    unit: str | None = None,
    enabled: bool = True,
) -> IQSensorDescription[S]:
    """A measured value of a kind in MEASURED (``kind``, else the key names it).

    ``unit`` overrides the kind's (a temperature in °F).
    """
    kind_unit, device_class, precision = MEASURED[kind or key]
    return IQSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=unit or kind_unit,
        device_class=device_class,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=precision,
        entity_registry_enabled_default=enabled,
        phase_enabled=enabled,
        value_fn=value_fn,
    )


def _counter[S](
    key: str, value_fn: Callable[[S], float | None], *, unit: str, device_class: Any
) -> IQSensorDescription[S]:
    """A lifetime counter other than active energy (VAh, varh), disabled by default."""
    return IQSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=unit,
        device_class=device_class,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=value_fn,
    )


def _diagnostic[S](
    key: str,
    value_fn: Callable[[S], Value],
    *,
    device_class: SensorDeviceClass | None = None,
    enabled: bool = True,
    exists_fn: Callable[[S], bool] | None = None,
) -> IQSensorDescription[S]:
    """A fact about a device or the connection rather than the energy."""
    return IQSensorDescription(
        key=key,
        translation_key=key,
        device_class=device_class,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=enabled,
        value_fn=value_fn,
        exists_fn=exists_fn,
    )


def _percent[S](
    key: str,
    value_fn: Callable[[S], float | None],
    *,
    device_class: SensorDeviceClass | None = None,
) -> IQSensorDescription[S]:
    """A percentage."""
    return IQSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=PERCENTAGE,
        device_class=device_class,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=value_fn,
    )


def _stored_energy[S](
    key: str, value_fn: Callable[[S], float | None], *, diagnostic: bool = False
) -> IQSensorDescription[S]:
    """Energy held in storage (Wh shown as kWh): a level, not a counter."""
    return IQSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=None if diagnostic else SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC if diagnostic else None,
        value_fn=value_fn,
    )


# --------------------------------------------------------------------------- tables

SITE_SENSORS: tuple[IQSensorDescription[GatewayData], ...] = (
    _power("production_power", site.production_power),
    _energy("production_energy_today", site.production_energy_today, lifetime=False),
    _energy(
        "production_energy_last_seven_days",
        site.production_energy_last_seven_days,
        lifetime=False,
    ),
    _energy("production_energy_lifetime", site.production_energy_lifetime),
    _power("consumption_power", site.consumption_power),
    # Battery sites: what the house uses, batteries apart (meters that do not add up make
    # it unavailable, not absent).
    replace(_power("house_load_power", site.house_load_power), exists_fn=site.has_house_load),
    _power("net_consumption_power", site.net_consumption_power),
    _energy("consumption_energy_lifetime", site.consumption_energy_lifetime),
    _energy("grid_import_energy", site.grid_import_energy),
    _energy("grid_export_energy", site.grid_export_energy),
)

BATTERY_SENSORS: tuple[IQSensorDescription[GatewayData], ...] = (
    _percent("battery_soc", site.battery_soc, device_class=SensorDeviceClass.BATTERY),
    # A setting, not a level: no battery device class (the device's level is the charge).
    replace(_percent("battery_backup_reserve", site.battery_backup_reserve), state_class=None),
    _stored_energy("battery_available_energy", site.battery_available_energy),
    _stored_energy("battery_capacity", site.battery_capacity, diagnostic=True),
    _power("battery_power", site.battery_power),
    _energy("battery_charged_energy", site.battery_charged_energy),
    _energy("battery_discharged_energy", site.battery_discharged_energy),
)

ELECTRICAL_SENSORS: tuple[IQSensorDescription[MeterValues], ...] = (
    _power("active_power", lambda v: v.active_power),
    _energy("energy_delivered", lambda v: v.energy_delivered),
    _energy("energy_received", lambda v: v.energy_received),
    _measurement("apparent_power", lambda v: v.apparent_power, enabled=False),
    _measurement("reactive_power", lambda v: v.reactive_power, enabled=False),
    _counter("apparent_energy", lambda v: v.apparent_energy, unit=UNIT_VAH, device_class=None),
    _counter(
        "reactive_energy_lagging",
        lambda v: v.reactive_energy_lagging,
        unit=UNIT_VARH,
        device_class=REACTIVE_ENERGY,
    ),
    _counter(
        "reactive_energy_leading",
        lambda v: v.reactive_energy_leading,
        unit=UNIT_VARH,
        device_class=REACTIVE_ENERGY,
    ),
    _measurement("voltage", lambda v: v.voltage),
    _measurement("current", lambda v: v.current),
    _measurement("frequency", lambda v: v.frequency, enabled=False),
    # Totals: active over apparent power (the gateway sums or averages its phases'
    # factors); a phase: its own factor as the gateway measures it.
    replace(
        _measurement("power_factor", lambda v: v.power_factor_of_powers),
        phase_enabled=False,
        phase_value_fn=lambda v: v.power_factor,
    ),
)
"""What a CT meter measures, and what a consumption report states, each for its totals
and for every phase."""

CT_STATUS_SENSORS: tuple[IQSensorDescription[MeterConfig], ...] = (
    replace(
        _diagnostic(
            "metering_status",
            lambda m: METERING_STATUSES.get(str(m.metering_status)),
            device_class=SensorDeviceClass.ENUM,
            exists_fn=lambda m: True,
        ),
        options=list(METERING_STATUSES.values()),
    ),
    # How many flags the CT raises (0 when all is well); the flags themselves, as the
    # gateway names them, in the attribute.
    replace(
        _diagnostic("status_flags", lambda m: len(m.status_flags)),
        attributes_fn=lambda m: {"flags": list(m.status_flags)},
    ),
)

# Live data repeats the site's power sensors: it starts disabled.
LIVE_FLOW_SENSORS: dict[str, IQSensorDescription[LivePower]] = {
    flow: _power(f"live_{flow}_power", lambda p: p.power, enabled=False) for flow in LIVE_FLOWS
}

LIVE_STATUS_SENSORS: tuple[IQSensorDescription[LiveData], ...] = (
    # Undocumented codes: the grid status tells on-grid from off-grid.
    _diagnostic("main_relay_state", lambda live: live.main_relay_state, enabled=False),
    _diagnostic("generator_relay_state", lambda live: live.gen_relay_state, enabled=False),
)

# When live data was last refreshed: shown even while it is out of date (that is the point).
LIVE_DATA_UPDATED: IQSensorDescription[LiveData] = _diagnostic(
    "live_data_updated",
    lambda live: live.last_update,
    device_class=SensorDeviceClass.TIMESTAMP,
    enabled=False,
)

# Microinverters report every five minutes: nothing for the power lane to refresh.
INVERTER_SENSORS: tuple[IQSensorDescription[Inverter], ...] = (
    replace(_power("inverter_power", lambda i: i.last_report_watts), power_lane=False),
    replace(
        _power("inverter_max_power", lambda i: i.max_report_watts, enabled=False),
        entity_category=EntityCategory.DIAGNOSTIC,
        power_lane=False,
    ),
    _diagnostic(
        "inverter_last_report", lambda i: i.last_report, device_class=SensorDeviceClass.TIMESTAMP
    ),
)

# --------------------------------------------------------------------------- devices


def _temperature[S](
    value_fn: Callable[[S], float | None],
    *,
    key: str = "temperature",
    unit: str = UnitOfTemperature.CELSIUS,
) -> IQSensorDescription[S]:
    """A device's temperature (°C unless said otherwise)."""
    return _measurement(key, value_fn, kind="temperature", unit=unit)


def _enum[S](
    key: str,
    value_fn: Callable[[S], str | None],
    states: dict[str, str],
    *,
    translation_key: str | None = None,
) -> IQSensorDescription[S]:
    """A state out of a known few: the gateway's spelling mapped to ours.

    ``states`` maps the gateway's spellings (any case) to ours. One it does not list is
    unknown, and logged once: a state a newer firmware may report, whose meaning nobody
    knows here.
    """
    spellings = {spelling.strip().lower(): state for spelling, state in states.items()}

    def state_of(source: S) -> str | None:
        reported = value_fn(source)
        if reported is None:
            return None
        state = spellings.get(reported.strip().lower())
        if state is None:
            _unknown_state(key, reported)
        return state

    return IQSensorDescription(
        key=key,
        translation_key=translation_key or key,
        device_class=SensorDeviceClass.ENUM,
        options=sorted(set(states.values())),
        value_fn=state_of,
        exists_fn=lambda source: value_fn(source) is not None,
        none_is_unknown=True,
    )


@cache
def _unknown_state(key: str, reported: str) -> None:
    """Say once (per process) that a sensor's state is one nobody knows the meaning of."""
    LOGGER.info(
        "The gateway reports %r as a %s, a state this integration does not know: shown as unknown",
        reported,
        key.replace("_", " "),
    )


def _last_report[S](value_fn: Callable[[S], datetime | None]) -> IQSensorDescription[S]:
    return _diagnostic("last_report", value_fn, device_class=SensorDeviceClass.TIMESTAMP)


def _status[S](
    value_fn: Callable[[S], str | None], states: dict[str, str], translation_key: str
) -> IQSensorDescription[S]:
    """The device's state, from the code the gateway names it by (ENCHG_STATE_READY, ...)."""
    return replace(
        _enum("status", value_fn, states, translation_key=translation_key),
        entity_category=EntityCategory.DIAGNOSTIC,
    )


GRID_STATES = {"on_grid": "on_grid", "off_grid": "off_grid", "synchronizing": "synchronizing"}
CHARGE_STATUSES = {"charging": "charging", "discharging": "discharging", "idle": "idle"}
STORAGE_MODES = {
    "self-consumption": "self_consumption",
    "economy": "savings",
    "savings-mode": "savings",
    "backup": "backup",
}
# The grid mode of a System Controller (Enpwr_grid_mode) and of an IQ Battery
# (reported_enc_grid_state): multimode (able to run without the grid) on or off grid, or
# grid-tied (never without the grid).
GRID_MODES = {
    "multimode-ongrid": "on_grid",
    "multimode-offgrid": "off_grid",
    "on-grid": "on_grid",
    "off-grid": "off_grid",
    "grid-tied": "grid_tied",
}
# The devices' states (admin_state_str), each kind's codes as the gateway spells them.
IQ_BATTERY_STATUSES = {
    "ENCHG_STATE_READY": "ready",
    "ENCMN_MDE_ENCHARGE_READY": "ready",
    "ENCHG_STATE_IDLE": "idle",
    "ENCHG_STATE_CHARGING": "charging",
    "ENCHG_STATE_DISCHARGING": "discharging",
}
SYSTEM_CONTROLLER_STATUSES = {
    "ENPWR_STATE_OPER_CLOSED": "relay_closed",
    "ENPWR_STATE_OPER_OPEN": "relay_open",
    "ENPWR_STATE_OPER_NO_GRID": "no_grid",
}
METER_COLLAR_STATUSES = {"ENCMN_MDE_ON_GRID": "on_grid", "ENCMN_MDE_OFF_GRID": "off_grid"}
COMBINER_STATUSES = {"ENCMN_C6_CC_READY": "ready"}

IQ_BATTERY_SENSORS: tuple[IQSensorDescription[IQBattery], ...] = (
    replace(
        _percent("soc", lambda b: b.soc, device_class=SensorDeviceClass.BATTERY),
        translation_key="battery_soc",
    ),
    _temperature(lambda b: b.temperature),
    _temperature(lambda b: b.max_cell_temperature, key="max_cell_temperature"),
    replace(
        _stored_energy("capacity", lambda b: b.capacity, diagnostic=True),
        translation_key="battery_capacity",
    ),
    replace(
        _enum("reported_grid_state", lambda b: b.grid_state, GRID_MODES),
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _status(lambda b: b.status, IQ_BATTERY_STATUSES, "battery_status"),
    _last_report(lambda b: b.last_report),
)

AC_BATTERY_SENSORS: tuple[IQSensorDescription[AcBattery], ...] = (
    replace(
        _percent("soc", lambda b: b.soc, device_class=SensorDeviceClass.BATTERY),
        translation_key="battery_soc",
    ),
    _enum("charge_status", lambda b: b.charge_status, CHARGE_STATUSES),
    _temperature(lambda b: b.max_cell_temperature, key="max_cell_temperature"),
    _last_report(lambda b: b.last_report),
)

SYSTEM_CONTROLLER_SENSORS: tuple[IQSensorDescription[SystemController], ...] = (
    # The only device that reports in °F (Home Assistant shows it in the user's unit).
    _temperature(lambda c: c.temperature_f, unit=UnitOfTemperature.FAHRENHEIT),
    # What the grid status and relay say again, in the controller's words.
    replace(
        _enum("grid_mode", lambda c: c.grid_mode, GRID_MODES),
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _status(lambda c: c.status, SYSTEM_CONTROLLER_STATUSES, "system_controller_status"),
    _last_report(lambda c: c.last_report),
)

METER_COLLAR_SENSORS: tuple[IQSensorDescription[MeterCollar], ...] = (
    _temperature(lambda c: c.temperature),
    _enum("collar_grid_state", lambda c: c.grid_state, GRID_STATES),
    _diagnostic("collar_state", lambda c: c.collar_state),
    _diagnostic("control_error", lambda c: c.control_error),
    _status(lambda c: c.status, METER_COLLAR_STATUSES, "collar_status"),
    _last_report(lambda c: c.last_report),
)

COMBINER_SENSORS: tuple[IQSensorDescription[Combiner], ...] = (
    _status(lambda c: c.status, COMBINER_STATUSES, "combiner_status"),
    _last_report(lambda c: c.last_report),
    _diagnostic("meter_firmware", lambda c: c.meter_firmware),
    # A number whose meaning Enphase does not document: for diagnosis only.
    _diagnostic("meter_state", lambda c: c.meter_state, enabled=False),
)

UNIT_SENSORS: dict[UnitKind, tuple[IQSensorDescription[Any], ...]] = {
    UnitKind.IQ_BATTERY: IQ_BATTERY_SENSORS,
    UnitKind.AC_BATTERY: AC_BATTERY_SENSORS,
    UnitKind.SYSTEM_CONTROLLER: SYSTEM_CONTROLLER_SENSORS,
    UnitKind.METER_COLLAR: METER_COLLAR_SENSORS,
    UnitKind.COMBINER: COMBINER_SENSORS,
}

DEVICE_STATUS_SENSORS: tuple[IQSensorDescription[DeviceStatus], ...] = (
    _diagnostic("interface", lambda s: s.interface),
    replace(
        _diagnostic("rated_power", lambda s: s.rated_power),
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=SensorDeviceClass.POWER,
    ),
)
"""What ``/ivp/ensemble/status`` adds, on the device it describes."""

STORAGE_SETTING_SENSORS: tuple[IQSensorDescription[StorageSettings], ...] = (
    _enum("storage_mode", lambda s: s.mode, STORAGE_MODES),
    replace(_percent("storage_reserve_soc", lambda s: s.reserve_soc), state_class=None),
    replace(_percent("very_low_soc", lambda s: s.very_low_soc), state_class=None),
)
"""The batteries' settings (read-only), on the IQ Battery device."""


def _reporting[T](value_fn: Callable[[InverterDetail], T]) -> Callable[[InverterDetail], T | None]:
    """A value of a microinverter that reports; nothing for one inactive or gone."""
    return lambda detail: value_fn(detail) if detail.reporting else None


INVERTER_DETAIL_SENSORS: tuple[IQSensorDescription[InverterDetail], ...] = tuple(
    # An inverter the gateway lists as inactive or gone exists all the same: unavailable.
    replace(description, exists_fn=lambda detail: True)
    for description in (
        # The power lane does not read device data.
        replace(_power("dc_power", _reporting(lambda d: d.dc_power)), power_lane=False),
        _temperature(_reporting(lambda d: d.temperature)),
        _energy("lifetime_energy", _reporting(lambda d: d.lifetime_energy)),
        _measurement(
            "dc_voltage", _reporting(lambda d: d.dc_voltage), kind="voltage", enabled=False
        ),
        _measurement(
            "dc_current", _reporting(lambda d: d.dc_current), kind="current", enabled=False
        ),
        _measurement(
            "ac_voltage", _reporting(lambda d: d.ac_voltage), kind="voltage", enabled=False
        ),
        _measurement(
            "ac_current", _reporting(lambda d: d.ac_current), kind="current", enabled=False
        ),
        _measurement(
            "ac_frequency", _reporting(lambda d: d.ac_frequency), kind="frequency", enabled=False
        ),
    )
)
"""A microinverter's own readings (``/ivp/pdm/device_data``), on its device."""

CONNECTION_SENSORS: tuple[IQSensorDescription[IQGatewayCoordinator], ...] = (
    _diagnostic(
        "token_expires",
        lambda c: c.tokens.expires_at,
        device_class=SensorDeviceClass.TIMESTAMP,
    ),
    _diagnostic(
        "last_poll",
        lambda c: c.last_poll,
        device_class=SensorDeviceClass.TIMESTAMP,
        exists_fn=lambda c: True,
    ),
    # How many: the list itself (an attribute) outgrows a state's 255 characters.
    replace(
        _diagnostic("endpoints_supported", lambda c: len(c.client.polled()), enabled=False),
        attributes_fn=lambda c: {"endpoints": list(map(str, c.client.polled()))},
    ),
)


@cache
def _per_phase[S](description: IQSensorDescription[S], phase: int) -> IQSensorDescription[S]:
    """The variant of ``description`` for one phase (L1, L2, L3)."""
    return replace(
        description,
        key=f"{description.key}_{PHASES[phase]}",
        translation_key=f"{description.translation_key}_phase",
        entity_registry_enabled_default=description.phase_enabled,
        value_fn=description.phase_value_fn or description.value_fn,
    )


@cache
def _of_report(
    description: IQSensorDescription[MeterValues], report_type: str
) -> IQSensorDescription[MeterValues]:
    """The variant of an electrical description for a consumption report.

    Reports repeat what the CTs and the site's sensors show, so they start disabled. Their
    energies are computed by the gateway and signed: the net report's "delivered" goes
    negative while the site exports, and real gateways report negative totals too.
    ``total``, not lifetime counters.
    """
    prefix = f"{report_type.replace('-', '_')}_report_"
    counter = description.state_class is SensorStateClass.TOTAL_INCREASING
    return replace(
        description,
        key=f"{prefix}{description.key}",
        translation_key=f"{prefix}{description.translation_key}",
        state_class=SensorStateClass.TOTAL if counter else description.state_class,
        entity_registry_enabled_default=False,
        phase_enabled=False,
        power_lane=False,  # the power lane does not read reports
    )


@cache
def _live_counter(name: str) -> IQSensorDescription[LiveData]:
    """One of the gateway's internal counters, for diagnosis (disabled by default)."""
    return replace(
        _diagnostic(f"live_counter_{name}", lambda live: live.counters.get(name), enabled=False),
        translation_key="live_counter",
    )


# --------------------------------------------------------------------------- sources


def _whole(data: GatewayData) -> GatewayData:
    return data


def _ct_values(data: GatewayData, kind: str) -> MeterValues | None:
    meter = data.ct_meters.get(kind)
    return meter.values if meter is not None else None


def _ct_phases(data: GatewayData, kind: str) -> tuple[MeterValues, ...]:
    meter = data.ct_meters.get(kind)
    return meter.phases if meter is not None else ()


def _ct_config(data: GatewayData, kind: str) -> MeterConfig | None:
    meter = data.ct_meters.get(kind)
    return meter.config if meter is not None else None


def _report_totals(data: GatewayData, report_type: str) -> MeterValues | None:
    report = site.consumption_report(data, report_type)
    return report.cumulative if report is not None else None


def _report_lines(data: GatewayData, report_type: str) -> tuple[MeterValues, ...]:
    return site.report_lines(data, report_type)


def _live(data: GatewayData) -> LiveData | None:
    return data.get(LIVEDATA)  # None while it is out of date


def _live_latest(data: GatewayData) -> LiveData | None:
    return data.latest(LIVEDATA)


def _live_flow(data: GatewayData, flow: str) -> LivePower | None:
    live = data.get(LIVEDATA)
    return live.flows.get(flow) if live is not None else None


def _live_flow_phases(data: GatewayData, flow: str) -> tuple[LivePower, ...]:
    """A flow's phases, as flows of their own (only where the site has several)."""
    live = data.get(LIVEDATA)
    power = live.flows.get(flow) if live is not None else None
    if live is None or power is None:
        return ()
    count = live.phase_count or 0
    if count < 2:
        count = 2 if live.is_split_phase else 0
    return tuple(LivePower(power=p, phases=()) for p in power.phases[:count])


def _inverter(data: GatewayData, serial: str) -> Inverter | None:
    return (data.get(INVERTERS) or {}).get(serial)


# --------------------------------------------------------------------------- which sensors


class _Planned[S](Planned[IQSensorDescription[S], S]):
    """A sensor the gateway may have: its description, source, device and unique id."""


def _phased[S](
    planned: _Planned[S], phases: Callable[[GatewayData], tuple[S, ...]], count: int
) -> Iterator[_Planned[S]]:
    """The sensor of the totals, then one per phase."""
    yield planned
    for index in range(count):

        def phase(data: GatewayData, index: int = index) -> S | None:
            values = phases(data)
            return values[index] if index < len(values) else None

        yield _Planned(
            f"{planned.unique_id}_{PHASES[index]}",
            _per_phase(planned.description, index),
            phase,
            planned.device,
            {"phase": PHASES[index].upper()},
        )


def _plan(coordinator: IQGatewayCoordinator, data: GatewayData) -> Iterator[_Planned[Any]]:
    """Every sensor this gateway may have, given what it reports (``data``)."""
    devices = Devices.of(coordinator)
    serial = devices.serial
    for connection in CONNECTION_SENSORS:
        yield _Planned(
            f"{serial}_{connection.key}", connection, lambda _: coordinator, devices.gateway
        )
    for site_description in SITE_SENSORS:
        yield _Planned(
            f"{serial}_{site_description.key}", site_description, _whole, devices.gateway
        )
    for battery in BATTERY_SENSORS:
        yield _Planned(f"{serial}_{battery.key}", battery, _whole, devices.battery)

    for kind, meter in data.ct_meters.items():
        device = devices.ct(kind)
        # A CT's totals start enabled as its phases do: a device that shows L1 and L2 shows
        # their total too, though the site's sensors repeat some of them.
        for electrical in ELECTRICAL_SENSORS:
            yield from _phased(
                _Planned(
                    f"{serial}_{kind}_{electrical.key}",
                    electrical,
                    partial(_ct_values, kind=kind),
                    device,
                ),
                partial(_ct_phases, kind=kind),
                len(meter.phases),
            )
        for status in CT_STATUS_SENSORS:
            yield _Planned(
                f"{serial}_{kind}_{status.key}", status, partial(_ct_config, kind=kind), device
            )

    for report_type in REPORT_TYPES:
        lines = len(site.report_lines(data, report_type))
        for electrical in ELECTRICAL_SENSORS:
            report = _of_report(electrical, report_type)
            yield from _phased(
                _Planned(
                    f"{serial}_{report.key}",
                    report,
                    partial(_report_totals, report_type=report_type),
                    devices.reports,
                ),
                partial(_report_lines, report_type=report_type),
                lines,
            )

    if (live := data.get(LIVEDATA)) is not None:
        for flow, flow_description in LIVE_FLOW_SENSORS.items():
            yield from _phased(
                _Planned(
                    f"{serial}_{flow_description.key}",
                    flow_description,
                    partial(_live_flow, flow=flow),
                    devices.live,
                ),
                partial(_live_flow_phases, flow=flow),
                len(_live_flow_phases(data, flow)),
            )
        for status_description in LIVE_STATUS_SENSORS:
            yield _Planned(
                f"{serial}_{status_description.key}", status_description, _live, devices.live
            )
        yield _Planned(
            f"{serial}_{LIVE_DATA_UPDATED.key}", LIVE_DATA_UPDATED, _live_latest, devices.live
        )
        for name in live.counters:
            yield _Planned(
                f"{serial}_live_counter_{name}",
                _live_counter(name),
                _live,
                devices.live,
                {"counter": name},
            )

    if coordinator.config_entry.options.get(CONF_INVERTER_ENTITIES, True):
        for inverter in inverter_serials(data):
            inverter_device = devices.inverter(inverter)
            for inverter_description in INVERTER_SENSORS:
                yield _Planned(
                    f"{inverter}_{inverter_description.key.removeprefix('inverter_')}",
                    inverter_description,
                    partial(_inverter, serial=inverter),
                    inverter_device,
                )
            for detail in INVERTER_DETAIL_SENSORS:
                yield _Planned(
                    f"{inverter}_{detail.key}",
                    detail,
                    partial(inverter_detail, serial=inverter),
                    inverter_device,
                    reads=frozenset({DEVICE_DATA}),
                )

    for setting in STORAGE_SETTING_SENSORS:
        yield _Planned(f"{serial}_{setting.key}", setting, site.storage_settings, devices.battery)
    for kind, unit, unit_source, unit_device in units(coordinator, data):
        for unit_description in UNIT_SENSORS[kind]:
            yield _Planned(
                f"{unit}_{unit_description.key}", unit_description, unit_source, unit_device
            )
        for unit_status in DEVICE_STATUS_SENSORS:
            yield _Planned(
                f"{unit}_{unit_status.key}",
                unit_status,
                partial(ensemble_device_status, serial=unit),
                unit_device,
            )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IQGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the sensors for what the gateway reports, and add new ones as they appear.

    Power sensors listen to the fast power lane where it is on, the others to the poll.
    """
    coordinator = entry.runtime_data

    def make(planned: _Planned[Any]) -> IQGatewaySensor[Any]:
        lane: Lane = coordinator
        if planned.description.power_lane and coordinator.power is not None:
            lane = coordinator.power
        return IQGatewaySensor(lane, planned)

    add_as_reported(coordinator, _plan, make, async_add_entities)


# --------------------------------------------------------------------------- the entity


# What a value of these device classes cannot be outside of (a power factor is a ratio:
# unitless, -1 to 1).
BOUNDS: dict[SensorDeviceClass, tuple[float, float]] = {
    SensorDeviceClass.POWER_FACTOR: (-1.0, 1.0),
}


def showable(description: SensorEntityDescription, value: Value) -> Value:
    """``value``, or None where Home Assistant must not be handed it as a number.

    A non-finite number (Home Assistant refuses it with an exception that stops the
    other listeners of the update), a percentage outside 0-100, a power factor outside
    -1 to 1 and a negative lifetime counter are unknown. A value that shows as zero at
    the sensor's display precision is zero, without a sign: a reading of -0.0 or -0.03 W
    is rounding noise, not "-0 W".
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value):
        return None
    if description.native_unit_of_measurement == PERCENTAGE and not 0 <= value <= 100:
        return None
    low, high = BOUNDS.get(description.device_class, (-math.inf, math.inf))  # type: ignore[arg-type]
    if not low <= value <= high:
        return None
    if description.state_class is SensorStateClass.TOTAL_INCREASING:
        return value if value >= 0 else None
    if value <= 0 and _shows_as_zero(description, value):
        return 0.0 if isinstance(value, float) else 0
    return value


def _shows_as_zero(description: SensorEntityDescription, value: float) -> bool:
    """Whether ``value`` rounds to zero at the precision and in the unit it is shown in."""
    precision = description.suggested_display_precision
    if precision is None:
        return value == 0
    native = description.native_unit_of_measurement
    shown = description.suggested_unit_of_measurement
    converter = UNIT_CONVERTERS.get(description.device_class)
    if shown is not None and shown != native and converter is not None:
        value = float(converter.convert(value, native, shown))
    return abs(value) < 0.5 * 10.0**-precision


class IQGatewaySensor[S](IQGatewayEntity[S], RestoreSensor):
    """A sensor read from the latest poll; it writes its state only when that changes.

    A lifetime counter (``total_increasing``) goes through a LifetimeGuard (``counters.py``),
    which sees every successful poll and is restored, stitch and all, across restarts.
    While the guard publishes something else than the gateway's reading (a held dip, a
    stitch), the reading is the ``gateway_value`` attribute: part of what the sensor
    shows, so a change of it is written; it costs nothing otherwise (the attribute is
    absent while the two agree, and a stitched value moves with the reading anyway). It is
    kept out of the recorder: a stitch may last for good, and a new attribute set at every
    write would fill the database with copies of the state.
    """

    entity_description: IQSensorDescription[S]
    _unrecorded_attributes = frozenset({ATTR_GATEWAY_VALUE})

    def __init__(self, coordinator: Lane, planned: _Planned[S]) -> None:
        """Read with the planned description; a lifetime counter through a guard."""
        super().__init__(coordinator, planned)
        lifetime = planned.description.state_class is SensorStateClass.TOTAL_INCREASING
        self._guard = LifetimeGuard() if lifetime else None

    async def async_added_to_hass(self) -> None:
        """Restore a lifetime counter's guard, so a dip or stitch goes on across restarts."""
        if self._guard is not None:
            extra = await self.async_get_last_extra_data()
            stored = extra.as_dict() if extra is not None else {}
            guard = LifetimeGuard.from_dict(stored.get(STORED_KEY))
            self._guard = guard or LifetimeGuard.starting_at(
                stored.get("native_value"), dt_util.utcnow()
            )
            if self._guard.stitched:
                self._stitched(True)
        await super().async_added_to_hass()

    @property
    def extra_restore_state_data(self) -> SensorExtraStoredData:
        """The sensor's value and unit; for a lifetime counter, its guard too."""
        data = super().extra_restore_state_data
        if self._guard is None:
            return data
        return CounterStoredData(
            data.native_value, data.native_unit_of_measurement, self._guard.as_dict()
        )

    def _read(self) -> None:
        source = self._source(self.coordinator.data)
        description = self.entity_description
        value = showable(description, None if source is None else description.value_fn(source))
        attributes = None
        if description.attributes_fn is not None and source is not None:
            attributes = description.attributes_fn(source)
        if self._guard is not None:
            reading = float(value) if isinstance(value, int | float) else None
            value = self._guard_update(self._guard, reading)
            if (shown := self._guard.shown_reading) is not None and value is not None:
                attributes = {**(attributes or {}), ATTR_GATEWAY_VALUE: self._in_shown_unit(shown)}
            self._attr_extra_state_attributes = attributes or {}
        elif attributes is not None:
            self._attr_extra_state_attributes = attributes
        self._attr_native_value = value

    def _in_shown_unit(self, value: float) -> float:
        """``value`` (in the native unit) in the unit the state is shown in (kWh...)."""
        native, shown = self.native_unit_of_measurement, self.unit_of_measurement
        converter = UNIT_CONVERTERS.get(self.device_class)
        if converter is None or native == shown:
            return value
        return round(converter.convert(value, native, shown), 6)

    def _guard_update(self, guard: LifetimeGuard, reading: float | None) -> float | None:
        """The guard's value for ``reading``; a stitch opened or ended is told once."""
        was_stitched = guard.stitched
        value = guard.update(reading, dt_util.utcnow())
        unit = self.native_unit_of_measurement or ""
        if guard.drop is not None:
            LOGGER.warning(
                "%s: the gateway's lifetime counter read %s %s below the value last published"
                " for %s polls in a row; the sensor goes on from %s %s and grows with the"
                " counter's increases (the gateway's own reading: attribute %s)",
                self.entity_id,
                round(guard.drop, 3),
                unit,
                HOLD_POLLS,
                value,
                unit,
                ATTR_GATEWAY_VALUE,
            )
            self._stitched(True)
        elif was_stitched and not guard.stitched:
            LOGGER.info(
                "%s: the gateway's lifetime counter is back at %s %s; the sensor follows it again",
                self.entity_id,
                value,
                unit,
            )
            self._stitched(False)
        return value

    async def async_will_remove_from_hass(self) -> None:
        """A removed sensor is no longer listed as stitched (it is again if re-added)."""
        await super().async_will_remove_from_hass()
        self._stitched(False)

    def _stitched(self, stitched: bool) -> None:
        """List this sensor as stitched (or not) in the gateway's repair issue."""
        listed = self.coordinator.config_entry.runtime_data.stitched
        if (self.entity_id in listed) == stitched:
            return
        if stitched:
            listed.add(self.entity_id)
        else:
            listed.discard(self.entity_id)
        update_stitch_issue(self.hass, self.coordinator.config_entry, listed)

    def _shown_value(self) -> Any:
        return self._attr_native_value

    @property
    def available(self) -> bool:
        """Unavailable, not wrong: a value the gateway no longer reports is unavailable."""
        known = self._attr_native_value is not None or self.entity_description.none_is_unknown
        return super().available and known
