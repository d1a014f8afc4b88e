"""Every capture sets up without an error or a warning in the log."""

from __future__ import annotations

import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest

from tests.conftest import CAPTURES, GatewayFactory

from .conftest import setup_capture

# Home Assistant's notice about any custom integration, and asyncio's debug-mode timing of
# slow steps (the test harness runs the loop in debug mode; its threshold is wall-clock
# time on a shared machine), say nothing about this integration.
NOT_OURS = ("has not been tested by Home Assistant",)


@pytest.fixture(params=[False, True], ids=["defaults", "all-enabled"])
def enabled(request: pytest.FixtureRequest) -> bool:
    """With the registry's defaults, and with every entity enabled (each shows its state)."""
    if request.param:
        request.getfixturevalue("all_entities_enabled")
    return bool(request.param)


@pytest.mark.parametrize("capture", CAPTURES)
async def test_capture_sets_up_cleanly(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    capture: str,
    caplog: pytest.LogCaptureFixture,
    enabled: bool,
) -> None:
    """Set up, poll once more, and find nothing at WARNING or above in the log."""
    caplog.set_level(logging.WARNING)
    entry, _ = await setup_capture(hass, start_gateway, capture)
    assert entry.state is ConfigEntryState.LOADED
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert entry.runtime_data.last_update_success
    problems = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and record.name != "asyncio"
        and not any(text in record.getMessage() for text in NOT_OURS)
    ]
    assert not problems
