"""The suite itself: work that waits on the frozen clock fails a test, never hangs it."""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant
import pytest

from . import conftest
from .conftest import FROZEN_TIME


@pytest.mark.freeze_time(FROZEN_TIME)
async def test_work_waiting_on_the_frozen_clock_fails_the_wait(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that sleeps on the frozen clock: waiting for it fails, naming it."""
    monkeypatch.setattr(conftest, "STALL_SECONDS", 0.5, raising=False)
    sleeper = hass.async_create_task(asyncio.sleep(10), "sleeps on the frozen clock")
    with pytest.raises(AssertionError, match="sleeps on the frozen clock"):
        await hass.async_block_till_done()
    sleeper.cancel()
    await hass.async_block_till_done()  # with nothing left waiting, it ends as usual
