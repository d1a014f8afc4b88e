"""One endpoint failing, through Home Assistant: only what it reports is unavailable.

Whatever the failure (a timeout, a reset, a server error, a garbled body), at setup or
later, the endpoint's own entities are unavailable, every other entity goes on, and the
endpoint comes back by itself. AC Battery charge is read at the poll's cadence, and
microinverters known only from their device data get their devices.
"""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import (
    CONF_POWER_INTERVAL,
    CONF_SCAN_INTERVAL,
    DOMAIN,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    AC_BATTERIES,
    ENSEMBLE_INVENTORY,
    INVERTERS,
    METERS,
)
from custom_components.enphase_iq_gateway.iqgateway.models import inverter_details_from_dict
from simulator import GatewaySimulator
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import fire, run_clock, setup_capture, setup_entry, token_entry

POLL = timedelta(minutes=5)
LIFETIME = "sensor.iq_gateway_lifetime_production"
PRODUCTION_POWER = "sensor.iq_gateway_production_power"
GARBLED = ["html", "truncated"]


def _body(capture: str, name: str) -> Any:
    return json.loads((FIXTURES / capture / name).read_text())


def _state(hass: HomeAssistant, domain: str, unique_id: str) -> str | None:
    """The state of an entity by its unique id (None: no such entity)."""
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    state = hass.states.get(entity_id) if entity_id is not None else None
    return state.state if state is not None else None


def _batteries(capture: str = RICH_CAPTURE) -> list[str]:
    inventory = _body(capture, "ivp_ensemble_inventory")
    return [d["serial_num"] for g in inventory if g["type"] == "ENCHARGE" for d in g["devices"]]


def _production_ct_lifetime_kwh(capture: str = RICH_CAPTURE) -> float:
    meters = {m["eid"]: m["measurementType"] for m in _body(capture, "ivp_meters")}
    readings = _body(capture, "ivp_meters_readings")
    reading = next(r for r in readings if meters.get(r["eid"]) == "production")
    return float(reading["actEnergyDlvd"]) / 1000


async def _set_up_with_faults(
    hass: HomeAssistant, gateway: GatewaySimulator, *faults: tuple[str, str], **options: Any
) -> MockConfigEntry:
    """Set up an entry while each (kind, path) fails once: at the probe."""
    for kind, path in faults:
        gateway.add_fault(kind, path=path)
    entry = token_entry(gateway, gateway.issue_token())
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=entry.unique_id,
        title=entry.title,
        data=entry.data,
        options=options,
    )
    return await setup_entry(hass, entry)


# --------------------------------------------------------------------------- after setup


@pytest.mark.parametrize("kind", ["reset", "timeout", "server_error", *GARBLED])
async def test_one_failing_endpoint_fails_only_its_own_entities(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory, kind: str
) -> None:
    """The batteries' inventory starts failing after setup: only their entities go.

    The poll succeeds with every other endpoint, the power lane goes on, and the
    batteries come back by themselves once the inventory answers again.
    """
    gateway = await start_gateway(RICH_CAPTURE)
    gateway.hang_seconds = 120
    entry = await _set_up_with_faults(hass, gateway, **{CONF_POWER_INTERVAL: 10})
    coordinator = entry.runtime_data
    battery = _batteries()[0]
    assert _state(hass, "sensor", f"{battery}_soc") not in (None, STATE_UNAVAILABLE)

    gateway.add_fault(kind, count=None, path=ENSEMBLE_INVENTORY.path)
    freezer.tick(POLL)
    await run_clock(hass, freezer, timedelta(minutes=3), timedelta(seconds=10))
    await hass.async_block_till_done(wait_background_tasks=True)

    assert coordinator.last_update_success
    assert _state(hass, "sensor", f"{battery}_soc") == STATE_UNAVAILABLE
    assert hass.states.get(LIFETIME).state != STATE_UNAVAILABLE
    assert hass.states.get(PRODUCTION_POWER).state != STATE_UNAVAILABLE
    lane = coordinator.power
    assert lane is not None
    await fire(hass, freezer, timedelta(seconds=10))
    assert lane.last_update_success
    assert hass.states.get(PRODUCTION_POWER).state != STATE_UNAVAILABLE

    gateway.faults.clear()
    for _ in range(2):  # the first wait (4 minutes) is over by the next poll
        await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert _state(hass, "sensor", f"{battery}_soc") not in (None, STATE_UNAVAILABLE)


async def test_an_endpoint_wedged_for_hours_is_back_at_the_next_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """The batteries' inventory times out for three hours, then answers again.

    Every poll succeeds meanwhile, and the batteries are back at the first poll after it
    answers, not hours later.
    """
    gateway = await start_gateway(RICH_CAPTURE)
    entry = await _set_up_with_faults(hass, gateway)
    coordinator = entry.runtime_data
    battery = _batteries()[0]
    gateway.add_fault("timeout", count=None, path=ENSEMBLE_INVENTORY.path)
    failed = 0
    for _ in range(36):  # three hours of polls, each outlasting a timed-out request
        await run_clock(hass, freezer, POLL, timedelta(seconds=30))
        failed += not coordinator.last_update_success
    assert failed == 0
    assert _state(hass, "sensor", f"{battery}_soc") == STATE_UNAVAILABLE

    gateway.faults.clear()
    await run_clock(hass, freezer, POLL, timedelta(seconds=30))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, "sensor", f"{battery}_soc") not in (None, STATE_UNAVAILABLE)


async def test_a_hung_endpoint_longer_than_a_short_polls_deadline_fails_one_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """At a one-minute interval a poll may run 90 s, less than a hung request and its retry.

    The poll that the deadline ends sets the endpoint aside; the next ones succeed.
    """
    gateway = await start_gateway(RICH_CAPTURE)
    entry = await _set_up_with_faults(hass, gateway, **{CONF_SCAN_INTERVAL: 60})
    coordinator = entry.runtime_data
    gateway.add_fault("timeout", count=None, path=ENSEMBLE_INVENTORY.path)
    outcomes = []
    for _ in range(12):  # asked again every four minutes, without its retry: 45 s a time
        await run_clock(hass, freezer, timedelta(minutes=1), timedelta(seconds=10))
        outcomes.append(coordinator.last_update_success)
    assert outcomes.count(False) <= 1, outcomes
    assert outcomes[-1], outcomes
    assert hass.states.get(LIFETIME).state != STATE_UNAVAILABLE
    gateway.faults.clear()  # the request under way, if any, times out on the clock
    await run_clock(hass, freezer, timedelta(minutes=2), timedelta(seconds=10))
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("kind", ["server_error", "truncated", "reset"])
async def test_info_failing_alone_fails_no_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory, kind: str
) -> None:
    """/info, read again every six hours, fails while every other endpoint answers.

    The serial and firmware stand: the polls go on, and /info is read again later.
    """
    gateway = await start_gateway(RICH_CAPTURE)
    entry = await _set_up_with_faults(hass, gateway)
    coordinator = entry.runtime_data
    gateway.add_fault(kind, count=None, path="/info")
    freezer.tick(timedelta(hours=6))
    outcomes = []
    for _ in range(3):
        await fire(hass, freezer, POLL)
        outcomes.append(coordinator.last_update_success)
    assert outcomes == [True, True, True]
    assert hass.states.get(LIFETIME).state != STATE_UNAVAILABLE
    gateway.faults.clear()


async def test_nothing_answering_is_a_gateway_down(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """Every endpoint resetting: the gateway is unavailable, and back with all of them."""
    gateway = await start_gateway(RICH_CAPTURE)
    entry = await _set_up_with_faults(hass, gateway)
    coordinator = entry.runtime_data
    battery = _batteries()[0]
    gateway.add_fault("reset", count=None)
    await fire(hass, freezer, POLL)
    assert not coordinator.last_update_success
    assert hass.states.get(LIFETIME).state == STATE_UNAVAILABLE

    gateway.faults.clear()
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert hass.states.get(LIFETIME).state != STATE_UNAVAILABLE
    assert _state(hass, "sensor", f"{battery}_soc") not in (None, STATE_UNAVAILABLE)


# --------------------------------------------------------------------------- at the probe


@pytest.mark.parametrize("kind", GARBLED)
async def test_garbled_meter_list_at_setup_switches_no_source(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory, kind: str
) -> None:
    """/ivp/meters garbled at setup: no lifetime production from another counter meanwhile.

    Its CTs appear at the next poll, and lifetime production is the production CT's.
    """
    gateway = await start_gateway(RICH_CAPTURE)
    entry = await _set_up_with_faults(hass, gateway, (kind, METERS.path))
    assert entry.runtime_data.last_update_success
    lifetime = hass.states.get(LIFETIME)
    assert lifetime is None or lifetime.state == STATE_UNAVAILABLE

    await fire(hass, freezer, POLL)
    assert hass.states.get("sensor.production_ct_active_power") is not None
    assert float(hass.states.get(LIFETIME).state) == pytest.approx(
        _production_ct_lifetime_kwh(), abs=0.01
    )


@pytest.mark.parametrize("kind", [*GARBLED, "server_error", "reset"])
async def test_batteries_garbled_at_setup_come_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory, kind: str
) -> None:
    """The batteries' inventory unreadable at setup: the batteries appear within minutes."""
    gateway = await start_gateway(RICH_CAPTURE)
    count = 2 if kind == "reset" else 1  # a reset is retried once
    gateway.add_fault(kind, count=count, path=ENSEMBLE_INVENTORY.path)
    entry = await _set_up_with_faults(hass, gateway)
    battery = _batteries()[0]
    assert entry.runtime_data.last_update_success
    assert _state(hass, "sensor", f"{battery}_soc") is None

    await fire(hass, freezer, POLL)
    assert _state(hass, "sensor", f"{battery}_soc") not in (None, STATE_UNAVAILABLE)


# --------------------------------------------------------------------------- AC Batteries


async def test_ac_battery_charge_is_read_at_every_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """What an AC Battery's charge sensors show is at most one poll old."""
    capture = "8.3.5169_ACB_inventory"
    entry, gateway = await setup_capture(hass, start_gateway, capture)
    groups = _body(capture, "inventory.json_deleted_1")
    battery = next(g for g in groups if g["type"] == "ACB")["devices"][0]
    serial = battery["serial_num"]
    assert float(_state(hass, "sensor", f"{serial}_soc") or "nan") == battery["percentFull"]

    changed = [
        {**g, "devices": [{**d, "percentFull": 12} for d in g["devices"]]}
        if g["type"] == "ACB"
        else g
        for g in groups
    ]
    gateway.capture.set(AC_BATTERIES.path, json.dumps(changed))
    await fire(hass, freezer, POLL)
    assert entry.runtime_data.last_update_success
    assert float(_state(hass, "sensor", f"{serial}_soc") or "nan") == 12


# --------------------------------------------------------------------------- microinverters


@pytest.mark.parametrize("how", ["missing", "refused"])
async def test_microinverters_known_only_from_device_data(
    hass: HomeAssistant, start_gateway: GatewayFactory, how: str
) -> None:
    """No inverters list (or a refused one): the device data names the microinverters."""
    capture = "8.2.4345_with_device_data"
    gateway = await start_gateway(capture)
    if how == "missing":
        gateway.capture.remove(INVERTERS.path)
    else:
        gateway.add_fault("unauthorized", count=None, path=INVERTERS.path)
    entry = await _set_up_with_faults(hass, gateway)
    assert entry.runtime_data.last_update_success
    serials = sorted(inverter_details_from_dict(_body(capture, "ivp_pdm_device_data")))
    assert serials
    registry = dr.async_get(hass)
    devices = dr.async_entries_for_config_entry(registry, entry.entry_id)
    for serial in serials:
        device = next((d for d in devices if (DOMAIN, serial) in d.identifiers), None)
        assert device is not None, serial
        assert device.name == f"Microinverter …{serial[-6:]}"
        entities = er.async_entries_for_device(er.async_get(hass), device.id)
        assert entities, serial
        shown = [hass.states.get(e.entity_id) for e in entities if not e.disabled]
        assert any(s is not None and s.state != STATE_UNAVAILABLE for s in shown), serial
