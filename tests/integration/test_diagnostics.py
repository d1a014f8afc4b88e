"""Diagnostics: nothing secret in them, and they replay in the simulator."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import CONF_SERIAL, DOMAIN
from custom_components.enphase_iq_gateway.diagnostics import (
    async_get_config_entry_diagnostics,
    mask_serial,
)
from simulator import Capture, GatewaySimulator
from simulator.from_diagnostics import capture_from_diagnostics, main, write_capture
from tests.conftest import CAPTURES, FIXTURES, GatewayFactory

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, credentials_entry, setup_capture

SENSORS = (
    "sensor.iq_gateway_production_power",
    "sensor.iq_gateway_lifetime_production",
    "sensor.iq_gateway_grid_import_energy",
    "sensor.net_consumption_ct_active_power_l2",
    "sensor.battery_system_state_of_charge",
)


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_diagnostics_hold_no_secret(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """Token, password, e-mail, serial and session id appear nowhere in the download."""
    token = gateway.issue_token()
    entry = credentials_entry(gateway, token)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    session_ids = [c.value for c in entry.runtime_data.client._session.cookie_jar]
    assert session_ids, "the client keeps a session cookie"

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    for secret in (token, OWNER_PASSWORD, OWNER_EMAIL, gateway.serial, *session_ids):
        assert secret not in text
    masked = mask_serial(gateway.serial)
    assert diagnostics["entry"]["unique_id"] == masked
    assert diagnostics["entry"]["data"][CONF_SERIAL] == masked
    assert f"<sn>{masked}</sn>" in diagnostics["capture"]["info"]
    assert diagnostics["token"]["role"] == "owner"
    assert diagnostics["token"]["renewable"] is True
    assert "/ivp/meters/readings" in diagnostics["probe"]["supported"]
    assert diagnostics["capture"]["ivp_meters_readings_log.json"]["code"] == 200


def _submodule_serials(capture: str) -> set[str]:
    """The serials of the batteries' submodules in a capture's /ivp/ensemble/status."""
    path = FIXTURES / capture / "ivp_ensemble_status"
    if not path.is_file():
        return set()
    body = json.loads(path.read_text())
    if not isinstance(body, dict) or "inventory" not in body:
        return set()  # a gateway that answers something else (an error body)
    devices = body["inventory"]["serial_nums"].values()
    return {serial for device in devices for serial in device.get("submodules") or {}}


SUBMODULE_SITES = [capture for capture in CAPTURES if _submodule_serials(capture)]


@pytest.mark.parametrize("capture", SUBMODULE_SITES)
async def test_submodule_serials_are_masked(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str
) -> None:
    """The batteries' submodules are keyed by serial in /ivp/ensemble/status: masked too."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    serials = _submodule_serials(capture)
    assert not [serial for serial in serials if serial in text]
    status = json.loads(diagnostics["capture"]["ivp_ensemble_status"])
    masked = {
        serial
        for device in status["inventory"]["serial_nums"].values()
        for serial in device.get("submodules") or {}
    }
    # Each keeps a masked form of its own (its last four digits), so the capture replays.
    assert len(masked) == len(serials)
    assert {serial[-4:] for serial in masked} == {serial[-4:] for serial in serials}


async def test_diagnostics_replay_in_the_simulator(
    hass: HomeAssistant, gateway: GatewaySimulator, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """A download becomes a capture folder that serves the same values."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        data={
            CONF_HOST: gateway.address,
            CONF_SERIAL: gateway.serial,
            CONF_TOKEN: gateway.issue_token(),
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    before = {sensor: hass.states.get(sensor).state for sensor in SENSORS}
    download = tmp_path / "download.json"
    download.write_text(json.dumps({"data": await async_get_config_entry_diagnostics(hass, entry)}))
    await hass.config_entries.async_remove(entry.entry_id)  # frees the entity ids
    await hass.async_block_till_done()

    folder = tmp_path / "capture"
    assert main([str(download), str(folder)]) == 0
    replay = GatewaySimulator(Capture.load(folder), authority=gateway.authority)
    await replay.start()
    try:
        masked = mask_serial(gateway.serial)
        assert replay.serial == masked
        replay_entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=masked,
            data={CONF_HOST: replay.address, CONF_SERIAL: masked, CONF_TOKEN: replay.issue_token()},
        )
        replay_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(replay_entry.entry_id)
        await hass.async_block_till_done()
        after = {sensor: hass.states.get(sensor).state for sensor in SENSORS}
    finally:
        await replay.stop()
    assert after == before
    assert "unavailable" not in after.values()


def test_from_diagnostics_refuses_other_files(tmp_path: Path) -> None:
    """A file that is no diagnostics download of this integration is refused clearly."""
    with pytest.raises(ValueError, match="not a diagnostics download"):
        capture_from_diagnostics({"data": {"something": "else"}})
    with pytest.raises(ValueError, match="outside the capture folder"):
        write_capture({"info": "<envoy_info/>", "../escape": "x"}, tmp_path / "c")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main([str(bad), str(tmp_path / "out")]) == 2
