"""The simulators' clock: the wall clock, or a frozen one that moves only when told to.

It drives what the simulated devices do over time: the moving numbers and the inverters'
reports, the live stream's lapse (gateway), and the one-time codes' expiry (cloud). Token
expiry and the gateway's cookie sessions keep to the real time (``time.time()``), as
before: a client's own timers run on it.

    Clock()                 wall clock; ``advance(300)`` jumps five minutes ahead of it
    Clock(start=1.7e9)      frozen at that UNIX time until ``advance()`` moves it
    Clock(time_fn=fn)       any time source (for example a test's fake clock)
"""

from __future__ import annotations

from collections.abc import Callable
import time


def _wall() -> float:
    # Looked up at each call, so that a test library patching ``time.time`` is followed.
    return time.time()


class Clock:
    """UNIX seconds, from a time source plus everything ``advance()`` added."""

    def __init__(
        self, *, start: float | None = None, time_fn: Callable[[], float] | None = None
    ) -> None:
        """Follow ``time_fn`` (default: the wall clock), or stay at ``start`` if given."""
        if start is not None and time_fn is not None:
            raise ValueError("a clock has a start time or a time source, not both")
        self._frozen = start
        self._time_fn = time_fn or _wall
        self._offset = 0.0

    @property
    def frozen(self) -> bool:
        """Whether time stands still between ``advance()`` calls."""
        return self._frozen is not None

    def now(self) -> float:
        """The current time in UNIX seconds."""
        base = self._frozen if self._frozen is not None else self._time_fn()
        return base + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (never back); return the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._offset += seconds
        return self.now()

    def as_dict(self) -> dict[str, float | bool]:
        """JSON form for the control API."""
        return {"now": self.now(), "frozen": self.frozen, "advanced": self._offset}
