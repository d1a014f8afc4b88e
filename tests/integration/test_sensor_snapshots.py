"""One snapshot of every sensor (all enabled) for a few representative captures.

The values of every capture are checked against its raw bodies in test_sensor_values.py;
these snapshots show what a user gets (names, units, classes, devices) on four kinds of
site: three CTs with batteries and live data on split phase (the rich capture), three
phase with CTs, AC Batteries, and legacy firmware without tokens or CTs.

Home Assistant's own serialization of registry entries and states changes between
releases, so each test leg keeps its snapshots in a folder named after its version
(beside, not inside, ``snapshots/``: syrupy treats everything under the default folder as
the current run's and would delete the other release's files on ``--snapshot-update``).
"""

from __future__ import annotations

from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from tests.conftest import RICH_CAPTURE, GatewayFactory

from .conftest import FROZEN_TIME, setup_capture


class PerReleaseSnapshots(HomeAssistantSnapshotExtension):
    """Snapshots kept per Home Assistant release (major.minor)."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """``snapshots-ha-2025.4`` next to the test file."""
        folder = f"snapshots-ha-{MAJOR_VERSION}.{MINOR_VERSION}"
        return str(Path(test_location.filepath).parent / folder)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots in the folder of this test leg's Home Assistant release."""
    return snapshot.use_extension(PerReleaseSnapshots)


@pytest.mark.usefixtures("all_entities_enabled")
@pytest.mark.parametrize(
    "capture", [RICH_CAPTURE, "7.6.175_with_cts_3phase", "8.2.4382_ACB", "3.9.36"]
)
async def test_sensors(
    *,
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    start_gateway: GatewayFactory,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
    capture: str,
) -> None:
    """Every sensor of the capture, registry entry and state."""
    freezer.move_to(FROZEN_TIME)
    entry, _ = await setup_capture(hass, start_gateway, capture)
    # The live sensors exist now: from this poll on, live data is kept live.
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
