"""One snapshot of every sensor (all enabled) for every capture, through the real client.

Home Assistant's own serialization of registry entries and states changes between
releases, so each test leg keeps its snapshots in a folder named after its version
(beside, not inside, ``snapshots/``: syrupy treats everything under the default folder as
the current run's and would delete the other release's files on ``--snapshot-update``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from tests.conftest import CAPTURES, GatewayFactory

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


@pytest.fixture
def all_entities_enabled() -> Iterator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.mark.usefixtures("all_entities_enabled")
@pytest.mark.parametrize("capture", CAPTURES)
async def test_sensors(
    *,
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    start_gateway: GatewayFactory,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
    capture: str,
) -> None:
    """Every sensor of every capture, registry entry and state."""
    freezer.move_to(FROZEN_TIME)
    entry, _ = await setup_capture(hass, start_gateway, capture)
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
