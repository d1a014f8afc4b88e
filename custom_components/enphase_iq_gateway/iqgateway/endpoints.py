"""Every gateway endpoint the client reads, each described once.

An ``Endpoint`` says where it is, how its body is parsed, whether it answers slowly, how
often it is read, when an answer means "nothing measured here", and when a poll needs it
given what else the gateway reports. The probe, the poll, diagnostics and the tests all
read this table: a new endpoint is one entry here, plus its model and parser in
``models/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
import json
from typing import Any, Final

from .exceptions import IQGatewayResponseError
from .models import (
    JSON,
    BatteryControl,
    BatteryPower,
    EnergyCounters,
    EnsembleInventory,
    EnsembleStatus,
    GatewayInfo,
    Generator,
    GeneratorConfig,
    LiveData,
    MeasurementType,
    MeterConfig,
    PdmEnergy,
    ProductionJson,
    RawBody,
    StorageSettings,
    ac_batteries_from_list,
    dry_contact_settings_from_dict,
    dry_contacts_from_dict,
    enabled_ct_types,
    expect_dict,
    expect_list,
    inverter_details_from_dict,
    inverters_from_list,
    legacy_production_from_html,
    meters_from_list,
    readings_from_list,
    reports_from_list,
)

type Known = Mapping[Endpoint[Any], Any]
"""The latest parsed body of each endpoint the gateway answers (from the probe or a poll)."""


def _never(_: object) -> bool:
    return False


def _always(_: Known) -> bool:
    return True


@dataclass(frozen=True, eq=False, slots=True)
class Endpoint[T]:
    """One endpoint of the gateway's local API.

    ``slow``: it can take close to a minute to answer (a longer timeout).
    ``refresh``: None to read it at every poll; else it changes rarely and is read again
    once its last answer is this old (a poll in between reuses that answer).
    ``reports_nothing``: an answer that measures nothing (a counter of zeros, no battery
    commissioned); the endpoint is then not polled, and asked again at the next probe.
    ``wanted``: whether, given what else the gateway reports, a poll needs this endpoint
    (checked before each poll asks it).
    ``last_resort``: it stands in for endpoints the gateway lacks, so even the probe asks
    it only when ``wanted``.
    ``sticky``: it describes the installation (which CTs, which devices), which rarely
    changes: when one read fails, its last answer stands. Endpoints read on a ``refresh``
    cadence are sticky by nature.
    ``on_demand``: only what the caller shows needs it (no site value does): a caller
    that shows nothing of it names it in ``poll(skip=...)``, and the poll does not ask it.
    ``power``: power values come from it, so the fast power lane reads it again between
    two polls (see ``IQGateway.poll_power``).
    """

    path: str
    parse: Callable[[RawBody], T]
    slow: bool = False
    refresh: timedelta | None = None
    reports_nothing: Callable[[T], bool] = _never
    wanted: Callable[[Known], bool] = _always
    last_resort: bool = False
    sticky: bool = False
    on_demand: bool = False
    power: bool = False

    def __str__(self) -> str:
        """The path, as logs and diagnostics show it."""
        return self.path


def decode_json(raw: RawBody) -> JSON:
    """The body as JSON, or IQGatewayResponseError saying what came instead."""
    try:
        return json.loads(raw.body)
    except (ValueError, RecursionError) as err:  # RecursionError: absurdly deep nesting
        kind = "an HTML page" if raw.body.lstrip().startswith("<") else "a body that is not JSON"
        raise IQGatewayResponseError(f"{raw.path} answered with {kind}", garbled=True) from err


def _object[T](factory: Callable[[Mapping[str, JSON]], T]) -> Callable[[RawBody], T]:
    """A parser for a JSON object body."""
    return lambda raw: factory(expect_dict(decode_json(raw), raw.path))


def _list[T](factory: Callable[[Iterable[Mapping[str, JSON]]], T]) -> Callable[[RawBody], T]:
    """A parser for a JSON list-of-objects body."""
    return lambda raw: factory(expect_list(decode_json(raw), raw.path))


def enabled_cts(known: Known) -> frozenset[str]:
    """The measurement types of the CTs the latest ``/ivp/meters`` reports enabled."""
    meters: tuple[MeterConfig, ...] | None = known.get(METERS)
    return enabled_ct_types(meters) if meters is not None else frozenset()


def _ct_readings_wanted(known: Known) -> bool:
    """CT readings are of use where a CT is enabled (or no meter list says otherwise)."""
    return METERS not in known or bool(enabled_cts(known))


def _battery_power_wanted(known: Known) -> bool:
    """A storage CT or live data already measures the whole site's battery power."""
    return MeasurementType.STORAGE not in enabled_cts(known) and LIVEDATA not in known


def _production_json_wanted(known: Known) -> bool:
    """``/production.json`` is slow: read it only where it has something unique.

    That is where no other production endpoint answers, where AC Batteries are installed
    (their power is only there), or where it reports active CT meters that no meter
    readings endpoint covers. Before its first answer that cannot be told: it is probed.
    """
    production_json: ProductionJson | None = known.get(PRODUCTION_JSON)
    if production_json is None or PRODUCTION not in known:
        return True
    if production_json.has_batteries:
        return True
    return METER_READINGS not in known and any(
        meter.active_count != 0 for meter in production_json.meters.values()
    )


def _legacy_page_wanted(known: Known) -> bool:
    """Firmware 3.x publishes production only on an HTML page."""
    return PRODUCTION not in known and PRODUCTION_JSON not in known


def _ensemble(known: Known) -> EnsembleInventory | None:
    inventory: EnsembleInventory | None = known.get(ENSEMBLE_INVENTORY)
    return inventory


def _iq_batteries_listed(known: Known) -> bool:
    """The Ensemble inventory lists IQ Batteries."""
    return bool((inventory := _ensemble(known)) and inventory.batteries)


def _ensemble_devices_listed(known: Known) -> bool:
    """The Ensemble inventory lists devices (their status has more on them)."""
    return bool((inventory := _ensemble(known)) and not inventory.empty)


def _system_controller_listed(known: Known) -> bool:
    """The inventory lists a System Controller, which dry contacts and a generator need.

    Without one the gateway still answers, with four unwired contacts and a generator
    that is not there.
    """
    return bool((inventory := _ensemble(known)) and inventory.system_controllers)


def _generator_configured(known: Known) -> bool:
    """A generator is configured (``present`` in its own status cannot be trusted)."""
    config: GeneratorConfig | None = known.get(GENERATOR_CONFIG)
    return _system_controller_listed(known) and config is not None and config.configured


def _batteries_installed(known: Known) -> bool:
    """Some kind of battery is installed: their settings are of use."""
    production_json: ProductionJson | None = known.get(PRODUCTION_JSON)
    return (
        BATTERY_CONTROL in known
        or _iq_batteries_listed(known)
        or AC_BATTERIES in known
        or bool(production_json and production_json.has_batteries)
    )


SETTINGS_REFRESH: Final = timedelta(minutes=30)
"""How often what rarely changes (settings, the device status) is read again."""

INFO: Final = Endpoint("/info", lambda raw: GatewayInfo.from_xml(raw.body))
CHECK_JWT: Final = Endpoint("/auth/check_jwt", lambda raw: None)
LIVE_STREAM: Final = Endpoint("/ivp/livedata/stream", lambda raw: None)
"""POSTed ``{"enable": 1}``: the gateway refreshes ``/ivp/livedata/status`` for a while."""

PRODUCTION: Final = Endpoint(
    "/api/v1/production",
    _object(EnergyCounters.from_dict),
    reports_nothing=lambda counters: counters.counts_nothing,
)
INVERTERS: Final = Endpoint("/api/v1/production/inverters", _list(inverters_from_list))
METERS: Final = Endpoint("/ivp/meters", _list(meters_from_list), sticky=True)
METER_READINGS: Final = Endpoint(
    "/ivp/meters/readings", _list(readings_from_list), wanted=_ct_readings_wanted, power=True
)
CONSUMPTION_REPORTS: Final = Endpoint(
    "/ivp/meters/reports/consumption", _list(reports_from_list), wanted=_ct_readings_wanted
)
PDM_ENERGY: Final = Endpoint("/ivp/pdm/energy", _object(PdmEnergy.from_dict))
LIVEDATA: Final = Endpoint("/ivp/livedata/status", _object(LiveData.from_dict), power=True)
"""Fresh only while the gateway's live stream is on: see ``IQGateway`` on live data."""
BATTERY_CONTROL: Final = Endpoint(
    "/ivp/ensemble/secctrl",
    _object(BatteryControl.from_dict),
    reports_nothing=lambda control: not control.has_batteries,
)
BATTERY_POWER: Final = Endpoint(
    "/ivp/ensemble/power",
    _object(BatteryPower.from_dict),
    reports_nothing=lambda power: not power.batteries,
    wanted=_battery_power_wanted,
    power=True,
)
PRODUCTION_JSON: Final = Endpoint(
    "/production.json",
    _object(ProductionJson.from_dict),
    slow=True,
    wanted=_production_json_wanted,
)
PRODUCTION_HTML: Final = Endpoint(
    "/production",
    lambda raw: legacy_production_from_html(raw.body),
    slow=True,
    wanted=_legacy_page_wanted,
    last_resort=True,
)

# The Ensemble inventory carries live state (each battery's charge and temperature, the
# System Controller's and the Meter Collar's grid relay): read at every poll, where it
# lists any device.
ENSEMBLE_INVENTORY: Final = Endpoint(
    "/ivp/ensemble/inventory",
    _list(EnsembleInventory.from_list),
    reports_nothing=lambda inventory: inventory.empty,
)
ENSEMBLE_STATUS: Final = Endpoint(
    "/ivp/ensemble/status",
    _object(EnsembleStatus.from_dict),
    refresh=SETTINGS_REFRESH,
    reports_nothing=lambda status: status.empty,
    wanted=_ensemble_devices_listed,
)
DRY_CONTACT_SETTINGS: Final = Endpoint(
    "/ivp/ss/dry_contact_settings",
    _object(dry_contact_settings_from_dict),
    refresh=SETTINGS_REFRESH,
    reports_nothing=lambda contacts: not contacts,
    wanted=_system_controller_listed,
    on_demand=True,
)
DRY_CONTACTS: Final = Endpoint(
    "/ivp/ensemble/dry_contacts",
    _object(dry_contacts_from_dict),
    reports_nothing=lambda contacts: not contacts,
    wanted=_system_controller_listed,
    on_demand=True,
)
# Read (where a System Controller is) even while it configures nothing: a generator
# configured later is then found within one refresh.
GENERATOR_CONFIG: Final = Endpoint(
    "/ivp/ss/gen_config",
    _object(GeneratorConfig.from_dict),
    refresh=SETTINGS_REFRESH,
    wanted=_system_controller_listed,
)
GENERATOR: Final = Endpoint(
    "/ivp/ensemble/generator",
    _object(Generator.from_dict),
    wanted=_generator_configured,
    on_demand=True,
)
# The whole device inventory, every microinverter included (large on a large site). It
# carries each AC Battery's charge and charge status, which sensors show as current: read
# at every poll, but only where it lists AC Batteries (elsewhere it measures nothing and
# is not polled at all).
AC_BATTERIES: Final = Endpoint(
    "/inventory.json",
    _list(ac_batteries_from_list),
    reports_nothing=lambda batteries: not batteries,
)
STORAGE_SETTINGS: Final = Endpoint(
    "/admin/lib/tariff",
    _object(StorageSettings.from_tariff),
    refresh=SETTINGS_REFRESH,
    wanted=_batteries_installed,
)
# Each microinverter's own readings. It also names the microinverters where the inverters
# list does not answer (or is refused): their devices come from either.
DEVICE_DATA: Final = Endpoint(
    "/ivp/pdm/device_data",
    _object(inverter_details_from_dict),
    reports_nothing=lambda details: not details,
    on_demand=True,
)

POLLED: Final[tuple[Endpoint[Any], ...]] = (
    PRODUCTION,
    INVERTERS,
    METERS,
    METER_READINGS,
    CONSUMPTION_REPORTS,
    PDM_ENERGY,
    LIVEDATA,
    BATTERY_CONTROL,
    BATTERY_POWER,
    PRODUCTION_JSON,
    PRODUCTION_HTML,
    ENSEMBLE_INVENTORY,
    ENSEMBLE_STATUS,
    DRY_CONTACT_SETTINGS,
    DRY_CONTACTS,
    GENERATOR_CONFIG,
    GENERATOR,
    AC_BATTERIES,
    STORAGE_SETTINGS,
    DEVICE_DATA,
)
"""What a poll may ask, in the order it asks (a rule may depend on an earlier answer)."""
