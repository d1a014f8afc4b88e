"""Hardening (issue 11), in Home Assistant.

No login storms, a 401 that is really a 401, one request at a time per gateway, a
deadline per poll, values Home Assistant can show, masked serials.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.enphase_iq_gateway.const import (
    CONF_POWER_INTERVAL,
    CONF_SCAN_INTERVAL,
    CONF_SERIAL,
    DOMAIN,
    MAX_FAILED_RENEWALS,
    REFUSAL_POLLS,
    RENEW_RETRY_INTERVAL,
)
from custom_components.enphase_iq_gateway.diagnostics import (
    async_get_config_entry_diagnostics,
    device_serials,
    mask_serial,
)
from custom_components.enphase_iq_gateway.iqgateway.client import INFO_REFRESH
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    CONSUMPTION_REPORTS,
    INVERTERS,
)
from custom_components.enphase_iq_gateway.token_manager import failing_issue_id
from simulator import Capture, CloudSimulator, GatewaySimulator
from simulator.from_diagnostics import main
from tests.conftest import GatewayFactory

from .conftest import (
    FROZEN_TIME,
    assert_translated,
    credentials_entry,
    fire,
    issued_at,
    reauth_flows,
    run_clock,
    setup_capture,
    setup_entry,
    token_entry,
)

POLL = timedelta(minutes=5)
YEAR = 365 * 24 * 3600
frozen = pytest.mark.freeze_time(FROZEN_TIME)


# --------------------------------------------------------------------------- 2: login storms


@frozen
@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("cloud_fault", ["outage", "html"])
async def test_refused_token_and_a_failing_cloud_make_no_login_storm(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    cloud_fault: str,
) -> None:
    """The gateway refuses the token and no new one can be had, polled every minute.

    At most one sign-in per 15 minutes (not one per poll). The user is not asked (nothing
    they can do brings the cloud back, and asking would stop the retries): after an hour a
    repair issue says what is going on, and the entry comes back by itself with the cloud.
    """
    entry = credentials_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_SCAN_INTERVAL: 60})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    if cloud_fault == "outage":
        cloud.outage = True
    else:
        cloud.token_body_override = "<html><body>Scheduled maintenance</body></html>"
    gateway.add_fault("unauthorized", count=None)

    logins: list[int] = []
    for _ in range(120):  # two hours
        await fire(hass, freezer, timedelta(minutes=1))
        logins.append(cloud.stats["login"])
    assert logins[-1] == 8  # one every 15 minutes
    assert logins[4 * 15] == MAX_FAILED_RENEWALS + 1
    for earlier, later in zip(logins, logins[15:], strict=False):
        assert later - earlier <= 1  # never two sign-ins within 15 minutes
    assert not reauth_flows(hass)
    assert coordinator.last_exception.translation_key == "renewal_cloud_unavailable"
    issue_id = failing_issue_id(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    cloud.outage = False
    cloud.token_body_override = None
    gateway.faults.clear()
    for _ in range(15):
        await fire(hass, freezer, timedelta(minutes=1))
    assert coordinator.last_update_success  # the old token is accepted again
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@frozen
@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_setup_retries_make_no_login_storm(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """An expired token and no cloud: setup retries, yet one sign-in per 15 minutes.

    Each setup retry is a new coordinator. The user is not asked: the entry loads by itself
    once the cloud is back.
    """
    cloud.outage = True
    entry = await setup_entry(
        hass, credentials_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR + 60)))
    )
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert cloud.stats["login"] == 1
    await run_clock(
        hass, freezer, RENEW_RETRY_INTERVAL - timedelta(seconds=30), timedelta(seconds=10)
    )
    assert cloud.stats["login"] == 1  # setup was retried many times meanwhile
    for _ in range(24):  # two hours more: setup goes on being retried
        await fire(hass, freezer, timedelta(minutes=5))
    assert MAX_FAILED_RENEWALS < cloud.stats["login"] <= 9
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not reauth_flows(hass)
    cloud.outage = False
    for _ in range(6):
        await fire(hass, freezer, timedelta(minutes=5))
    assert entry.state is ConfigEntryState.LOADED


# --------------------------------------------------------------------------- 3: grace


@frozen
@pytest.mark.usefixtures("cloud_client")
@pytest.mark.parametrize("how", ["token", "credentials"])
async def test_a_refusal_at_setup_is_retried(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    how: str,
) -> None:
    """A gateway that just restarted refuses /auth/check_jwt once: no reauthentication.

    With a pasted token setup is retried; with an account the refused token is renewed at
    once (one sign-in), and setup goes on with the new one.
    """
    cloud.add_account("owner@example.com", "correct horse battery staple", {gateway.serial})
    make = credentials_entry if how == "credentials" else token_entry
    gateway.add_fault("unauthorized", count=1, path="/auth/check_jwt")
    entry = await setup_entry(hass, make(gateway, gateway.issue_token()))
    if how == "token":
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert "refused the token" in str(entry.reason)
        assert not reauth_flows(hass)
        await fire(hass, freezer, timedelta(minutes=2))
    assert entry.state is ConfigEntryState.LOADED
    assert cloud.stats["issued"] == (1 if how == "credentials" else 0)
    assert not reauth_flows(hass)


@frozen
async def test_the_grace_is_also_bounded_in_polls(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """Polled every minute, a lasting refusal asks at its fourth poll, not after 15 minutes."""
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_SCAN_INTERVAL: 60})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gateway.add_fault("unauthorized", count=None)
    for _ in range(REFUSAL_POLLS - 1):
        await fire(hass, freezer, timedelta(minutes=1))
        assert not reauth_flows(hass)
    await fire(hass, freezer, timedelta(minutes=1))
    assert len(reauth_flows(hass)) == 1


@frozen
async def test_power_lane_ticks_do_not_use_up_the_grace(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """Refused ticks of the power lane (seconds apart) fail, but only main polls count."""
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_POWER_INTERVAL: 10})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gateway.add_fault("unauthorized", count=None)
    await run_clock(hass, freezer, timedelta(minutes=4), timedelta(seconds=10))
    assert gateway.stats.requests["/auth/check_jwt"] > REFUSAL_POLLS  # the lane was refused
    assert not reauth_flows(hass)
    await run_clock(hass, freezer, timedelta(minutes=16), timedelta(seconds=30))
    await hass.async_block_till_done()
    assert len(reauth_flows(hass)) == 1  # the main poll's verdict, after its grace


@frozen
async def test_a_refusal_of_an_expired_token_asks_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """No grace for a token that expired meanwhile: the user is asked."""
    token = gateway.issue_token(issued_at=issued_at(YEAR - 600))  # expires in 10 minutes
    entry = await setup_entry(hass, token_entry(gateway, token))
    assert entry.state is ConfigEntryState.LOADED
    await fire(hass, freezer, timedelta(minutes=11))
    assert len(reauth_flows(hass)) == 1
    assert entry.runtime_data.last_exception.translation_key == "token_expired"


# --------------------------------------------------------------------------- 4: one endpoint


@frozen
@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("status", [401, 403])
async def test_one_refusing_endpoint_is_dropped_not_a_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    status: int,
) -> None:
    """An endpoint a firmware update made installer-only: polled without, probed again."""
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    path = CONSUMPTION_REPORTS.path
    captured = gateway.capture.get(path)
    assert captured is not None
    gateway.capture.set(path, "<html>Forbidden</html>", status=status)

    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert CONSUMPTION_REPORTS not in coordinator.client.polled()
    assert INVERTERS in coordinator.client.polled()
    assert hass.states.get("sensor.iq_gateway_production_power").state != "unavailable"
    asked = gateway.stats.requests[path]
    await fire(hass, freezer, POLL)
    assert gateway.stats.requests[path] == asked  # dropped from the polls
    assert coordinator.last_update_success
    assert not reauth_flows(hass)
    assert sum(cloud.stats.values()) == 0

    gateway.capture.set(path, captured.body, status=200)
    await fire(hass, freezer, INFO_REFRESH)  # /info again, and the probe asks again
    await fire(hass, freezer, POLL)
    assert CONSUMPTION_REPORTS in coordinator.client.polled()
    assert gateway.stats.requests[path] > asked + 1


# --------------------------------------------------------------------------- 8: one at a time


async def test_a_flow_and_the_poll_never_reach_the_gateway_together(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Reconfigure reads /info and proves a token while the entry polls: one at a time."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    gateway.latency = 0.02
    gateway.stats.reset()

    async def reconfigure() -> dict[str, Any]:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: gateway.address}
        )
        assert_translated(result)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "token"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
        )
        return dict(result)

    _, result = await asyncio.gather(coordinator.async_refresh(), reconfigure())
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert gateway.stats.requests["/info"] >= 1  # the flow's
    assert gateway.stats.requests["/auth/check_jwt"] >= 1
    assert gateway.stats.max_in_flight == 1
    await hass.async_block_till_done()


# --------------------------------------------------------------------------- 10: deadline


@frozen
async def test_a_poll_has_a_deadline(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """Every request answered just under its timeout: the poll ends at its deadline.

    That is 80 % of the interval, but never less than a slow request's timeout (90 s), so
    that a large site's inverter list can still be read on a short interval. Nothing goes
    on in the background after it; the next poll works as usual.
    """
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_SCAN_INTERVAL: 60})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    assert coordinator.poll_deadline == 90
    gateway.latency = 40  # the request timeout is 45 s
    gateway.stats.reset()
    started = dt_util.utcnow()

    await run_clock(hass, freezer, timedelta(seconds=60), timedelta(seconds=1))  # due
    await run_clock(hass, freezer, timedelta(seconds=95), timedelta(seconds=1))
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "timeout"
    asked = sum(gateway.stats.requests.values())
    assert asked == 3  # at 0, 40 and 80 s: the third was cancelled at 90 s
    assert dt_util.utcnow() - started < timedelta(seconds=160)

    await run_clock(hass, freezer, timedelta(seconds=50), timedelta(seconds=1))
    assert sum(gateway.stats.requests.values()) == asked  # nothing left running
    gateway.latency = 0
    await run_clock(hass, freezer, timedelta(seconds=30), timedelta(seconds=1))
    await hass.async_block_till_done()
    assert coordinator.last_update_success


# --------------------------------------------------------------------------- 11: values


async def test_values_home_assistant_cannot_show_are_unavailable(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """1e308 + 1e308 is infinite and 150 % is no charge: unavailable, not an exception."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    assert hass.states.get("sensor.battery_system_state_of_charge").state != "unavailable"
    path = BATTERY_CONTROL.path
    captured = gateway.capture.get(path)
    assert captured is not None
    body = json.loads(captured.body)
    body.update({"agg_soc": 150, "ENC_agg_avail_energy": 1e308, "ACB_agg_energy": 1e308})
    gateway.capture.set(path, json.dumps(body))
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert entry.runtime_data.last_update_success
    assert hass.states.get("sensor.battery_system_state_of_charge").state == "unavailable"
    assert hass.states.get("sensor.battery_system_available_energy").state == "unavailable"
    assert hass.states.get("sensor.iq_gateway_production_power").state != "unavailable"


# --------------------------------------------------------------------------- 12: diagnostics


async def test_diagnostics_mask_every_device_serial(
    hass: HomeAssistant, gateway: GatewaySimulator, tmp_path: Path
) -> None:
    """Microinverter (and battery) serials are masked like the gateway's, each distinctly."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    inverters = json.loads(gateway.capture.get(INVERTERS.path).body)  # type: ignore[union-attr]
    serials = {inverter["serialNumber"] for inverter in inverters}
    assert len(serials) > 1

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    assert not {serial for serial in serials if serial in text}
    masked = {
        inverter["serialNumber"]
        for inverter in json.loads(diagnostics["capture"]["api_v1_production_inverters"])
    }
    assert len(masked) == len(serials)  # none merged with another
    assert {serial[-4:] for serial in masked} == {serial[-4:] for serial in serials}
    assert mask_serial(gateway.serial) not in masked
    download = tmp_path / "download.json"
    download.write_text(json.dumps({"data": diagnostics}))
    assert main([str(download), str(tmp_path / "capture")]) == 0
    replayed = Capture.load(tmp_path / "capture")
    assert replayed.serial == mask_serial(gateway.serial)
    served = json.loads(replayed.get(INVERTERS.path).body)  # type: ignore[union-attr]
    assert {inverter["serialNumber"] for inverter in served} == masked

    # Batteries and other devices, wherever a body names them.
    body = {
        "devices:": [{"serial_num": "122204014535", "real_power_mw": 1}],
        "serial_nums": {"202323119466": {"device_type": 17}},
        "api_ecagtDevIdToSerial": 52526,
        "serialNumber": "12",
        "1": {"sn": "122344043197", "devName": "pcu"},  # /ivp/pdm/device_data's spelling
    }
    assert device_serials([json.dumps(body), "<info><sn>1</sn></info>"]) == {
        "122204014535",
        "202323119466",
        "122344043197",
    }


@pytest.mark.usefixtures("all_entities_enabled")
async def test_diagnostics_mask_the_serials_of_every_device_body(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Batteries and per-device detail (microinverters the list has not, relays): masked."""
    entry, gateway = await setup_capture(hass, start_gateway, "8.3.5289_modGone")
    await entry.runtime_data.async_refresh()  # device data is read once its entities exist
    await hass.async_block_till_done()
    device_data = json.loads(gateway.capture.get("/ivp/pdm/device_data").body)  # type: ignore[union-attr]
    serials = {
        device["sn"]
        for device in device_data.values()
        if isinstance(device, dict) and str(device["sn"]).isalnum()  # not "<<envoyserial>>EIM1"
    }
    serials |= {
        device["serial_num"]
        for group in json.loads(gateway.capture.get("/ivp/ensemble/inventory").body)  # type: ignore[union-attr]
        for device in group.get("devices", [])
    }
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert "ivp_pdm_device_data" in diagnostics["capture"]
    text = json.dumps(diagnostics)
    assert serials  # the capture names devices
    assert not {serial for serial in serials if serial in text}
