"""Setting up, polling, reloading and unloading an entry against the simulated gateway."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import json
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway import async_remove_config_entry_device
from custom_components.enphase_iq_gateway.const import (
    CONF_INVERTER_ENTITIES,
    CONF_SCAN_INTERVAL,
    DOMAIN,
)
from custom_components.enphase_iq_gateway.coordinator import error_key
from custom_components.enphase_iq_gateway.entity import battery_device_id
from custom_components.enphase_iq_gateway.iqgateway import (
    IQGatewayConnectionError,
    IQGatewayError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    INVERTERS,
    LIVEDATA,
    PRODUCTION,
)
from simulator import GatewaySimulator
from tests.conftest import RICH_CAPTURE, GatewayFactory

from .conftest import FROZEN_TIME, fire, free_port, setup_entry, token_entry

pytestmark = [pytest.mark.freeze_time(FROZEN_TIME), pytest.mark.usefixtures("no_usage_reports")]

POLL = timedelta(minutes=5)
TOKEN_SENSOR = "sensor.iq_gateway_token_expires"
LIVEDATA_PATH = LIVEDATA.path


def _gateway_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get(entry.runtime_data.gateway_device_id)
    assert device is not None
    assert device.identifiers == {(DOMAIN, entry.unique_id)}
    return device


async def test_setup_polls_every_5_minutes_and_unload_closes_all(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """Set up, poll on the default cadence, unload: the session closes and polling stops."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data
    assert coordinator.update_interval == timedelta(minutes=5)
    assert _gateway_device(hass, entry).sw_version == gateway.capture.firmware
    state = hass.states.get(TOKEN_SENSOR)
    assert state is not None
    assert state.attributes["device_class"] == "timestamp"

    gateway.stats.reset()
    await fire(hass, freezer, timedelta(minutes=4))
    assert gateway.stats.requests[PRODUCTION.path] == 0
    await fire(hass, freezer, timedelta(minutes=1))
    assert gateway.stats.requests[PRODUCTION.path] == 1

    session = entry.runtime_data.client._session
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert session.closed
    await fire(hass, freezer, POLL * 3)
    assert gateway.stats.requests[PRODUCTION.path] == 1


async def test_legacy_gateway_has_no_token_sensor(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Firmware without tokens sets up over HTTP, with no token to report."""
    legacy = await start_gateway("5.0.62")
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=legacy.serial,
        data={CONF_HOST: legacy.address, "serial": legacy.serial},
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.client.scheme == "http"
    assert hass.states.get(TOKEN_SENSOR) is None


async def test_not_ready_until_the_gateway_answers(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """Nothing listening: not ready, retried, and loaded once the gateway is there."""
    port = free_port()
    gateway_to_be = await start_gateway(RICH_CAPTURE)
    token = gateway_to_be.issue_token()
    entry = token_entry(gateway_to_be, token)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_HOST: f"127.0.0.1:{port}"}
    )
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == f"Cannot reach the IQ Gateway at 127.0.0.1:{port}"

    await start_gateway(RICH_CAPTURE, port=port)
    await fire(hass, freezer, timedelta(minutes=1))
    assert entry.state is ConfigEntryState.LOADED


async def test_another_gateway_at_the_stored_host(
    hass: HomeAssistant, start_gateway: GatewayFactory, gateway: GatewaySimulator
) -> None:
    """A different serial at the stored host: not ready, saying so."""
    other = await start_gateway("8.1.41")
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: other.address})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == (
        f"The gateway at {other.address} has serial number {other.serial}, not "
        f"{gateway.serial}. Reconfigure the integration with the right address"
    )
    assert other.stats.requests[PRODUCTION.path] == 0  # nothing read from it


async def test_something_else_at_the_stored_host(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """What answers at the stored host does not answer like a gateway: not ready, saying so."""
    gateway.capture.set("/info", "<html>maintenance</html>")
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == f"The device at {gateway.address} does not answer like an IQ Gateway"


async def test_reload(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """A reload sets everything up anew."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    runtime = entry.runtime_data
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime
    assert runtime.client._session.closed
    assert hass.states.get(TOKEN_SENSOR) is not None


async def test_options_reload_and_set_the_cadence(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """New options reload the entry, which then polls at the new interval."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    runtime = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 60, CONF_INVERTER_ENTITIES: True}
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime
    coordinator = entry.runtime_data
    assert coordinator.update_interval == timedelta(seconds=60)

    gateway.stats.reset()
    await fire(hass, freezer, timedelta(seconds=61))
    assert gateway.stats.requests[PRODUCTION.path] == 1


async def test_entry_update_without_changes_does_not_reload(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Only options or a new way to connect reload; the title, say, does not."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    runtime = entry.runtime_data
    hass.config_entries.async_update_entry(entry, title="Garage gateway")
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime


async def test_polls_only_what_the_probe_found(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """An endpoint the gateway lacks is asked once by the probe, never by a poll."""
    gateway.capture.remove(LIVEDATA_PATH)
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    client = entry.runtime_data.client
    assert LIVEDATA not in client.polled()
    assert gateway.stats.requests[LIVEDATA_PATH] == 1  # the probe

    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    await fire(hass, freezer, POLL)
    asked = {path for path, count in gateway.stats.requests.items() if count}
    assert asked <= {str(endpoint) for endpoint in client.polled()}
    assert PRODUCTION.path in asked


async def test_firmware_update_reprobes_without_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """/info is read again every 6 hours; a new firmware re-probes and updates the device."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    client = coordinator.client
    probe = client.probe_result
    assert LIVEDATA in client.polled()

    gateway.stats.reset()
    await fire(hass, freezer, timedelta(hours=6))  # same firmware: no new probe
    assert gateway.stats.requests["/info"] == 1
    assert client.probe_result is probe

    old = gateway.capture.firmware
    gateway.capture.set_firmware("D8.3.9999")
    gateway.capture.remove(LIVEDATA_PATH)  # the new firmware dropped an endpoint
    await fire(hass, freezer, timedelta(hours=5))
    assert client.info is not None
    assert client.info.firmware == old  # not read yet: 6 hours since the last time
    await fire(hass, freezer, timedelta(hours=1))
    assert client.info.firmware == "D8.3.9999"
    assert client.probe_result is not probe
    assert LIVEDATA not in client.polled()
    assert coordinator.last_update_success
    assert entry.runtime_data is coordinator  # no restart
    assert _gateway_device(hass, entry).sw_version == "D8.3.9999"
    assert f"updated its firmware from {old} to D8.3.9999" in caplog.text

    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[LIVEDATA_PATH] == 0


async def test_unavailable_and_back_logged_once_each(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The gateway goes away for three polls: one error logged, one recovery logged."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    sensor = "sensor.iq_gateway_production_power"
    assert hass.states.get(sensor).state != STATE_UNAVAILABLE
    caplog.clear()

    await gateway.stop()
    for _ in range(3):
        await fire(hass, freezer, POLL)
    assert hass.states.get(sensor).state == STATE_UNAVAILABLE
    await gateway.start()
    await fire(hass, freezer, POLL)
    await fire(hass, freezer, POLL)
    assert hass.states.get(sensor).state != STATE_UNAVAILABLE
    assert entry.runtime_data.last_update_success

    ours = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components") and r.levelno >= logging.INFO
    ]
    errors = [r for r in ours if r.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert errors[0].getMessage().endswith(f"Cannot reach the IQ Gateway at {gateway.address}")
    assert len([r for r in ours if "recovered" in r.getMessage()]) == 1


async def test_shaky_probe_is_asked_again(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """An endpoint failing with 5xx during the probe is not given up: asked again later."""
    gateway.add_fault("server_error", path=LIVEDATA_PATH)
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    client = coordinator.client
    assert client.probe_result is not None
    assert LIVEDATA in client.probe_result.retry
    assert LIVEDATA not in client.polled()

    await fire(hass, freezer, timedelta(hours=6))
    assert LIVEDATA in client.polled()
    assert client.info is not None
    assert client.info.firmware == gateway.capture.firmware  # no firmware change


async def test_batteries_commissioned_later_appear_without_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory
) -> None:
    """An endpoint with nothing to report at setup is probed again with /info."""
    gateway = await start_gateway("7.6.175_with_cts")
    secctrl = BATTERY_CONTROL.path
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    assert coordinator.client.probe_result is not None
    assert BATTERY_CONTROL in coordinator.client.probe_result.empty
    assert hass.states.get("sensor.battery_system_state_of_charge") is None

    captured = gateway.capture.get(secctrl)
    assert captured is not None
    body = json.loads(captured.body)
    body.update({"agg_soc": 40, "Max_energy": 5000, "ENC_agg_avail_energy": 2000})
    gateway.capture.set(secctrl, json.dumps(body))
    await fire(hass, freezer, timedelta(hours=6))
    assert BATTERY_CONTROL in coordinator.client.polled()
    assert hass.states.get("sensor.battery_system_state_of_charge").state == "40.0"
    assert entry.runtime_data is coordinator  # no restart


@pytest.mark.parametrize(
    "breaks",
    [
        lambda gw: gw.add_fault("server_error", path="/info"),
        lambda gw: gw.capture.set("/info", "<html>maintenance</html>"),
    ],
    ids=["5xx", "not-xml"],
)
async def test_info_reread_failure_fails_no_poll_and_is_read_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    breaks: Callable[[GatewaySimulator], None],
) -> None:
    """The 6-hourly /info read failing alone fails no poll (no reauth); the next reads it."""
    info = gateway.capture.responses["/info"]
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    breaks(gateway)
    await fire(hass, freezer, timedelta(hours=6))
    assert coordinator.last_update_success
    assert hass.states.get("sensor.iq_gateway_lifetime_production").state != "unavailable"
    assert not [
        f for f in hass.config_entries.flow.async_progress() if f["context"]["source"] == "reauth"
    ]

    gateway.capture.responses["/info"] = info
    gateway.stats.reset()
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert gateway.stats.requests["/info"] == 1


async def test_an_unforeseen_client_error_fails_the_poll(
    hass: HomeAssistant, gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client error of no known kind: an unavailable poll with a message, no reauth."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data

    async def fails(**_: object) -> None:
        raise IQGatewayError("something new")

    monkeypatch.setattr(coordinator.client, "poll", fails)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "unexpected_error"
    assert str(coordinator.last_exception).startswith("Unexpected error talking to")


def test_error_keys() -> None:
    """Each client error has its own message; anything else a generic one."""
    assert error_key(IQGatewayTimeoutError("t")) == "timeout"
    assert error_key(IQGatewayConnectionError("c")) == "cannot_connect"
    assert error_key(IQGatewayUnsupportedError("u")) == "not_a_gateway"
    assert error_key(IQGatewayResponseError("r", status=500)) == "bad_response"
    assert error_key(IQGatewayError("x")) == "unexpected_error"


async def test_devices_of_an_entry_that_is_not_loaded_can_be_removed(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Nothing is known of what an unloaded gateway reports: all but the gateway may go.

    A device still reported comes back at the next setup.
    """
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    gateway_device = _gateway_device(hass, entry)
    inverter = next(iter(entry.runtime_data.data.get(INVERTERS) or {}))
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    [reported] = [
        device
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        if (DOMAIN, inverter) in device.identifiers
    ]
    assert not await async_remove_config_entry_device(hass, entry, gateway_device)
    assert await async_remove_config_entry_device(hass, entry, reported)


@pytest.mark.parametrize("capture", ["7.6.175_standard", RICH_CAPTURE])  # batteries or not
async def test_only_devices_no_longer_reported_can_be_removed(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """The gateway and what it reports stay; a device it no longer reports can go."""
    gateway = await start_gateway(capture)
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    registry = dr.async_get(hass)
    gateway_device = _gateway_device(hass, entry)
    inverter = next(iter(entry.runtime_data.data.get(INVERTERS) or {}))
    stale = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "482200000000")}
    )
    reported = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, inverter)}
    )
    assert not await async_remove_config_entry_device(hass, entry, gateway_device)
    assert not await async_remove_config_entry_device(hass, entry, reported)
    assert await async_remove_config_entry_device(hass, entry, stale)
    batteries = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, battery_device_id(gateway.serial))}
    )
    has_batteries = capture == RICH_CAPTURE
    assert await async_remove_config_entry_device(hass, entry, batteries) is not has_batteries
