"""Typed, frozen views of the IQ Gateway's endpoint bodies, one module per endpoint family.

Every ``from_*`` constructor is tolerant: gateways from firmware 3.7 to 8.3 leave keys out,
send empty lists, report disabled meters, and use one, two (split) or three phases. A value
the gateway did not send is ``None``; it is never invented. Shapes are read by their
meaning (measurement types, phase counts, report types), never by list position.
"""

from __future__ import annotations

from .ac_battery import AcBattery, ac_batteries_from_list
from .device_data import MICROINVERTER_DEVICE_NAME, InverterDetail, inverter_details_from_dict
from .ensemble import (
    BatteryControl,
    BatteryPower,
    Combiner,
    DeviceStatus,
    DryContact,
    EnsembleInventory,
    EnsembleStatus,
    EnsembleType,
    EnsembleUnit,
    Generator,
    GeneratorConfig,
    IQBattery,
    MeterCollar,
    StorageSettings,
    SystemController,
    dry_contact_settings_from_dict,
    dry_contacts_from_dict,
    join_dry_contacts,
)
from .info import GatewayInfo, parse_firmware
from .live import LIVE_FLOWS, PHASE_SUFFIXES, LiveData, LivePower
from .meters import (
    ConsumptionReport,
    CTMeter,
    MeasurementType,
    MeterConfig,
    MeterReading,
    MeterValues,
    enabled_ct_types,
    join_meters,
    meters_from_list,
    readings_from_list,
    reports_from_list,
)
from .parse import JSON, RawBody, expect_dict, expect_list
from .production import (
    MICROINVERTER_DEVICE_TYPE,
    EnergyCounters,
    Inverter,
    PdmEnergy,
    ProductionJson,
    ProductionJsonMeter,
    StorageSummary,
    inverters_from_list,
    legacy_production_from_html,
)

__all__ = [
    "JSON",
    "LIVE_FLOWS",
    "MICROINVERTER_DEVICE_NAME",
    "MICROINVERTER_DEVICE_TYPE",
    "PHASE_SUFFIXES",
    "AcBattery",
    "BatteryControl",
    "BatteryPower",
    "CTMeter",
    "Combiner",
    "ConsumptionReport",
    "DeviceStatus",
    "DryContact",
    "EnergyCounters",
    "EnsembleInventory",
    "EnsembleStatus",
    "EnsembleType",
    "EnsembleUnit",
    "GatewayInfo",
    "Generator",
    "GeneratorConfig",
    "IQBattery",
    "Inverter",
    "InverterDetail",
    "LiveData",
    "LivePower",
    "MeasurementType",
    "MeterCollar",
    "MeterConfig",
    "MeterReading",
    "MeterValues",
    "PdmEnergy",
    "ProductionJson",
    "ProductionJsonMeter",
    "RawBody",
    "StorageSettings",
    "StorageSummary",
    "SystemController",
    "ac_batteries_from_list",
    "dry_contact_settings_from_dict",
    "dry_contacts_from_dict",
    "enabled_ct_types",
    "expect_dict",
    "expect_list",
    "inverter_details_from_dict",
    "inverters_from_list",
    "join_dry_contacts",
    "join_meters",
    "legacy_production_from_html",
    "meters_from_list",
    "parse_firmware",
    "readings_from_list",
    "reports_from_list",
]
