"""Lifetime counters as the recorder needs them: never lower, never more than real energy.

Long-term statistics book every increase of a ``total_increasing`` sensor as energy, and
any decrease as damage: a drop of under 10 % becomes a negative hour followed by the same
energy booked again, a larger one a meter reset after which the whole new value counts as
new energy. Gateways do lower their counters: for a poll or a few (a glitch; a storage CT
read at half for a while), or for good (a meter or gateway replaced, a counter reset or
rolled over). ``LifetimeGuard`` stands between the gateway's reading and the published
value:

* **follow**: a reading at or above the published value is published as it is;
* **hold**: a lower reading keeps the published value, for up to ``HOLD_POLLS`` polls;
* **stitch**: a lower reading that lasts ``HOLD_POLLS`` polls is put on the published
  scale with an offset, so the published value goes on from where it was and grows with
  the counter's increases (those during the hold included) and nothing else;
* **come back**: once the reading without the offset reaches the published value again,
  the counter is back and is followed again (no jump: its level includes the energy the
  stitch did not see). A stitch inside a stitch (a second drop) ends the same way when the
  counter comes back to where it was before that drop.

A rise that takes the counter more than half-way back towards the level it dropped from is
the counter coming back, not energy (no site makes half its counter in one poll): it is not
published; the offset shrinks by it.

Upward, a gateway glitches too: a counter reads double for a poll, then right again. Were
the spike published, the return would be a drop, held and stitched: the spike would stay in
the published value for good. So a rise is held as a dip is:

* **hold high**: a rise larger than the site can make is not published, for up to
  ``HOLD_POLLS`` polls. What the site can make comes from the counter itself: twice the
  largest rise per hour published so far (``rate``), times the hours since the last
  published value, plus one unit of resolution. Before its rate is known (a new
  installation), a counter's first rise is held so.
* **glitch**: a reading back within that bound before ``HOLD_POLLS`` polls is followed;
  nothing of the spike was published.
* **real**: a rise that lasts ``HOLD_POLLS`` polls is published whole (a new meter, a
  counter that caught up), and the rate learns from the counter's rises since the jump.

So what is published grows by the counter's increases, never by its jumps or spikes: at
most the real energy, plus a rise within the bound. A counter that has always read 0 (export
on a site that never exported) is 0; one that had a value and reads 0, or one that grows by
more than ``ABSURD_WH_PER_DAY``, is unavailable.

A stitch is kept across restarts (``CounterStoredData``), and the gateway's own reading is
shown beside the published value while the two differ (``ATTR_GATEWAY_VALUE``). One repair
issue per gateway lists its stitched sensors while any is stitched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self, TypeIs

from homeassistant.components.sensor import SensorExtraStoredData
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN

# A lifetime counter rising more than this per day is a glitch, not energy: a whole
# utility-scale plant does not make 4 GWh a day.
ABSURD_WH_PER_DAY = 4e9
# A lower reading is held this many polls before it is stitched (15 minutes by default),
# and a rise the site cannot make this many before it is published.
HOLD_POLLS = 3
# A rise is plausible up to this many times the counter's largest rise per hour so far
# (a site's power varies from poll to poll), plus one unit of the gateway's resolution.
PLAUSIBLE_RATE_FACTOR = 2.0
RESOLUTION = 1.0
# Stitches kept open (the oldest is forgotten beyond): a counter that rolls over opens one
# at each roll-over, and never comes back to the levels before.
MAX_STITCHES = 4
# A stitched value is rounded to this many decimals (sums of floats), and a reading this
# close below the published value is not low.
DECIMALS = 3
TOLERANCE = 10**-DECIMALS

ATTR_GATEWAY_VALUE = "gateway_value"
ISSUE_STITCHED = "counter_stitched"
STORED_KEY = "lifetime_counter"


@dataclass(slots=True)
class LifetimeGuard:
    """Turns a gateway's lifetime counter into a value the recorder can trust.

    ``value``: the last published value. ``reading``: the gateway's last usable reading.
    ``offsets``: the open stitches, oldest (smallest) first; the last one is in use.
    ``low``: polls in a row the reading was below ``value``; ``pending``: the counter's
    increases over those polls. ``drop``: set by the ``update`` that opened a stitch, to
    how far below the published value the counter was (None otherwise).
    ``rate``: the largest rise per hour published (None: not known yet). ``high``: polls in
    a row the reading rose more than ``PLAUSIBLE_RATE_FACTOR`` times that allows;
    ``high_from``, ``high_since``: the first of those readings and when it came.
    """

    value: float | None = None
    reading: float | None = None
    offsets: list[float] = field(default_factory=list)
    low: int = 0
    pending: float = 0.0
    accepted_at: datetime | None = None
    rate: float | None = None
    high: int = 0
    high_from: float | None = None
    high_since: datetime | None = None
    drop: float | None = field(default=None, compare=False)

    @property
    def stitched(self) -> bool:
        """Whether the published value is the reading plus an offset."""
        return bool(self.offsets)

    def update(self, reading: float | None, now: datetime) -> float | None:
        """The value to publish for ``reading`` (None: unavailable)."""
        self.drop = None
        if reading is None or reading < 0:
            return None
        if reading == 0:
            # A counter that never counted (export on a site that never exported) is 0; one
            # that had a value and reads 0 is a gateway that lost it: unavailable.
            return None if self.value else 0.0
        if self.value is None or self.accepted_at is None:
            self.value, self.reading, self.accepted_at = reading, reading, now
            return reading
        # The first level (none, then each stitch's offset) on which the reading is not low.
        levels = (0.0, *self.offsets)
        floor = self.value - TOLERANCE
        level = next((i for i, offset in enumerate(levels) if reading + offset >= floor), None)
        if level is None:
            self.high = 0
            return self._low(reading, now)
        offset = levels[level]
        value = max(round(reading + offset, DECIMALS) if offset else reading, self.value)
        hours = (now - self.accepted_at) / timedelta(hours=1)
        if value - self.value > ABSURD_WH_PER_DAY * max(hours / 24, 1.0):
            return None
        rise = value - self.value
        plausible = self._plausible(rise, hours, reading, now, level > 0)
        if not plausible and plausible is not None:
            return self.value  # held: a spike, unless it lasts
        if plausible is None or (level and rise > (offset - levels[level - 1]) / 2):
            # Below a held rise and yet too high on its level; or closer to the level below
            # than to this one (the counter came most of the way back): not energy. Nothing
            # is published for it (but the counter's rise since it was first held, if it
            # was); the reading is a level of its own from now on.
            value = self.value
            if plausible and self.high >= HOLD_POLLS and self.high_from is not None:
                value = max(round(value + reading - self.high_from, DECIMALS), value)
            del self.offsets[level - 1 :]
            self.offsets.append(value - reading)
        else:
            del self.offsets[level:]  # back on an earlier level: the later stitches end
            if hours > 0 and rise > 0 and self.high < HOLD_POLLS and level == len(levels) - 1:
                # (a rise on the level in use: one back onto an earlier level holds the
                # energy a stitch did not see, which says nothing of the site's power)
                self.rate = max(self.rate or 0.0, rise / hours)
        self.value, self.reading, self.low, self.pending, self.accepted_at = (
            value,
            reading,
            0,
            0.0,
            now,
        )
        self.high, self.high_from, self.high_since = 0, None, None
        return self.value

    def _plausible(
        self, rise: float, hours: float, reading: float, now: datetime, stitched: bool
    ) -> bool | None:
        """Whether a rise may be published now; an implausible one is held until it lasts.

        A rise is plausible up to ``PLAUSIBLE_RATE_FACTOR`` times the largest rise per hour
        published so far, over the time since the last published value (plus one unit of the
        counter's resolution); before any is known, no rise is. While one is held,
        a reading below the first held one is the spike over (judged as any reading); one that
        goes on from it as the counter can keeps the hold (a further jump starts it again).
        Held for ``HOLD_POLLS`` readings, the rise is real, and the rate learns from the
        counter's rise since the first held reading (not from the jump). None: the spike is
        over, but the reading is too high on its (``stitched``) level: a level of its own (a
        counter that came back, held, then dipped again).
        """
        start, since = self.high_from, self.high_since
        holding = bool(self.high) and start is not None and since is not None
        if holding and start is not None and since is not None and reading >= start:
            # It goes on as the counter can: within the learned rate, or at up to twice the
            # pace of the rise that began the hold (a site whose power has just risen
            # beyond what it ever made, a sunny day after dull ones, is not held all day).
            jump = start - (self.value or 0.0)
            if self.rate is None or reading - start <= max(
                self._bound((now - since) / timedelta(hours=1)),
                PLAUSIBLE_RATE_FACTOR * jump * self.high,
            ):
                self.high += 1
            else:
                self.high, self.high_from, self.high_since = 1, reading, now
        elif rise <= TOLERANCE or (self.rate is not None and rise <= self._bound(hours)):
            return True  # (no rise at all needs no rate)
        elif holding and stitched:
            return None
        else:
            self.high, self.high_from, self.high_since = 1, reading, now
        self.reading = reading
        if self.high < HOLD_POLLS:
            return False
        assert self.high_from is not None
        assert self.high_since is not None
        held = (now - self.high_since) / timedelta(hours=1)
        if held > 0:
            self.rate = max(self.rate or 0.0, (reading - self.high_from) / held)
        return True

    def _bound(self, hours: float) -> float:
        """The largest rise the counter can make in ``hours`` (with its rate known)."""
        return (self.rate or 0.0) * PLAUSIBLE_RATE_FACTOR * max(hours, 0.0) + RESOLUTION

    def _low(self, reading: float, now: datetime) -> float:
        """Hold the published value for a lower reading; stitch one that lasts."""
        assert self.value is not None
        previous = self.reading
        if self.low and previous is not None and reading > previous:
            # A rise while low is energy, unless it is the counter coming back part-way.
            depth = self.value - (previous + self.offset)
            if reading - previous <= depth / 2:
                self.pending += reading - previous
        self.low += 1
        self.reading = reading
        if self.low < HOLD_POLLS:
            return self.value
        value = max(round(self.value + self.pending, DECIMALS), self.value)
        self.drop = value - (reading + self.offset)
        self.offsets = [*self.offsets, value - reading][-MAX_STITCHES:]
        self.value, self.low, self.pending, self.accepted_at = value, 0, 0.0, now
        return value

    @property
    def offset(self) -> float:
        """The offset in use (0: the reading is published as it is)."""
        return self.offsets[-1] if self.offsets else 0.0

    @property
    def shown_reading(self) -> float | None:
        """The gateway's reading, while it differs from what is published."""
        return self.reading if self.reading != self.value else None

    # ------------------------------------------------------------------ restarts

    def as_dict(self) -> dict[str, Any]:
        """What a restart needs to go on (JSON)."""
        return {
            "value": self.value,
            "reading": self.reading,
            "offsets": list(self.offsets),
            "low": self.low,
            "pending": self.pending,
            "accepted_at": self.accepted_at.isoformat() if self.accepted_at else None,
            "rate": self.rate,
            "high": self.high,
            "high_from": self.high_from,
            "high_since": self.high_since.isoformat() if self.high_since else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Self | None:
        """The guard ``as_dict`` saved (None: nothing usable was saved)."""
        if not isinstance(data, dict):
            return None
        value, reading, pending = data.get("value"), data.get("reading"), data.get("pending")
        offsets, low = data.get("offsets"), data.get("low")
        accepted_at = dt_util.parse_datetime(str(data.get("accepted_at")))
        if (
            not _is_number(value)
            or value <= 0
            or not _is_number(reading)
            or not _is_number(pending)
            or not isinstance(offsets, list)
            or not all(_is_number(offset) for offset in offsets)
            or not isinstance(low, int)
            or accepted_at is None
        ):
            return None
        # Saved by a release before the rise hold (none of these): the rate is learned again.
        rate, high, high_from = data.get("rate"), data.get("high", 0), data.get("high_from")
        high_since = dt_util.parse_datetime(str(data.get("high_since")))
        if not isinstance(high, int) or not _is_number(high_from) or high_since is None:
            high, high_from, high_since = 0, None, None
        return cls(
            float(value),
            float(reading),
            [float(o) for o in offsets],
            low,
            float(pending),
            accepted_at,
            float(rate) if _is_number(rate) and rate >= 0 else None,
            high,
            None if high_from is None else float(high_from),
            high_since,
        )

    @classmethod
    def starting_at(cls, value: Any, when: datetime) -> Self:
        """A guard that only knows the value published before a restart (if any)."""
        if _is_number(value) and value > 0:
            return cls(float(value), float(value), accepted_at=when)
        return cls()


def _is_number(value: object) -> TypeIs[int | float]:
    """A JSON number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class CounterStoredData(SensorExtraStoredData):
    """A lifetime counter's restore data: the sensor's own, and its guard's."""

    guard: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The sensor's data, with the guard's under ``STORED_KEY``."""
        return {**super().as_dict(), STORED_KEY: self.guard}


# --------------------------------------------------------------------------- repair issue


def stitch_issue_id(entry_id: str) -> str:
    """The repair issue that lists a gateway's stitched counters."""
    return f"{ISSUE_STITCHED}_{entry_id}"


def update_stitch_issue(
    hass: HomeAssistant, entry: ConfigEntry[Any], stitched: dict[str, tuple[str, str]]
) -> None:
    """Raise the repair issue naming the stitched sensors, or remove it when none is.

    ``stitched``: entity id → the sensor's name and the unit it is shown in (that of its
    ``gateway_value`` attribute).
    """
    issue_id = stitch_issue_id(entry.entry_id)
    if not stitched:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_STITCHED,
        translation_placeholders={
            "title": entry.title,
            "sensors": ", ".join(sorted(name for name, _ in stitched.values())),
            "attribute": ATTR_GATEWAY_VALUE,
            "units": ", ".join(sorted({unit for _, unit in stitched.values() if unit})),
        },
    )
