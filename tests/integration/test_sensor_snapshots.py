"""What a user gets, one line per entity and per device, for a few captures.

The values of every capture are checked against its raw bodies in test_sensor_values.py
and test_system_values.py; these snapshots hold what a reviewer reads: for each entity its
id, name, device, kind (device class, state class, unit, category), enum options, and
whether it starts enabled; for each device its name, model and place in the tree. Five
kinds of site: three CTs with batteries, a System Controller and live data on split phase
(the rich capture), three phase with CTs, AC Batteries, legacy firmware without tokens or
CTs, and IQ Batteries with an IQ Meter Collar and an IQ Combiner 6C.

Home Assistant's own registry changes between releases, so each test leg keeps its
snapshots in a folder named after its version (beside, not inside, ``snapshots/``: syrupy
treats everything under the default folder as the current run's and would delete the
other release's files on ``--snapshot-update``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from tests.conftest import RICH_CAPTURE, GatewayFactory

from .conftest import FROZEN_TIME, setup_capture

pytestmark = pytest.mark.freeze_time(FROZEN_TIME)


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


CAPTURES = [RICH_CAPTURE, "7.6.175_with_cts_3phase", "8.2.4382_ACB", "3.9.36", "8.3.1598_collar"]


def _kind(entry: er.RegistryEntry) -> str:
    """Device class, state class, unit (and the unit shown, where another), category."""
    capabilities: dict[str, Any] = dict(entry.capabilities or {})
    shown = (entry.options.get("sensor.private") or {}).get("suggested_unit_of_measurement")
    parts = [
        str(entry.original_device_class or "-"),
        str(capabilities.pop("state_class", None) or "-"),
        str(entry.unit_of_measurement or "-")
        + (f" (shown {shown})" if shown and shown != entry.unit_of_measurement else ""),
    ]
    if entry.entity_category is not None:
        parts.append(str(entry.entity_category))
    if entry.disabled_by is not None:
        parts.append("disabled by default")
    if options := capabilities.pop("options", None):
        parts.append("options: " + ", ".join(map(str, options)))
    if capabilities:
        parts.append(f"capabilities: {capabilities}")
    return " | ".join(parts)


def _summary(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """The entry's devices and entities, one line each, sorted."""
    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    names: dict[str, str] = {}
    device_lines = []
    for device in dr.async_entries_for_config_entry(devices, entry_id):
        names[device.id] = str(device.name)
    for device in dr.async_entries_for_config_entry(devices, entry_id):
        via = names.get(device.via_device_id or "", "-")
        device_lines.append(
            f"{device.name} | {device.manufacturer} {device.model} | serial "
            f"{device.serial_number or '-'} | firmware {device.sw_version or '-'} | via {via}"
        )
    entity_lines = [
        f"{entry.entity_id} | {entry.original_name} | on {names.get(entry.device_id or '', '-')}"
        f" | {entry.unique_id} | {_kind(entry)}"
        for entry in er.async_entries_for_config_entry(entities, entry_id)
    ]
    return {"devices": sorted(device_lines), "entities": sorted(entity_lines)}


@pytest.mark.parametrize("capture", CAPTURES)
async def test_entities_and_devices(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    snapshot: SnapshotAssertion,
    capture: str,
) -> None:
    """Every entity (enabled by default or not) and device a capture gives."""
    entry, _ = await setup_capture(hass, start_gateway, capture)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _summary(hass, entry.entry_id) == snapshot
