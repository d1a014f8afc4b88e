"""Gateway load: the requests a set-up entry sends, counted by the simulated gateway.

A measurement, not a timing: six hours of five-minute polls on the frozen clock, with the
entity registry's defaults. ``scripts/test -- tests/integration/test_gateway_load.py -s``
prints the requests per endpoint and per poll; the assertions hold the cadence each
endpoint is documented with (README, "What is polled").
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from tests.conftest import RICH_CAPTURE, GatewayFactory

from .conftest import FROZEN_TIME, fire, setup_capture

pytestmark = pytest.mark.freeze_time(FROZEN_TIME)

POLL = timedelta(minutes=5)
POLLS = 72  # six hours: the slow cadences and the /info re-read all come round
BATTERY_SITES = [RICH_CAPTURE, "8.3.1598_collar", "7.3.517", "8.2.4345_with_device_data"]


async def measure(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_gateway: GatewayFactory, capture: str
) -> Counter[str]:
    """Requests per path over ``POLLS`` polls after setup (setup's own probe not counted)."""
    _, gateway = await setup_capture(hass, start_gateway, capture)
    gateway.stats.reset()
    for _ in range(POLLS):
        await fire(hass, freezer, POLL)
    requests = Counter(gateway.stats.requests)
    total = sum(requests.values())
    lines = [f"{capture}: {total} requests in {POLLS} polls = {total / POLLS:.2f} per poll"]
    for path, count in sorted(requests.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {count:4d}  {count / POLLS:5.2f}/poll  {path}")
    print("\n" + "\n".join(lines))  # noqa: T201 - the measurement, shown with -s
    return requests


@pytest.mark.parametrize("capture", BATTERY_SITES)
async def test_requests_per_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start_gateway: GatewayFactory,
    capture: str,
) -> None:
    """Each endpoint at its cadence: live state every poll, settings every 30 minutes."""
    requests = await measure(hass, freezer, start_gateway, capture)
    every_poll = ("/api/v1/production/inverters", "/ivp/ensemble/inventory")
    for path in every_poll:
        assert requests[path] >= POLLS, path
    # Read every 30 minutes (12 times in 6 hours), plus once at a re-probe.
    for path in ("/ivp/ensemble/status", "/ivp/ss/dry_contact_settings", "/admin/lib/tariff"):
        assert requests[path] <= POLLS // 6 + 1, path
    # The on-demand ones: dry contacts with nothing wired (all disabled) are not read.
    if capture in (RICH_CAPTURE, "8.2.4345_with_device_data", "8.3.1598_collar"):
        assert requests["/ivp/ensemble/dry_contacts"] <= 1  # a re-probe at most
        assert requests["/ivp/ss/dry_contact_settings"] <= 1
    # No generator configured anywhere: its status is not read.
    assert requests["/ivp/ensemble/generator"] <= 1


@pytest.mark.parametrize("capture", ["3.7.0", "3.9.36"])
async def test_what_never_answered_well_is_asked_a_few_times_a_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start_gateway: GatewayFactory,
    capture: str,
) -> None:
    """Firmware 3.x answers /production.json with its web page, every time.

    Such an endpoint is asked again with waits that double (5, 10, 20 ... minutes), not at
    every poll: six hours cost a handful of requests, not one a poll.
    """
    requests = await measure(hass, freezer, start_gateway, capture)
    assert 1 <= requests["/production.json"] <= 8
