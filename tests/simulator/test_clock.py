"""The simulators' clock: the wall clock, or a frozen one that moves when told to."""

from __future__ import annotations

import pytest

from simulator import Clock


def test_frozen_clock_moves_only_when_advanced() -> None:
    """A start time freezes the clock; advance() moves it forward, never back."""
    clock = Clock(start=1000.0)
    assert clock.frozen
    assert clock.now() == 1000.0
    assert clock.advance(300) == 1300.0
    assert clock.now() == 1300.0
    assert clock.as_dict() == {"now": 1300.0, "frozen": True, "advanced": 300.0}
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert clock.now() == 1300.0


def test_clock_follows_its_time_source() -> None:
    """A time source of one's own, plus what advance() added."""
    ticks = [50.0]
    clock = Clock(time_fn=lambda: ticks[0])
    assert not clock.frozen
    assert clock.now() == 50.0
    ticks[0] = 60.0
    assert clock.now() == 60.0
    clock.advance(5)
    assert clock.now() == 65.0
    with pytest.raises(ValueError, match="not both"):
        Clock(start=1.0, time_fn=lambda: 2.0)


def test_wall_clock_is_looked_up_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test library that patches time.time() moves the default clock too."""
    clock = Clock()
    monkeypatch.setattr("time.time", lambda: 42.0)
    assert clock.now() == 42.0
    assert clock.advance(8) == 50.0
