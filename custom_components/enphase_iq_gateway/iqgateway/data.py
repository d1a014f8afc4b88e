"""What one poll read from the gateway, keyed by endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from .endpoints import METER_READINGS, METERS, Endpoint
from .models import CTMeter, GatewayInfo, enabled_ct_types, join_meters


@dataclass(frozen=True, slots=True)
class GatewayData:
    """Everything one poll read from the gateway.

    ``polled`` is what this gateway is polled for. An endpoint's body is missing from
    ``bodies`` when the endpoint is not polled here or, for a single poll, failed while
    the others answered: ``polled`` tells the two apart.
    ``enabled_cts`` holds the measurement types of the enabled CTs, from the latest
    ``/ivp/meters`` the client has (this poll's, else an earlier one): it decides which
    source a site value comes from, so that one failed request cannot switch a lifetime
    counter to another meter. Left out, it is read from ``bodies``.
    """

    info: GatewayInfo
    polled: frozenset[Endpoint[Any]] = frozenset()
    bodies: Mapping[Endpoint[Any], Any] = field(default_factory=dict)
    enabled_cts: frozenset[str] | None = None
    read: frozenset[Endpoint[Any]] | None = None
    """What answered in this very poll; the rest of ``bodies`` are earlier answers that
    still stand (a slow cadence, or a read that failed). Left out: all of ``bodies``."""
    stale: Mapping[Endpoint[Any], Any] = field(default_factory=dict)
    """Answers that are out of date (live data the gateway stopped refreshing): no value
    is read from them, since a stale number is worse than none, but they still say what
    the gateway has (``latest()``)."""
    failing: frozenset[Endpoint[Any]] = frozenset()
    """Endpoints that did not answer well when last asked (or at the probe) and have no
    body here: what they report is unavailable, and a value whose source they are is not
    taken from another source meanwhile (see ``site_values``)."""
    ct_meters: Mapping[str, CTMeter] = field(init=False, compare=False, repr=False)
    """Enabled CT meters, keyed by measurement type, joined with their readings (by eid)."""

    def __post_init__(self) -> None:
        """Join meters and readings once; every sensor of a poll reads the result."""
        meters, readings = self.get(METERS), self.get(METER_READINGS)
        joined = join_meters(meters, readings or {}) if meters else {}
        object.__setattr__(self, "ct_meters", joined)
        if self.enabled_cts is None:
            object.__setattr__(self, "enabled_cts", enabled_ct_types(meters or ()))
        if self.read is None:
            object.__setattr__(self, "read", frozenset(self.bodies))

    def get[T](self, endpoint: Endpoint[T]) -> T | None:
        """The body ``endpoint`` answered with in this poll, parsed (None: no answer)."""
        return cast("T | None", self.bodies.get(endpoint))

    def latest[T](self, endpoint: Endpoint[T]) -> T | None:
        """The latest body of ``endpoint``, even one that is out of date (see ``stale``)."""
        return cast("T | None", self.bodies.get(endpoint, self.stale.get(endpoint)))

    @property
    def answered(self) -> bool:
        """Whether any endpoint answered this poll with something readable."""
        return bool(self.read)
