"""Counter scenarios: what a gateway's lifetime energy counters do when something goes wrong.

A scenario rewrites the lifetime counters in the bodies the gateway serves (every endpoint
that has them, or one ``path``; every counter, or one ``field``):

``dip``       the counter reads ``factor`` (default 0.95) of its value for the next
              ``polls`` polls (default 1; ``null``: until cleared), then is right again:
              a one-poll dip, or a persistent dip for K polls and the recovery after it.
``drop``      from the first poll on, the counter reads ``factor`` (default 0.5) of its
              value at that moment and then grows by the real counter's increases: a meter
              replaced or a counter reset. It stays so until the scenario is cleared.
``rollover``  the counter counts modulo ``modulus`` (in its own unit: Wh, VAh, varh or J).
              Without a modulus, each counter wraps at once, at just under the value it has
              when the scenario first sees it (to about 1 % of it), and counts on from there.

Firmware quirks on record, each for the next ``polls`` polls (default 1; ``null``: until
cleared), on the bodies of every path or of ``path``:

``phase_lost`` (8.3.6086/6087) a split-phase meter's channel ``phase`` (0-based, default
              1) reads all zero, and the meter's totals are those of its other channels
              (``meter``: the eid of one meter; default every meter with channels).
``inactive``  the meter entries of ``/production.json`` (``type: eim``) say
              ``activeCount: 0``.
``unknown``   (after a gateway reboot) every number reads as the string ``"unknown"``
              (``/inventory.json``, ``/ivp/ensemble/inventory``...: give a ``path``).

A ``dip`` of ``factor`` 0 for some polls is 8.3.5422's counters reading 0, then right again;
one of ``factor`` 2 for one poll an upward spike.

A **poll** is one request to an endpoint: each path counts its own requests, from the
moment the scenario is added (a client reads each endpoint once per poll, so "the next
poll" of ``/ivp/meters/readings`` is the next request for it, whatever else is read in
between). Clearing the scenarios ends every one of them: counters read their real value
again (for a drop, that is a jump back up).

The lifetime counters are found by name: ``actEnergyDlvd``, ``actEnergyRcvd``,
``apparentEnergy``, ``reactEnergyLagg``/``Lead`` (``/ivp/meters/readings``, channels
included); ``wattHoursLifetime`` (``/api/v1/production``, ``/ivp/pdm/energy``);
``whLifetime``, ``vahLifetime``, ``varhLeadLifetime``/``LagLifetime`` (``/production.json``);
``whDlvdCum``, ``whRcvdCum``, ``vahCum``, ``varhLagCum``/``LeadCum`` (meter reports); and the
counters of a ``lifetime`` object (``joulesProduced``, ``joulesUsed``, ``wh_dlvd_cum``, ...
in ``/ivp/pdm/device_data``). Only positive values are touched.
"""

from __future__ import annotations

from collections import Counter
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

COUNTER_FIELDS = frozenset(
    {
        "actEnergyDlvd",
        "actEnergyRcvd",
        "apparentEnergy",
        "reactEnergyLagg",
        "reactEnergyLead",
        "wattHoursLifetime",
        "whLifetime",
        "vahLifetime",
        "varhLeadLifetime",
        "varhLagLifetime",
        "whDlvdCum",
        "whRcvdCum",
        "vahCum",
        "varhLagCum",
        "varhLeadCum",
    }
)
# Counters of an object named "lifetime" (the per-device counters of /ivp/pdm/device_data).
LIFETIME_OBJECT_FIELDS = frozenset(
    {"joulesProduced", "joulesUsed", "wh_dlvd_cum", "vah_cum", "varh_lead_cum", "varh_lag_cum"}
)
# Without a modulus, a roll-over wraps each counter to this share of its value.
ROLLOVER_REMAINDER = 0.01


class ScenarioKind(StrEnum):
    """What happens to the counters."""

    DIP = "dip"
    DROP = "drop"
    ROLLOVER = "rollover"
    PHASE_LOST = "phase_lost"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


# Kinds that rewrite whole bodies (not each counter), for ``polls`` polls as a dip does.
BODY_KINDS = frozenset({ScenarioKind.PHASE_LOST, ScenarioKind.INACTIVE, ScenarioKind.UNKNOWN})


DEFAULT_FACTORS = {ScenarioKind.DIP: 0.95, ScenarioKind.DROP: 0.5}


def is_counter(name: str, parent: str | None) -> bool:
    """Whether the field ``name`` (in an object under ``parent``) is a lifetime counter."""
    return name in COUNTER_FIELDS or (parent == "lifetime" and name in LIFETIME_OBJECT_FIELDS)


@dataclass(slots=True)
class CounterScenario:
    """One scenario, and what it has seen so far (requests per path, values at its start)."""

    kind: ScenarioKind
    path: str | None = None
    field: str | None = None
    polls: int | None = 1
    factor: float | None = None
    modulus: float | None = None
    phase: int = 1
    meter: int | None = None
    seen: Counter[str] = dataclasses.field(default_factory=Counter)
    _first: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        """Fill in the kind's default factor; refuse what makes no sense."""
        self.kind = ScenarioKind(self.kind)
        if self.factor is None:
            self.factor = DEFAULT_FACTORS.get(self.kind)
        if self.factor is not None and self.factor < 0:
            raise ValueError("factor must be at least 0")
        if self.polls is not None and self.polls < 1:
            raise ValueError("polls must be at least 1, or null for 'until cleared'")
        if self.modulus is not None and self.modulus <= 0:
            raise ValueError("modulus must be more than 0")
        if self.phase < 0:
            raise ValueError("phase must be at least 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CounterScenario:
        """Build one from the control API's JSON (ValueError if it is not understood)."""
        unknown = set(data) - {
            "kind",
            "path",
            "field",
            "polls",
            "factor",
            "modulus",
            "phase",
            "meter",
        }
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError(f"kind is required: one of {', '.join(ScenarioKind)}")
        for name in ("path", "field"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string or null")
        polls = data.get("polls", 1)
        if polls is not None and (isinstance(polls, bool) or not isinstance(polls, int)):
            raise ValueError("polls must be a whole number or null")
        for name in ("phase", "meter"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole number")
        return cls(
            kind=ScenarioKind(data["kind"]),
            path=data.get("path"),
            field=data.get("field"),
            polls=polls,
            factor=_optional_number(data, "factor"),
            modulus=_optional_number(data, "modulus"),
            phase=data.get("phase", 1),
            meter=data.get("meter"),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API (``seen``: requests per path so far)."""
        return {
            "kind": str(self.kind),
            "path": self.path,
            "field": self.field,
            "polls": self.polls,
            "factor": self.factor,
            "modulus": self.modulus,
            "phase": self.phase,
            "meter": self.meter,
            "seen": dict(self.seen),
        }

    def matches(self, path: str) -> bool:
        """Whether this scenario is about ``path`` (query string ignored)."""
        return self.path is None or self.path == path.partition("?")[0]

    def poll(self, path: str) -> bool:
        """Count a request for ``path``; whether the scenario acts on this one."""
        base = path.partition("?")[0]
        self.seen[base] += 1
        if (self.kind is ScenarioKind.DIP or self.kind in BODY_KINDS) and self.polls is not None:
            return self.seen[base] <= self.polls
        return True

    def rewrite(self, body: Any) -> Any:
        """The whole body as a quirk of a body kind makes it read."""
        if self.kind is ScenarioKind.UNKNOWN:
            return _unknown(body)
        if isinstance(body, list):
            return [self.rewrite(item) for item in body]
        if not isinstance(body, dict):
            return body
        if (
            self.kind is ScenarioKind.INACTIVE
            and body.get("type") == "eim"
            and "activeCount" in body
        ):
            return {**body, "activeCount": 0}
        channels = body.get("channels")
        if (
            self.kind is ScenarioKind.PHASE_LOST
            and isinstance(channels, list)
            and len(channels) > self.phase
            and (self.meter is None or body.get("eid") == self.meter)
        ):
            lost = {**channels[self.phase]}
            lost.update({k: 0 for k, v in lost.items() if _is_number(v) and k not in KEEP})
            kept = [c for i, c in enumerate(channels) if i != self.phase]
            totals = {  # sums of the phases left; a frequency or power factor: the first's
                k: kept[0].get(k, v) if k in PER_METER else sum(c.get(k, 0) for c in kept)
                for k, v in body.items()
                if _is_number(v) and k not in KEEP
            }
            rewritten = [lost if i == self.phase else c for i, c in enumerate(channels)]
            return {**body, **totals, "channels": rewritten}
        return {name: self.rewrite(value) for name, value in body.items()}

    def apply(self, location: str, name: str, value: float) -> float:
        """The value a counter reads (``location`` names it, for what is kept per counter)."""
        if self.kind in BODY_KINDS:
            return value
        if (self.field is not None and name != self.field) or value <= 0:
            return value
        factor = self.factor if self.factor is not None else 1.0
        if self.kind is ScenarioKind.DIP:
            return value * factor
        first = self._first.setdefault(location, value)
        if self.kind is ScenarioKind.DROP:
            return value - first * (1 - factor)
        modulus = self.modulus or first * (1 - ROLLOVER_REMAINDER)
        return value % modulus


# Fields of a meter or channel a lost phase keeps, and those its totals do not add up.
KEEP = frozenset({"eid", "timestamp"})
PER_METER = frozenset({"freq", "pwrFactor"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unknown(body: Any) -> Any:
    """Every number of ``body`` as the string ``"unknown"``."""
    if isinstance(body, list):
        return [_unknown(item) for item in body]
    if isinstance(body, dict):
        return {name: _unknown(value) for name, value in body.items()}
    if isinstance(body, int | float) and not isinstance(body, bool):
        return "unknown"
    return body


def _optional_number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number or null")  # noqa: TRY004 - a refusal
    return float(value)


class ScenarioList:
    """The active scenarios, applied in the order they were added."""

    def __init__(self) -> None:
        """Start with none."""
        self._scenarios: list[CounterScenario] = []

    def add(self, scenario: CounterScenario) -> CounterScenario:
        """Start a scenario."""
        self._scenarios.append(scenario)
        return scenario

    def clear(self) -> None:
        """End every scenario: counters read their real values again."""
        self._scenarios.clear()

    def for_request(self, path: str) -> list[CounterScenario]:
        """The scenarios that act on this request (counting it as a poll of its path)."""
        return [s for s in self._scenarios if s.matches(path) and s.poll(path)]

    def as_list(self) -> list[dict[str, Any]]:
        """JSON form for the control API."""
        return [s.as_dict() for s in self._scenarios]

    def __len__(self) -> int:
        """How many scenarios are active."""
        return len(self._scenarios)


def apply_scenarios(
    body: Any,
    scenarios: list[CounterScenario],
    path: str,
    location: str = "",
    parent: str | None = None,
) -> Any:
    """``body`` with every lifetime counter in it as the scenarios make it read.

    Body kinds rewrite the body first (at its top, ``location`` empty).
    """
    if not location:
        for scenario in scenarios:
            if scenario.kind in BODY_KINDS:
                body = scenario.rewrite(body)
    if isinstance(body, list):
        return [
            apply_scenarios(item, scenarios, path, f"{location}/{index}", parent)
            for index, item in enumerate(body)
        ]
    if not isinstance(body, dict):
        return body
    out: dict[str, Any] = {}
    for name, value in body.items():
        here = f"{location}/{name}"
        if (
            is_counter(name, parent)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            result = float(value)
            for scenario in scenarios:
                result = scenario.apply(f"{path}{here}", name, result)
            out[name] = round(result) if isinstance(value, int) else round(result, 3)
        else:
            out[name] = apply_scenarios(value, scenarios, path, here, name)
    return out
