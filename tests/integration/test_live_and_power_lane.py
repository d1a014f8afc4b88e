"""Live power you can act on: live data that is really live, and the fast power lane.

The rich capture is served with moving numbers and its live stream off, on the test's
frozen clock (the simulator's clock follows it), so every poll and every tick of the power
lane finds the numbers the gateway would have at that moment.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    CONF_HOST,
    CONF_TOKEN,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.update_coordinator import UpdateFailed
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import (
    CONF_POWER_INTERVAL,
    CONF_SERIAL,
    DOMAIN,
)
from custom_components.enphase_iq_gateway.counters import ATTR_GATEWAY_VALUE
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    LIVE_STREAM,
    LIVEDATA,
    METER_READINGS,
)
from simulator import GatewaySimulator
from tests.conftest import RICH_CAPTURE, GatewayFactory

from .conftest import FROZEN_TIME, fire, until

POLL = timedelta(minutes=5)
TICK = timedelta(seconds=10)
LIVE_SOLAR = "sensor.live_data_solar_power"
LIVE_UPDATED = "sensor.live_data_updated"
# Power sensors (the lane refreshes them) and counters (only the main poll moves them).
POWERS = (
    "sensor.iq_gateway_production_power",
    "sensor.iq_gateway_grid_power",
    "sensor.iq_gateway_consumption_power_solar_grid",
    "sensor.production_ct_active_power_l1",
    "sensor.net_consumption_ct_active_power_l2",
    "sensor.battery_system_power",
)
COUNTERS = (
    "sensor.iq_gateway_lifetime_production",
    "sensor.iq_gateway_grid_import_energy",
    "sensor.iq_gateway_lifetime_consumption_solar_grid",
    "sensor.battery_system_charged_energy",
)
MAIN_ONLY = ("sensor.production_ct_current", "sensor.iq_gateway_last_successful_poll")


@pytest.fixture
async def site(start_gateway: GatewayFactory, freezer: FrozenDateTimeFactory) -> GatewaySimulator:
    """The rich capture, numbers moving, its live stream off until someone switches it."""
    freezer.move_to(FROZEN_TIME)
    return await start_gateway(RICH_CAPTURE, moving=True, live_stream=False)


async def set_up(hass: HomeAssistant, gateway: GatewaySimulator, **options: Any) -> MockConfigEntry:
    """An entry for the simulated gateway, set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        title=f"IQ Gateway {gateway.serial}",
        data={
            CONF_HOST: gateway.address,
            CONF_SERIAL: gateway.serial,
            CONF_TOKEN: gateway.issue_token(),
        },
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def state(hass: HomeAssistant, entity_id: str) -> str:
    """The state shown now."""
    shown = hass.states.get(entity_id)
    assert shown is not None, entity_id
    return shown.state


def posts(gateway: GatewaySimulator) -> int:
    """How often the live stream was switched."""
    return gateway.stats.requests[LIVE_STREAM.path]


def enable(hass: HomeAssistant, unique_id: str) -> None:
    """Enable a sensor (disabled by default) as a user would on its settings page."""
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None
    registry.async_update_entity(entity_id, disabled_by=None)


# --------------------------------------------------------------------------- live data


async def test_live_data_is_kept_live_while_a_live_sensor_is_shown(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Nothing is switched while no live sensor is shown; then on, and kept on.

    Enabling a live sensor reloads the entry; from its first poll the stream is on, and it
    is switched on again before it lapses (every other poll), never at every poll. Each
    poll shows live numbers of that moment.
    """
    entry = await set_up(hass, site)
    for _ in range(3):
        await fire(hass, freezer, POLL)
    assert posts(site) == 0
    assert hass.states.get(LIVE_SOLAR) is None  # disabled by default

    enable(hass, f"{site.serial}_live_pv_power")
    await fire(hass, freezer, timedelta(seconds=31))  # Home Assistant reloads the entry
    assert entry.runtime_data.live_data_shown()
    assert posts(site) == 1
    shown = [state(hass, LIVE_SOLAR)]
    assert shown[0] != STATE_UNAVAILABLE

    for _ in range(12):
        await fire(hass, freezer, POLL)
        shown.append(state(hass, LIVE_SOLAR))
    assert STATE_UNAVAILABLE not in shown
    assert len(set(shown)) == len(shown)  # live numbers of each moment
    assert posts(site) == 1 + 6  # one poll in two
    assert site.live_stream_on


@pytest.mark.usefixtures("all_entities_enabled")
async def test_frozen_live_data_makes_the_live_sensors_unavailable(
    hass: HomeAssistant,
    site: GatewaySimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway that refuses the stream: live sensors unavailable, the reason logged once.

    The battery's charge, which falls back to live data here (no storage controller), is
    unavailable too; its power, from the storage CT, is not. The live data's own time
    still shows how old it is.
    """
    site.capture.remove(BATTERY_CONTROL.path)
    site.stream_owner_refusal = 401
    entry = await set_up(hass, site)
    for _ in range(4):
        await fire(hass, freezer, POLL)
        assert entry.runtime_data.data.get(LIVEDATA) is None
        for entity_id in (
            LIVE_SOLAR,
            "sensor.live_data_grid_power_l1",
            "sensor.live_data_main_relay_state",
            "sensor.live_data_counter_rest_status",
            "sensor.battery_system_state_of_charge",
            "sensor.battery_system_backup_reserve_in_force",
        ):
            assert state(hass, entity_id) == STATE_UNAVAILABLE, entity_id
        assert state(hass, "sensor.battery_system_power") != STATE_UNAVAILABLE
        assert state(hass, LIVE_UPDATED).startswith("2024-03-07")
    refused = [r for r in caplog.records if "refused to switch its live stream" in r.message]
    assert len(refused) == 1
    assert refused[0].levelno == logging.WARNING
    assert posts(site) == 2  # refused, and once more with a fresh session; not per poll


@pytest.mark.usefixtures("all_entities_enabled")
async def test_live_data_that_freezes_later_turns_unavailable(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Fresh while the stream runs; numbers older than two polls are shown as unavailable."""
    entry = await set_up(hass, site)
    await fire(hass, freezer, POLL)  # the live sensors exist: the stream goes on
    assert state(hass, LIVE_SOLAR) != STATE_UNAVAILABLE

    site.stream_owner_refusal = 403  # say, a firmware update: the switch is refused now
    # The stream runs 15 minutes from its last switch; its numbers are fine two polls on.
    for _ in range(5):
        await fire(hass, freezer, POLL)
        assert state(hass, LIVE_SOLAR) != STATE_UNAVAILABLE
    assert not site.live_stream_on
    await fire(hass, freezer, POLL)
    assert entry.runtime_data.data.stale.get(LIVEDATA) is not None
    assert state(hass, LIVE_SOLAR) == STATE_UNAVAILABLE
    assert state(hass, LIVE_UPDATED) != STATE_UNAVAILABLE


# --------------------------------------------------------------------------- the power lane


async def test_power_lane_refreshes_power_and_leaves_counters_to_the_poll(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """At 10 s: power sensors change at every tick, counters only with the main poll.

    Only power sensors are written by a tick, and never more than one request is in
    flight at the gateway.
    """
    await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    written: list[str] = []

    @callback
    def count(event: Event) -> None:
        written.append(event.data["entity_id"])

    @callback
    def every(_: Any) -> bool:
        return True

    hass.bus.async_listen(EVENT_STATE_CHANGED, count)
    hass.bus.async_listen(EVENT_STATE_REPORTED, count, event_filter=every)
    site.stats.reset()

    powers = {entity_id: [state(hass, entity_id)] for entity_id in POWERS}
    counters = {entity_id: state(hass, entity_id) for entity_id in (*COUNTERS, *MAIN_ONLY)}
    for tick in range(1, 30):
        written.clear()
        await fire(hass, freezer, TICK)
        assert set(written) <= set(POWERS) | {
            e for e in hass.states.async_entity_ids("sensor") if _is_power(hass, e)
        }, tick
        assert len(written) == len(set(written))
        for entity_id, shown in powers.items():
            shown.append(state(hass, entity_id))
            if entity_id != "sensor.iq_gateway_production_power":
                assert shown[-1] != shown[-2], (entity_id, tick)
        assert {e: state(hass, e) for e in counters} == counters, tick
    # The production CT moves production too (it is the site's production meter).
    assert len(set(powers["sensor.iq_gateway_production_power"])) > 20
    assert site.stats.requests[METER_READINGS.path] == 29
    assert set(site.stats.requests) == {METER_READINGS.path}

    await fire(hass, freezer, TICK)  # five minutes: the main poll
    for entity_id, before in counters.items():
        # (a new lifetime counter holds its first rise: its reading shows in gateway_value)
        shown = hass.states.get(entity_id)
        assert shown is not None
        read = shown.attributes.get(ATTR_GATEWAY_VALUE)
        assert shown.state != before or (read is not None and read != float(before)), entity_id
    assert site.stats.max_in_flight == 1


def _is_power(hass: HomeAssistant, entity_id: str) -> bool:
    shown = hass.states.get(entity_id)
    return shown is not None and shown.attributes.get("device_class") == "power"


@pytest.mark.usefixtures("all_entities_enabled")
async def test_power_lane_refreshes_live_data_where_it_is_shown(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Live flows move at each tick; the stream is switched on about every 15 minutes."""
    entry = await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    await entry.runtime_data.async_refresh()  # the live sensors exist now
    await hass.async_block_till_done()
    site.stats.reset()
    shown = [state(hass, LIVE_SOLAR)]
    for _ in range(180):  # half an hour
        await fire(hass, freezer, TICK)
        shown.append(state(hass, LIVE_SOLAR))
    assert STATE_UNAVAILABLE not in shown
    assert len(set(shown)) > 170
    assert posts(site) == 2  # 885 s or so after each switch, never at every tick
    assert site.stats.max_in_flight == 1


async def test_a_tick_during_the_main_poll_is_skipped_not_queued(
    hass: HomeAssistant, site: GatewaySimulator
) -> None:
    """The main poll reads everything: a tick meanwhile asks nothing, then or later."""
    entry = await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    coordinator = entry.runtime_data
    lane = coordinator.power
    assert lane is not None
    site.stats.reset()
    poll = hass.async_create_task(coordinator.async_refresh())
    await until(lambda: coordinator.polling)
    await lane.async_refresh()
    assert lane.last_update_success
    await poll
    await hass.async_block_till_done()
    assert site.stats.requests[METER_READINGS.path] == 1  # the main poll's only
    assert site.stats.max_in_flight == 1


async def test_power_lane_rests_while_the_gateway_is_down(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A failed poll makes power sensors unavailable; ticks ask nothing until it recovers."""
    entry = await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    site.outage = True
    await fire(hass, freezer, POLL)
    assert not entry.runtime_data.last_update_success
    assert state(hass, "sensor.iq_gateway_grid_power") == STATE_UNAVAILABLE
    site.stats.reset()
    for _ in range(12):
        await fire(hass, freezer, TICK)
    assert sum(site.stats.requests.values()) == 0
    assert state(hass, "sensor.iq_gateway_grid_power") == STATE_UNAVAILABLE
    lane = entry.runtime_data.power
    assert lane is not None
    assert not lane.last_update_success
    assert lane.last_exception is not None

    site.outage = False
    await fire(hass, freezer, POLL)
    assert state(hass, "sensor.iq_gateway_grid_power") != STATE_UNAVAILABLE
    before = state(hass, "sensor.iq_gateway_grid_power")
    await fire(hass, freezer, TICK)
    assert state(hass, "sensor.iq_gateway_grid_power") != before


async def test_power_lane_after_an_unforeseen_poll_error(
    hass: HomeAssistant, site: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A main poll that failed for no known reason: the lane says so, and asks nothing."""
    entry = await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    coordinator = entry.runtime_data
    lane = coordinator.power
    assert lane is not None

    async def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(coordinator.client, "poll", broken)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    site.stats.reset()
    await lane.async_refresh()
    assert not lane.last_update_success
    assert isinstance(lane.last_exception, UpdateFailed)
    assert lane.last_exception.translation_key == "unexpected_error"
    assert sum(site.stats.requests.values()) == 0


async def test_a_tick_has_a_deadline_of_its_own(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A tick that hangs ends at 80 % of the lane's interval (8 s), not the main one's."""
    entry = await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    lane = entry.runtime_data.power
    assert lane is not None
    site.add_fault("timeout", path=METER_READINGS.path)
    tick = hass.async_create_task(lane.async_refresh())
    for _ in range(9):  # the frozen clock moves a second at a time
        freezer.tick(timedelta(seconds=1))
        for _ in range(50):
            await asyncio.sleep(0)
    assert tick.done()  # after 9 s: the main poll's 240 s would still be running
    assert not lane.last_update_success
    assert lane.last_exception.translation_key == "timeout"


async def test_a_power_endpoint_that_hangs_costs_one_tick(
    hass: HomeAssistant, site: GatewaySimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The tick its deadline ends sets the hung endpoint aside: the next ticks go on."""
    entry = await set_up(hass, site, **{CONF_POWER_INTERVAL: 10})
    lane = entry.runtime_data.power
    assert lane is not None
    site.add_fault("timeout", path=METER_READINGS.path, count=None)
    tick = hass.async_create_task(lane.async_refresh())
    for _ in range(9):  # the frozen clock moves a second at a time
        freezer.tick(timedelta(seconds=1))
        for _ in range(50):
            await asyncio.sleep(0)
    assert tick.done()
    assert not lane.last_update_success

    site.stats.reset()
    for _ in range(3):
        await lane.async_refresh()
        assert lane.last_update_success
    assert site.stats.requests[METER_READINGS.path] == 0  # asked again by a later poll
