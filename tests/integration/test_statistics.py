"""Lifetime counters the Energy dashboard can trust, whatever the gateway's counters do.

The guard alone first (``counters.LifetimeGuard``), then through Home Assistant's state
machine against the simulator playing its counter scenarios, with the real energy taken
from a twin simulator that plays none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
import logging
import random
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.components.sensor.const import UNIT_CONVERTERS
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir, restore_state
from homeassistant.helpers.entity_platform import async_get_platforms
from homeassistant.helpers.json import json_dumps
from homeassistant.helpers.restore_state import StoredState
from homeassistant.util import dt as dt_util
from homeassistant.util.json import json_loads
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import DOMAIN, LOGGER
from custom_components.enphase_iq_gateway.counters import (
    ABSURD_WH_PER_DAY,
    ATTR_GATEWAY_VALUE,
    HOLD_POLLS,
    MAX_STITCHES,
    PLAUSIBLE_RATE_FACTOR,
    RESOLUTION,
    LifetimeGuard,
    stitch_issue_id,
)
from custom_components.enphase_iq_gateway.iqgateway import IQGateway
from simulator import Clock, GatewaySimulator
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import setup_entry, token_entry

START = datetime(2026, 6, 21, 12, tzinfo=dt_util.UTC)
POLL = timedelta(minutes=5)


# A rise per hour a counter of the tests below has been seen to make (500 Wh a poll).
RATE = 6000.0


def _warm() -> LifetimeGuard:
    """A guard that knows how fast its counter can rise (a new one holds its first rise)."""
    return LifetimeGuard(rate=RATE)


def _run(readings: list[float | None], guard: LifetimeGuard | None = None) -> list[float | None]:
    """What a warm guard publishes for these readings, one poll each."""
    guard = guard or _warm()
    return [guard.update(reading, START + POLL * i) for i, reading in enumerate(readings)]


# --------------------------------------------------------------------------- the guard


def test_a_short_dip_is_held_and_forgotten() -> None:
    """A lower reading for fewer than HOLD_POLLS polls keeps the last value."""
    assert HOLD_POLLS == 3
    assert _run([1000, 900, 900, 1001, 5, 5, 1002]) == [1000, 1000, 1000, 1001, 1001, 1001, 1002]


def test_a_lasting_drop_is_stitched() -> None:
    """A drop that lasts: the published value goes on from where it was, by the increases.

    The increases while held count too (here 2 + 3), published at the stitch.
    """
    guard = _warm()
    published = _run([1000, 10, 12, 15, 20, 30], guard)
    assert published == [1000, 1000, 1000, 1005, 1010, 1020]
    assert guard.stitched
    assert guard.drop is None  # told once, by the update that stitched
    assert guard.shown_reading == 30


def test_the_stitching_update_tells_the_drop() -> None:
    """The update that stitches says how far below the published value the counter read."""
    guard = _warm()
    _run([1000, 10, 12], guard)
    guard.update(15, START + POLL * 3)
    assert guard.drop == pytest.approx(990)


def test_a_counter_that_comes_back_is_followed_again() -> None:
    """5 % low for five polls, then right again: never lower, never more than real."""
    real = [1000.0 + 10 * i for i in range(12)]
    readings = [r * (0.95 if 1 <= i <= 5 else 1) for i, r in enumerate(real)]
    guard = _warm()
    published = _run(readings, guard)
    _check(published, real)
    assert published[6:] == real[6:]  # back on the gateway's counter
    assert not guard.stitched
    assert guard.shown_reading is None


def test_half_then_half_rate_then_back() -> None:
    """A counter read at half (growing at half the rate) for a while, then right again."""
    real = [10_000.0 + 100 * i for i in range(20)]
    readings = [r / 2 if 2 <= i < 12 else r for i, r in enumerate(real)]
    published = _run(readings)
    _check(published, real)
    assert published[12:] == real[12:]


def test_a_recovery_that_lands_just_below_is_not_energy() -> None:
    """A counter reset, then restored (from a backup) to just below the published value.

    The jump back is not energy: the published value does not take it.
    """
    guard = _warm()
    published = _run([1000, 1, 2, 3, 13, 23, 1015, 1025, 1035], guard)
    assert published[:6] == [1000, 1000, 1000, 1002, 1012, 1022]
    # 1015 + 999 would be far above 1022: the counter came (most of the way) back.
    assert published[6:] == [1022, 1025, 1035]
    assert not guard.stitched


def test_roll_over_is_stitched() -> None:
    """A counter that rolls over at 2**16 goes on counting."""
    real = [65_000.0 + 200 * i for i in range(12)]
    readings = [r % 65_536 for r in real]
    guard = _warm()
    published = _run(readings, guard)
    _check(published, real)
    assert guard.stitched
    assert published[-1] - published[-2] == 200  # grows with the counter again


def test_repeated_drops_and_a_dip_inside_a_stitch() -> None:
    """Two resets in a row, then a lasting dip inside the second stitch that ends again."""
    real = [5000.0 + 10 * i for i in range(40)]
    readings: list[float] = []
    for i, r in enumerate(real):
        if i < 5:
            readings.append(r)
        elif i < 15:
            readings.append(r - real[5] + 1)  # reset at poll 5
        elif i < 25:
            readings.append(r - real[15] + 1)  # reset again at poll 15
        elif i < 31:
            readings.append((r - real[15] + 1) * 0.5)  # then read at half for six polls
        else:
            readings.append(r - real[15] + 1)
    guard = _warm()
    published = _run(readings, guard)
    _check(published, real)
    assert len(guard.offsets) == 2  # the dip's own stitch ended when it came back
    assert published[-1] - published[-2] == 10


def test_stitches_are_bounded() -> None:
    """A counter rolling over again and again keeps only the latest stitches."""
    guard = _warm()
    readings = [v for _ in range(MAX_STITCHES + 3) for v in (900.0, 100.0, 110.0, 120.0)]
    published = _run(readings, guard)
    assert len(guard.offsets) == MAX_STITCHES
    assert all(b >= a for a, b in pairwise(published) if a and b)


def test_zero_and_absurd_readings_are_unavailable() -> None:
    """A counter that never counted is 0; one that had a value and reads 0 is unavailable.

    So is a jump beyond 4 GWh a day; the last good value stays.
    """
    guard = _warm()
    assert guard.update(0.0, START) == 0.0
    assert guard.update(None, START) is None
    assert guard.update(2_000.0, START) == 2_000.0
    assert guard.update(0.0, START) is None
    assert guard.update(2_000.0 + ABSURD_WH_PER_DAY * 2, START + timedelta(hours=1)) is None
    assert guard.update(2_500.0, START + timedelta(hours=2)) == 2_500.0


def test_a_one_poll_spike_is_not_energy() -> None:
    """A counter that reads double for one poll, then right again: nothing published of it.

    Before, the spike was published and the way back down stitched: the published value
    stayed above the real energy for good.
    """
    real = [1_000_000.0 + 400 * i for i in range(12)]
    for factor in (1.01, 2.0, 100.0):
        readings = [r * factor if i == 6 else r for i, r in enumerate(real)]
        guard = _warm()
        published = _run(readings, guard)
        assert published[6] == real[5], factor
        assert published[7:] == real[7:], factor
        assert not guard.stitched


def test_a_rise_that_lasts_is_published_whole() -> None:
    """A jump that stays (a counter that caught up) is real: held, then published whole.

    The rate learns from the counter's rises after the jump, not from the jump: a spike
    later is held again.
    """
    real = [1000.0 + 400 * i for i in range(8)] + [90_000.0 + 500 * i for i in range(8)]
    guard = _warm()
    published = _run(real, guard)
    assert published[8:10] == [real[7]] * 2
    assert published[10:] == real[10:]
    assert guard.rate == pytest.approx(500 * 12)
    # After a day away, a day's worth of energy is plausible; twice the value is not.
    later = START + POLL * 15 + timedelta(days=1)
    assert guard.update(real[-1] + 500 * 12 * 24, later) == real[-1] + 500 * 12 * 24
    assert guard.update(real[-1] * 2, later + POLL) == real[-1] + 500 * 12 * 24


def test_a_new_guard_holds_its_first_rise() -> None:
    """A guard that does not know how fast its counter rises holds the first rise.

    A counter that stands still (export at night) would otherwise take a spike as its
    first rise. An older release's restore data (no rate) is such a guard.
    """
    guard = LifetimeGuard()
    published = _run([1000, 1000, 1100, 1200, 1300, 1400], guard)
    assert published == [1000, 1000, 1000, 1000, 1300, 1400]
    assert guard.rate == pytest.approx(1200)  # 200 in ten minutes, learned after the jump
    saved = {k: v for k, v in _warm().as_dict().items() if k != "rate"}
    assert LifetimeGuard.from_dict(
        {**saved, "value": 5.0, "reading": 5.0, "accepted_at": START.isoformat()}
    ) == LifetimeGuard(5.0, 5.0, accepted_at=START)


def test_a_spike_on_top_of_a_jump_starts_the_hold_again() -> None:
    """Only readings that go on from the first held one as the counter can make it real."""
    real = [1000.0 + 100 * i for i in range(10)]
    readings = [*real[:4], 50_000, 50_100, 5_000_000, real[7], real[8], real[9]]
    published = _run(readings)
    assert published == [*real[:4], real[3], real[3], real[3], *real[7:]]


def test_a_site_that_makes_more_than_ever_is_not_held_for_long() -> None:
    """A sunny day after dull ones (or a new car charging): a rate never seen before.

    The guard learned a slow counter (300 Wh an hour); then the site makes 40 times that,
    for hours. The rise is held while it may be a spike, and published whole once it has
    lasted HOLD_POLLS polls; from then on it is followed, never held all day.
    """
    guard = LifetimeGuard(rate=300.0)
    slow = [1000.0 + 25 * i for i in range(4)]  # 300 Wh an hour at five-minute polls
    fast = [slow[-1] + 1000 * (i + 1) for i in range(24)]  # 12 kWh an hour, for two hours
    published = _run([*slow, *fast], guard)
    assert published[: len(slow)] == slow
    assert published[len(slow) : len(slow) + HOLD_POLLS - 1] == [slow[-1]] * (HOLD_POLLS - 1)
    assert published[len(slow) + HOLD_POLLS - 1 :] == fast[HOLD_POLLS - 1 :]


def test_the_guard_survives_a_restart() -> None:
    """``as_dict`` keeps everything a stitch needs; what cannot be read is not trusted."""
    guard = _warm()
    _run([1000, 10, 12, 15], guard)
    restored = LifetimeGuard.from_dict(guard.as_dict())
    assert restored == guard
    assert restored is not None
    assert restored.update(25, START + timedelta(hours=1)) == 1015
    for broken in (
        None,
        "x",
        {},
        {**guard.as_dict(), "offsets": "1"},
        {**guard.as_dict(), "value": 0},
    ):
        assert LifetimeGuard.from_dict(broken) is None
    # Only the last value known (an older release saved no guard): a dip is still caught.
    old = LifetimeGuard.starting_at(5000.0, START)
    assert old.update(4000.0, START) == 5000.0
    assert LifetimeGuard.starting_at(None, START) == LifetimeGuard()


def test_random_glitches_never_lie() -> None:
    """Random runs of the glitches gateways have: never lower, never more than real.

    Over a run, the published energy is never above the real energy plus a rise the site
    could make (a spike within it passes: ``PLAUSIBLE_RATE_FACTOR`` times the largest real
    rise in a poll), and at the end never below it minus the energy of the polls in which
    the counter did not read right (a glitch began, went on or ended: no reading tells
    that energy apart from the glitch) and of the polls after each while it is held.
    """
    rng = random.Random(13)  # noqa: S311 - test data, not a secret
    for _ in range(1000):
        real, readings = _random_run(rng)
        published = _run(readings, LifetimeGuard())
        steps = [b - a for a, b in pairwise(real)]
        _check(published, real, slack=PLAUSIBLE_RATE_FACTOR * max(steps) + RESOLUTION)
        glitches = [
            i
            for i, (step, (before, after)) in enumerate(zip(steps, pairwise(readings), strict=True))
            if abs((after - before) - step) > 1e-6 * max(after, before)
        ]
        lost = sum(
            step for i, step in enumerate(steps) if any(0 <= i - g < HOLD_POLLS for g in glitches)
        )
        last, first = published[-1], published[0]
        assert last is not None
        assert first is not None
        assert last - first >= real[-1] - real[0] - lost - 0.01, (published, real, readings)


def _random_run(rng: random.Random) -> tuple[list[float], list[float]]:
    """A real counter and what a glitching gateway reads of it, poll by poll.

    The site makes up to ``power`` per poll (nothing at night). The gateway's counter is the
    real one less a shift. Stretch by stretch it reads right, dips (a share of itself, for
    one poll or many, then right again), rises (1.01 to 100 times itself, for fewer polls
    than a hold, then right again), is reset or rolls over (a new, larger shift), or comes
    back to where it was before its last reset (the shift before), possibly a little short
    of it (a counter restored from a backup). The run starts and ends right, for longer
    than a hold (a new guard holds its counter's first rise, and learns from it).
    """
    power = rng.uniform(10, 2000)
    value = rng.uniform(1e3, 1e7)
    real: list[float] = [value]
    readings: list[float] = [value]
    shifts = [0.0]
    for _ in range(HOLD_POLLS + 1):
        value += rng.uniform(0.5, 1) * power
        real.append(value)
        readings.append(value)
    kind = "right"
    while len(real) < 60:
        share = 1.0
        if kind == "dip":
            share = rng.uniform(0.3, 0.99)
        elif kind == "rise":
            share = rng.choice((rng.uniform(1.01, 1.1), rng.uniform(1.1, 100)))
        elif kind == "reset" and len(shifts) < 3:
            shifts.append(value - rng.uniform(1, (value - shifts[-1]) * 0.9))
        elif kind == "back" and len(shifts) > 1:
            size = shifts.pop() - shifts[-1]
            shifts[-1] += rng.choice((0.0, rng.uniform(0, 0.1) * size))
        # A new level (after a reset or a come-back) lasts long enough to be seen as one.
        lengths = {"right": (1, 2, 3, 4, 6, 10), "dip": (1, 2, 3, 4, 6, 10), "rise": (1, 2)}
        for _ in range(rng.choice(lengths.get(kind, (HOLD_POLLS, 6, 10)))):
            value += rng.choice((0.0, rng.uniform(0.5, 1) * power))
            real.append(value)
            readings.append((value - shifts[-1]) * share)
        # A dip or rise ends with the counter right again (a dip to another share would be
        # a counter coming back part of the way, by less than half: see counters.py).
        kind = (
            "right"
            if kind in ("dip", "rise")
            else rng.choice(("right", "dip", "rise", "reset", "back"))
        )
    for _ in range(HOLD_POLLS + 1):
        value += rng.uniform(0.5, 1) * power
        real.append(value)
        readings.append(value - shifts[-1])
    return real, readings


def _check(published: list[float | None], real: list[float], slack: float = 0.0) -> None:
    """Never lower; never more than the real energy since the start (plus ``slack``)."""
    shown = [(p, r) for p, r in zip(published, real, strict=True) if p is not None]
    for (before, _), (after, _) in pairwise(shown):
        assert after >= before, published
    first, first_real = shown[0]
    for value, real_value in shown:
        # (10 mWh: a stitched value is rounded to the mWh, each stitch by up to half of one)
        assert value - first <= real_value - first_real + slack + 0.01, (published, real)


# --------------------------------------------------------------------------- through HA

SCENARIO_POLLS = 10
WARM_UP_POLLS = 8
LIFETIME = "sensor.iq_gateway_lifetime_production"


@dataclass
class Samples:
    """One sensor over a run, poll by poll: published (the state), real, and raw reading."""

    unit: float
    """One native unit (Wh, VAh...) in the shown unit: the simulator's rounding."""
    published: list[float | None] = field(default_factory=list)
    real: list[float | None] = field(default_factory=list)
    raw: list[float | None] = field(default_factory=list)

    def decreases(self, values: list[float | None]) -> int:
        """How often a number in ``values`` is lower than the number before it."""
        numbers = [v for v in values if v is not None]
        return sum(b < a for a, b in pairwise(numbers))


class Site:
    """The rich capture's gateway playing scenarios, its twin that plays none, and HA."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: MockConfigEntry,
        sim: GatewaySimulator,
        twin: IQGateway,
        freezer: FrozenDateTimeFactory,
    ) -> None:
        self.hass, self.entry, self.sim, self.twin, self.freezer = hass, entry, sim, twin, freezer
        self.samples: dict[str, Samples] = {}

    @classmethod
    async def start(
        cls,
        hass: HomeAssistant,
        start_gateway: GatewayFactory,
        freezer: FrozenDateTimeFactory,
        session: aiohttp.ClientSession,
    ) -> Site:
        clock = Clock(start=dt_util.utcnow().timestamp())
        sim = await start_gateway(RICH_CAPTURE, clock=clock, moving=True)
        twin = await start_gateway(RICH_CAPTURE, clock=clock, moving=True)
        entry = token_entry(sim, sim.issue_token())
        await setup_entry(hass, entry)
        client = IQGateway(twin.address, session, token=twin.issue_token(), retry_delay=0)
        site = cls(hass, entry, sim, client, freezer)
        # A new guard holds its counter's first rise and learns from it how fast the
        # counter rises; these polls let it, before the run is sampled.
        await site.poll(WARM_UP_POLLS)
        site.samples.clear()
        await site.sample()
        return site

    def counters(self) -> dict[str, SensorEntity]:
        """Every lifetime counter (``total_increasing``) of the entry, by entity id."""
        return {
            entity.entity_id: entity
            for platform in async_get_platforms(self.hass, DOMAIN)
            for entity in platform.entities.values()
            if isinstance(entity, SensorEntity)
            and entity.state_class is SensorStateClass.TOTAL_INCREASING
        }

    async def poll(self, count: int = 1) -> None:
        """Let five minutes pass (on both clocks) and poll, ``count`` times."""
        for _ in range(count):
            self.freezer.tick(POLL)
            self.sim.clock.advance(POLL.total_seconds())
            await self.entry.runtime_data.async_refresh()
            await self.hass.async_block_till_done()
            await self.sample()

    async def sample(self) -> None:
        """Record each counter: its state, its real value (the twin) and its raw reading."""
        real_data = await self.twin.poll()
        polled = self.entry.runtime_data
        for entity_id, entity in self.counters().items():
            samples = self.samples.setdefault(entity_id, Samples(self._shown(entity, 1) or 1))
            state = self.hass.states.get(entity_id)
            samples.published.append(_number(state.state) if state else None)
            real = entity._source(real_data)
            samples.real.append(self._shown(entity, entity.entity_description.value_fn(real)))
            raw = entity._source(polled.data)
            samples.raw.append(self._shown(entity, entity.entity_description.value_fn(raw)))

    def _shown(self, entity: SensorEntity, value: Any) -> float | None:
        """A native value in the unit the state machine shows the sensor in."""
        if not isinstance(value, int | float):
            return None
        converter = UNIT_CONVERTERS.get(entity.device_class)
        native, shown = entity.native_unit_of_measurement, entity.unit_of_measurement
        if converter is None or native == shown:
            return float(value)
        return converter.convert(float(value), native, shown)

    async def restart(self) -> None:
        """Unload and set up again, the saved states going through JSON as on disk."""
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        stored = restore_state.async_get(self.hass)
        stored.last_states = {
            entity_id: StoredState.from_dict(json_loads(json_dumps(saved.as_dict())))
            for entity_id, saved in stored.last_states.items()
        }
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.hass.async_block_till_done()
        await self.sample()


def _number(state: str) -> float | None:
    try:
        return float(state)
    except ValueError:
        return None


def _counted(site: Site) -> dict[str, Samples]:
    """The counters with a value (a counter the gateway reports as 0 is unavailable)."""
    return {i: s for i, s in site.samples.items() if s.published[0] is not None}


def _truthful(site: Site, *, back: bool, lost_polls: int = 0, gaps: bool = False) -> None:
    """Every counter: never lower, never more than the real energy, and nothing else lost.

    ``back``: the counters are right again at the end, so each sensor is back on the
    gateway's counter (published = real: no jump, and no energy lost for good).
    ``lost_polls``: else, how many polls' worth of real energy a stitch may have missed
    (the polls between the last right reading and the first low one).
    ``gaps``: a counter may be unavailable for a while (one the gateway reads as 0).
    Real energy is the twin's; the simulator rounds a counter it scales to its own unit,
    so a stitch may count one unit more than the real increase.
    """
    counted = _counted(site)
    assert len(counted) >= 40
    for entity_id, samples in counted.items():
        real = samples.real
        published = samples.published
        if gaps:
            shown = [(p, r) for p, r in zip(published, real, strict=True) if p is not None]
            published, real = [p for p, _ in shown], [r for _, r in shown]
        assert published[-1] is not None, (entity_id, published)
        assert None not in published, (entity_id, published)
        assert None not in real, (entity_id, real)
        assert samples.decreases(real) == 0, (entity_id, real)  # the model is right
        assert samples.decreases(published) == 0, (entity_id, published)
        assert samples.decreases(samples.published) == 0, (entity_id, samples.published)
        first, first_real = published[0], real[0]
        assert first is not None
        assert first_real is not None
        for value, real_value in zip(published, real, strict=True):
            assert value is not None
            assert real_value is not None
            rise, real_rise = value - first, real_value - first_real
            assert rise <= real_rise + samples.unit, (entity_id, published, real)
        last, last_real = published[-1], real[-1]
        assert last is not None
        assert last_real is not None
        if back:
            assert last == pytest.approx(last_real, abs=1e-9), (entity_id, published, real)
        else:
            reals = [r for r in real if r is not None]
            steps = sorted((b - a for a, b in pairwise(reals)), reverse=True)
            lost = (last_real - first_real) - (last - first)
            assert lost <= sum(steps[:lost_polls]) + samples.unit, (entity_id, published, real)


def _table_row(name: str, site: Site) -> None:
    """Count the decreases over the run: raw readings against published.

    The raw readings are what an integration without the guard would publish. The row is
    printed for the side-by-side table (``pytest -s``).
    """
    counted = _counted(site)
    raw = sum(s.decreases(s.raw) for s in counted.values())
    published = sum(s.decreases(s.published) for s in counted.values())
    row = f"| {name} | {len(counted)} | {raw} | {published} |"
    print(f"\n{row}")  # noqa: T201 - the side-by-side table
    assert raw > 0  # the scenario bit
    assert published == 0


@pytest.fixture
async def site(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    freezer: FrozenDateTimeFactory,
    http_session: aiohttp.ClientSession,
    all_entities_enabled: None,
) -> Site:
    """The rich capture's site, every sensor enabled, sampled once."""
    return await Site.start(hass, start_gateway, freezer, http_session)


async def test_a_one_poll_dip(hass: HomeAssistant, site: Site) -> None:
    """Every lifetime counter 5 % low for one poll: held, then followed again."""
    await site.poll(2)
    site.sim.add_counter_scenario("dip", polls=1)
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=True)
    _table_row("every lifetime counter 5 % low for one poll", site)


async def test_five_polls_low_then_right_again(hass: HomeAssistant, site: Site) -> None:
    """5 % low for five polls, then right again: stitched, then back on the counter."""
    await site.poll(2)
    site.sim.add_counter_scenario("dip", polls=5)
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=True)
    _table_row("5 % low for five polls, then right again", site)


async def test_half_at_half_rate_then_right_again(hass: HomeAssistant, site: Site) -> None:
    """Read at half (growing at half the rate) for a while, then right again."""
    await site.poll(2)
    site.sim.add_counter_scenario("dip", polls=None, factor=0.5)
    await site.poll(6)
    site.sim.clear_counter_scenarios()
    await site.poll(3)
    _truthful(site, back=True)


async def test_drop_to_half_and_stay(hass: HomeAssistant, site: Site) -> None:
    """Counters drop to half and stay there (a meter replaced): stitched for good.

    What is lost is the energy of the poll in which the counters dropped, which no reading
    tells.
    """
    await site.poll(2)
    site.sim.add_counter_scenario("drop")
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=False, lost_polls=1)
    _table_row("counters drop to half and stay there", site)


async def test_roll_over(hass: HomeAssistant, site: Site) -> None:
    """Every counter rolls over (to about 1 % of itself) and counts on: stitched."""
    await site.poll(2)
    site.sim.add_counter_scenario("rollover")
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=False, lost_polls=1)
    _table_row("every counter rolls over", site)


async def test_a_one_poll_spike(hass: HomeAssistant, site: Site) -> None:
    """Every lifetime counter reads double for one poll: nothing of the spike is published.

    The built-in way (publish the spike, then hold and stitch its way back down) keeps the
    spike as energy for good.
    """
    await site.poll(2)
    site.sim.add_counter_scenario("dip", polls=1, factor=2)
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=True)
    _table_row("every lifetime counter reads double for one poll", site)


async def test_a_few_polls_a_hundred_times_too_high(hass: HomeAssistant, site: Site) -> None:
    """Every lifetime counter a hundred times too high for two polls: nothing published."""
    await site.poll(2)
    site.sim.add_counter_scenario("dip", polls=2, factor=100)
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=True)
    _table_row("every lifetime counter 100 times too high for two polls", site)


async def test_counters_read_zero_for_several_polls(hass: HomeAssistant, site: Site) -> None:
    """Firmware 8.3.5422: counters read 0 for several polls, then right again.

    Unavailable meanwhile (not 0: the recorder would book the way back up as energy),
    then the counter again: no decrease, no rise beyond the real energy.
    """
    await site.poll(2)
    site.sim.add_counter_scenario("dip", polls=4, factor=0)
    await site.poll(SCENARIO_POLLS)
    assert all(s.published[3] is None for s in _counted(site).values())
    _truthful(site, back=True, gaps=True)
    _table_row("every lifetime counter reads 0 for four polls (8.3.5422)", site)


async def test_a_storage_ct_loses_a_phase(hass: HomeAssistant, site: Site) -> None:
    """Firmware 8.3.6086/6087: a split-phase storage CT loses a phase for a while.

    One phase reads all zero and the CT's totals fall to the other phase; then it is right
    again.
    """
    meters = json_loads((FIXTURES / RICH_CAPTURE / "ivp_meters").read_text())
    assert isinstance(meters, list)
    storage = next(m for m in meters if isinstance(m, dict) and m["measurementType"] == "storage")
    await site.poll(2)
    site.sim.add_counter_scenario(
        "phase_lost", path="/ivp/meters/readings", meter=storage["eid"], polls=5
    )
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=True, gaps=True)
    _table_row("a split-phase storage CT loses a phase for five polls (8.3.6086)", site)


async def test_meters_say_they_are_inactive(hass: HomeAssistant, site: Site) -> None:
    """``activeCount: 0`` on /production.json's meter entries for a few polls."""
    await site.poll(2)
    site.sim.add_counter_scenario("inactive", path="/production.json", polls=3)
    await site.poll(SCENARIO_POLLS)
    _truthful(site, back=True, gaps=True)


async def test_inventory_numbers_read_unknown(
    hass: HomeAssistant, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """After a gateway reboot, the inventory's numbers arrive as ``"unknown"``.

    The batteries' charge is unknown meanwhile (never a made-up number), nothing fails, and
    the counters are untouched.
    """
    await site.poll(2)
    site.sim.add_counter_scenario("unknown", path="/ivp/ensemble/inventory", polls=3)
    await site.poll()
    charges = [
        state
        for state in hass.states.async_all("sensor")
        if state.entity_id.endswith("_state_of_charge")
        and state.entity_id.startswith("sensor.iq_battery_")
    ]
    assert charges
    assert all(state.state in ("unknown", "unavailable") for state in charges)
    await site.poll(SCENARIO_POLLS - 1)
    _truthful(site, back=True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_restart_in_the_middle_of_a_stitch(
    hass: HomeAssistant, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A drop is stitched, Home Assistant restarts, the stitch goes on, the counters return.

    The stitch is told once (a warning per sensor, one repair issue for the gateway), kept
    across the restart (the saved state goes through JSON), and ends without a jump.
    """
    issues = ir.async_get(hass)
    issue_id = stitch_issue_id(site.entry.entry_id)
    await site.poll(2)
    site.sim.add_counter_scenario("drop")
    await site.poll(HOLD_POLLS + 1)

    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and LIFETIME in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "goes on from" in warnings[0].getMessage()
    state = hass.states.get(LIFETIME)
    assert state is not None
    assert float(state.state) > state.attributes[ATTR_GATEWAY_VALUE] > 0
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "counter_stitched"
    assert issue.translation_placeholders is not None
    # The sensors by the names the user sees (not entity ids), and the attribute's units.
    listed = issue.translation_placeholders["sensors"].split(", ")
    assert state.attributes["friendly_name"] in listed
    assert not [name for name in listed if name.startswith("sensor.")]
    assert len(listed) == len(_counted(site))
    assert issue.translation_placeholders["units"].split(", ") == sorted(
        {
            s.attributes["unit_of_measurement"]
            for s in hass.states.async_all("sensor")
            if ATTR_GATEWAY_VALUE in s.attributes
        }
    )
    assert "kWh" in issue.translation_placeholders["units"]

    # Home Assistant forgets a non-persistent issue at a restart: the restore raises it again.
    before = site.samples[LIFETIME].published[-1]
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    caplog.clear()
    await site.restart()
    assert site.samples[LIFETIME].published[-1] == before
    await site.poll()
    assert site.samples[LIFETIME].published[-1] > before  # the stitch goes on at once
    raised = issues.async_get_issue(DOMAIN, issue_id)
    assert raised is not None
    assert raised.translation_placeholders is not None
    assert raised.translation_placeholders["sensors"].split(", ") == listed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER.name]
    await site.poll(2)

    site.sim.clear_counter_scenarios()  # the counters come back
    await site.poll(2)
    _truthful(site, back=True)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert ATTR_GATEWAY_VALUE not in hass.states.get(LIFETIME).attributes
    assert any("follows it again" in r.getMessage() for r in caplog.records)


async def test_a_removed_sensor_leaves_the_stitch_issue(hass: HomeAssistant, site: Site) -> None:
    """The repair issue lists the stitched sensors there are: not one the user removed."""
    issue_id = stitch_issue_id(site.entry.entry_id)
    await site.poll(2)
    site.sim.add_counter_scenario("drop")
    await site.poll(HOLD_POLLS + 1)

    def listed() -> list[str]:
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_placeholders is not None
        return issue.translation_placeholders["sensors"].split(", ")

    before = listed()
    name = hass.states.get(LIFETIME).attributes["friendly_name"]
    assert name in before
    er.async_get(hass).async_remove(LIFETIME)
    await hass.async_block_till_done()
    assert listed() == [sensor for sensor in before if sensor != name]


async def test_a_renamed_sensor_keeps_its_stitch(hass: HomeAssistant, site: Site) -> None:
    """Renaming a stitched counter's entity id keeps the stitch, then across a restart.

    Home Assistant removes the sensor and adds it again under the new id (it offers this
    when a device is renamed); the restore data under the new id is none. Before, the
    sensor fell to the gateway's reading, which the recorder books as a meter reset.
    """
    await site.poll(2)
    site.sim.add_counter_scenario("drop")
    await site.poll(HOLD_POLLS + 1)
    before = hass.states.get(LIFETIME)
    assert before is not None
    assert ATTR_GATEWAY_VALUE in before.attributes
    renamed = "sensor.solar_lifetime"
    er.async_get(hass).async_update_entity(LIFETIME, new_entity_id=renamed)
    await hass.async_block_till_done()
    assert hass.states.get(renamed).state == before.state
    await site.poll()
    assert float(hass.states.get(renamed).state) >= float(before.state)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, stitch_issue_id(site.entry.entry_id))
    assert issue is not None
    shown = hass.states.get(renamed).state
    await site.restart()
    assert hass.states.get(renamed).state == shown
    await site.poll()
    assert float(hass.states.get(renamed).state) >= float(shown)
    assert ATTR_GATEWAY_VALUE in hass.states.get(renamed).attributes


# --------------------------------------------------------------------------- day and week


async def test_impossible_day_and_week_counts_are_unknown(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A "today" larger than the lifetime, or equal to it, is unknown, not a number."""
    sim = await start_gateway(RICH_CAPTURE)
    entry = await setup_entry(hass, token_entry(sim, sim.issue_token()))
    today = "sensor.iq_gateway_production_today"
    week = "sensor.iq_gateway_production_last_7_days"
    assert hass.states.get(today).state == "0.0"

    async def poll_with(counters: dict[str, int]) -> tuple[str, str]:
        sim.capture.set("/api/v1/production", json_dumps({"wattsNow": 0, **counters}))
        await entry.runtime_data.async_refresh()
        await hass.async_block_till_done()
        return hass.states.get(today).state, hass.states.get(week).state

    lifetime = {"wattHoursLifetime": 2_432_969}
    assert await poll_with(
        {"wattHoursToday": 2_432_969, "wattHoursSevenDays": 2_432_969, **lifetime}
    ) == ("unknown", "unknown")
    assert await poll_with({"wattHoursToday": 9_000, "wattHoursSevenDays": 5_000, **lifetime}) == (
        "unknown",
        "unknown",
    )
    assert await poll_with({"wattHoursToday": 4_000, "wattHoursSevenDays": 5_000, **lifetime}) == (
        "4.0",
        "5.0",
    )
