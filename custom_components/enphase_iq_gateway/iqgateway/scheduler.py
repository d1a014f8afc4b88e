"""What a failed request to one endpoint means, and when that endpoint is asked again.

One place for the probe, the poll and the power lane alike:

* ``judge()`` sorts a failure. A timeout, a lost connection, a server error (5xx) or a
  garbled answer (a 200 carrying an HTML page, a body cut off) is ``FAILING``: the
  endpoint is there but did not answer well this time; so is any bad answer of an
  endpoint that has answered well since the last probe. A refusal (401/403) of a token the
  gateway accepts is ``REFUSED`` (the endpoint wants other credentials); a refusal of
  the token itself is ``CREDENTIALS``, which no endpoint can cure. Anything else (404,
  a body of another shape) is ``UNSUPPORTED``.
* ``Schedule`` keeps, for each endpoint that is failing, when it is asked again. One
  that has answered well before is asked RETRY_FIRST seconds after each failure, that is
  at the next five-minute poll (the power lane leaves it to the main poll): one that
  failed for hours is back at the first poll after it answers again, and asking it costs
  one request a poll, as when it answers. One that never answered well (an older
  firmware's web page where JSON belongs, every time) is asked after waits that double
  from RETRY_FIRST up to RETRY_MAX, so that it costs a few requests a day. An answer
  ends it: the endpoint is asked at every tick again.

The gateway is down only when nothing answers: a poll in which no endpoint answered
raises, and its failures are not held against the endpoints (``Schedule.forget``), so a
gateway that comes back has all of them back at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .endpoints import Endpoint
from .exceptions import (
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayError,
    IQGatewayResponseError,
)

RETRY_FIRST: Final = 240.0
"""Seconds before a failing endpoint is asked again (after each failure, if it answered
well before; else the first wait, doubling). Less than the five-minute interval, so that
the next poll asks it even when Home Assistant starts that poll a little early."""
RETRY_MAX: Final = 6 * 3600.0
"""The longest wait for an endpoint that never answered well."""


@dataclass(slots=True)
class _Wait:
    seconds: float
    next_at: float


class Verdict(StrEnum):
    """What one failed request says about its endpoint."""

    FAILING = "failing"  # there, but no good answer this time: asked again later
    REFUSED = "refused"  # refuses a token the gateway accepts: needs other credentials
    CREDENTIALS = "credentials"  # the token itself (or no token) is refused
    UNSUPPORTED = "unsupported"  # not there, or not what it should be


def judge(err: IQGatewayError, *, token_accepted: bool, answered_before: bool = False) -> Verdict:
    """What ``err``, raised by a request to one endpoint, means for that endpoint.

    ``token_accepted``: the gateway has accepted the token in use (``/auth/check_jwt``),
    so a refusal is the endpoint's own. ``answered_before``: the endpoint has answered
    well since the last probe, so an answer of the wrong shape (or a 404) is a bad answer
    this time, not proof that it is not there: it is ``FAILING`` too.
    """
    if isinstance(err, IQGatewayConnectionError):
        return Verdict.FAILING  # timed out, reset, or the connection was lost
    if isinstance(err, IQGatewayAuthenticationError):
        return Verdict.REFUSED if token_accepted else Verdict.CREDENTIALS
    if isinstance(err, IQGatewayResponseError) and (
        answered_before or err.garbled or (err.status is not None and err.status >= 500)
    ):
        return Verdict.FAILING
    return Verdict.UNSUPPORTED


class Schedule:
    """When each failing endpoint is asked again."""

    def __init__(self) -> None:
        """Nothing is failing yet."""
        self._failing: dict[Endpoint[Any], _Wait] = {}

    @property
    def failing(self) -> frozenset[Endpoint[Any]]:
        """The endpoints whose last request failed (``Verdict.FAILING``)."""
        return frozenset(self._failing)

    def due(self, endpoint: Endpoint[Any], now: float) -> bool:
        """Whether ``endpoint`` is to be asked at ``now``: not failing, or its wait is over."""
        wait = self._failing.get(endpoint)
        return wait is None or now >= wait.next_at

    def failed(self, endpoint: Endpoint[Any], now: float, *, answered_ever: bool) -> None:
        """``endpoint`` failed at ``now`` (the start of the poll that asked it).

        ``answered_ever``: it has answered well before (since setup), so it is asked again
        at the next poll; one that never did waits longer after each failure.
        """
        last = self._failing.get(endpoint)
        seconds = RETRY_FIRST
        if not answered_ever and last is not None:
            seconds = min(last.seconds * 2, RETRY_MAX)
        self._failing[endpoint] = _Wait(seconds, now + seconds)

    def answered(self, endpoint: Endpoint[Any]) -> bool:
        """``endpoint`` answered: asked at every poll again. True if it was failing."""
        return self._failing.pop(endpoint, None) is not None

    def forget(self, endpoints: set[Endpoint[Any]] | frozenset[Endpoint[Any]]) -> None:
        """Drop what is known of ``endpoints`` (gone, or failed with everything else)."""
        for endpoint in endpoints:
            self._failing.pop(endpoint, None)

    def as_dict(self) -> dict[str, float]:
        """When each failing endpoint is asked again (UNIX seconds), for diagnostics."""
        return {
            str(ep): wait.next_at
            for ep, wait in sorted(self._failing.items(), key=lambda item: str(item[0]))
        }
