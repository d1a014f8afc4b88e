"""What a gateway's numbers do over time: moving values, counter scenarios, the live stream.

**Moving numbers** (``SiteModel.moving``, off by default). Every power value of the
endpoints below is its captured value times one site-wide factor

    f(t) = 1 + 0.25 sin(2πt / 1111 s) + 0.1 sin(2πt / 97 s)       (between 0.65 and 1.35)

(t: seconds the site has been moving), so sums and differences of powers keep holding
(phases add up to their meter, net = total - production where the capture had it) and no
power changes sign. Each lifetime counter grows by the energy its power delivers,
exactly: ``P * (integral of f over the time) / 3600`` Wh (J for ``joulesProduced``), split by sign where the
gateway splits it (``actEnergyDlvd`` grows with positive, ``actEnergyRcvd`` with negative
active power; lagging reactive energy with positive, leading with negative reactive power;
apparent energy with the apparent power's size). "Today" and "last seven days" grow the same
way (they do not reset at midnight). Reading times (``timestamp``, ``readingTime``,
``createdAt``) become the simulator's time. A captured value is kept where the capture has
no power to move: a night capture's production stays at 0, except microinverter production
(``/api/v1/production``, the ``inverters`` line of ``/production.json``, ``pcu`` in
``/ivp/pdm/energy``), which follows the microinverters' typical power instead.

Microinverters (``/api/v1/production/inverters``, and ``pcu`` devices of
``/ivp/pdm/device_data``) report every ``report_interval`` seconds (default 300), each at
its own moment: ``lastReportDate`` is the last report and ``lastReportWatts`` the power at
that moment (the captured watts times f, or 60 % of ``maxReportWatts`` when the capture
was taken at night).

Endpoints that move: ``/api/v1/production``, ``/api/v1/production/inverters``,
``/ivp/meters/readings``, ``/ivp/meters/reports/consumption``, ``/ivp/meters/reports``,
``/production.json``, ``/ivp/pdm/energy``, ``/ivp/pdm/device_data``,
``/ivp/ensemble/power`` and ``/ivp/livedata/status``. Switching moving off freezes the
numbers where they are; switching it on again goes on from there.

**Counter scenarios**: see ``scenarios.py``; they act on top of the moving (or still)
counters.

**The live stream** of ``/ivp/livedata/status``: the gateway refreshes live data only while
its stream is on (``POST /ivp/livedata/stream`` ``{"enable": 1}``, lapsing after
``timeout`` seconds). While it is on, ``connection.sc_stream`` is ``"enabled"`` and
``meters.last_update`` is the current time (the ``agg_*`` powers move if the site moves);
while it is off, ``sc_stream`` is ``"disabled"`` and the body stays as it was when the
stream last lapsed (a stream that was never on: the captured numbers and ``last_update``).
The stream starts ``off``, ``on`` (lapsing ``timeout`` seconds later) or, by default,
**as captured**: the captured body is served unchanged (whatever its ``sc_stream`` says)
until the stream is first switched, so tests that read a capture's live data keep reading
it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
from typing import Any
import zlib

from .capture import Capture
from .clock import Clock
from .scenarios import ScenarioList, apply_scenarios

INVERTERS_PATH = "/api/v1/production/inverters"
LIVEDATA_PATH = "/ivp/livedata/status"
MOVING_PATHS = frozenset(
    {
        "/api/v1/production",
        INVERTERS_PATH,
        "/ivp/meters/readings",
        "/ivp/meters/reports/consumption",
        "/ivp/meters/reports",
        "/production.json",
        "/ivp/pdm/energy",
        "/ivp/pdm/device_data",
        "/ivp/ensemble/power",
        LIVEDATA_PATH,
    }
)
DEFAULT_STREAM_TIMEOUT = 900.0
DEFAULT_REPORT_INTERVAL = 300.0
# A microinverter captured at night (0 W) is given this share of its maxReportWatts.
NIGHT_SHARE = 0.6
DEFAULT_INVERTER_WATTS = 250.0
MICROINVERTER_TYPES = (None, 1)

# Power fields, by meaning (each object has at most one of each group).
ACTIVE_POWER = ("activePower", "actPower", "currW", "wNow", "wattsNow", "wattNow", "real_power_mw")
APPARENT_POWER = ("apparentPower", "apprntPwr", "apparent_power_mva")
REACTIVE_POWER = ("reactivePower", "reactPwr")
SCALED = (
    *ACTIVE_POWER,
    *APPARENT_POWER,
    *REACTIVE_POWER,
    "instantaneousDemand",
    "current",
    "rmsCurrent",
)
# Energy fields, by what makes them grow.
DELIVERED = ("actEnergyDlvd", "whDlvdCum")  # positive active power
RECEIVED = ("actEnergyRcvd", "whRcvdCum")  # negative active power
PRODUCED = (  # active power (signed on a net-consumption meter, else its positive part)
    "whLifetime",
    "wattHoursLifetime",
    "whToday",
    "whLastSevenDays",
    "wattHoursToday",
    "wattHoursSevenDays",
)
APPARENT_ENERGY = ("apparentEnergy", "vahCum", "vahLifetime", "vahToday")
LAGGING = ("reactEnergyLagg", "varhLagCum", "varhLagLifetime", "varhLagToday")
LEADING = ("reactEnergyLead", "varhLeadCum", "varhLeadLifetime", "varhLeadToday")
TIMES = ("timestamp", "readingTime", "createdAt")


@dataclass(frozen=True, slots=True)
class Wave:
    """The site-wide power factor over time, and its integral (both exact)."""

    slow: float = 0.25
    slow_period: float = 1111.0
    fast: float = 0.1
    fast_period: float = 97.0

    def factor(self, t: float) -> float:
        """f(t): 1 on average, always positive."""
        return (
            1
            + self.slow * math.sin(2 * math.pi * t / self.slow_period)
            + self.fast * math.sin(2 * math.pi * t / self.fast_period)
        )

    def integral(self, t: float) -> float:
        """The integral of f from 0 to t, in seconds (energy = power * this)."""

        def part(amplitude: float, period: float) -> float:
            return amplitude * period / (2 * math.pi) * (1 - math.cos(2 * math.pi * t / period))

        return t + part(self.slow, self.slow_period) + part(self.fast, self.fast_period)


@dataclass(slots=True)
class LiveStream:
    """The gateway's live-data stream: on until ``until`` (clock time), then lapsed."""

    timeout: float = DEFAULT_STREAM_TIMEOUT
    until: float | None = None  # None: never switched on
    switched: bool = False  # False: the live data is served as captured

    def switch(self, enable: bool, now: float) -> None:
        """``{"enable": 1}`` switches it on for ``timeout`` seconds; 0 switches it off."""
        self.switched = True
        if enable:
            self.until = now + self.timeout
        elif self.until is not None:
            self.until = min(self.until, now)

    def is_on(self, now: float) -> bool:
        """Whether the gateway refreshes live data now."""
        return self.until is not None and now < self.until

    def last_on(self, now: float) -> float | None:
        """The last moment the stream was on (now while it is); None if it never was."""
        return None if self.until is None else min(now, self.until)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _like(original: Any, value: float) -> float | int:
    """``value`` in the captured value's kind: a whole number stays one."""
    return round(value) if isinstance(original, int) else round(value, 3)


def _first(data: dict[str, Any], names: tuple[str, ...]) -> tuple[str, float] | None:
    for name in names:
        value = _number(data.get(name))
        if value is not None:
            return name, value
    return None


def is_microinverter(entry: Any) -> bool:
    """An entry of the inverters list that is a microinverter (not an AC Battery...)."""
    return (
        isinstance(entry, dict)
        and "serialNumber" in entry
        and entry.get("devType") in MICROINVERTER_TYPES
    )


def typical_watts(now: Any, peak: Any) -> float:
    """A microinverter's power to move from: as captured, or a share of its peak at night."""
    watts, most = _number(now), _number(peak)
    if watts is not None and watts > 0:
        return watts
    if most is not None and most > 0:
        return round(most * NIGHT_SHARE)
    return DEFAULT_INVERTER_WATTS


class SiteModel:
    """Renders a capture's bodies at the simulator's current time (see the module doc)."""

    def __init__(
        self,
        capture: Capture,
        clock: Clock,
        *,
        moving: bool = False,
        wave: Wave | None = None,
        report_interval: float = DEFAULT_REPORT_INTERVAL,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
        live_stream: bool | None = None,
    ) -> None:
        """Prepare the model; numbers move from the moment ``moving`` is set.

        ``live_stream``: the stream starts on (True), off (False) or as captured (None).
        """
        self.capture = capture
        self.clock = clock
        self.wave = wave or Wave()
        self.report_interval = report_interval
        self.scenarios = ScenarioList()
        self.stream = LiveStream(timeout=stream_timeout)
        self.origin = clock.now()
        if live_stream is not None:
            self.stream.switch(live_stream, self.origin)
        self._elapsed = 0.0
        self._resumed: float | None = None
        self._parsed: dict[str, tuple[bytes, Any]] = {}
        self.moving = moving

    # ------------------------------------------------------------------ time

    @property
    def moving(self) -> bool:
        """Whether the numbers move with the clock."""
        return self._resumed is not None

    @moving.setter
    def moving(self, value: bool) -> None:
        if value == self.moving:
            return
        now = self.clock.now()
        if value:
            self._resumed = now
        else:
            self._elapsed += max(0.0, now - (self._resumed or now))
            self._resumed = None

    def elapsed(self, at: float | None = None) -> float:
        """Seconds the site has moved, up to clock time ``at`` (default: now)."""
        if self._resumed is None:
            return self._elapsed
        at = self.clock.now() if at is None else at
        return self._elapsed + max(0.0, at - self._resumed)

    def data_time(self, at: float | None = None) -> float:
        """The UNIX time the numbers are of (the clock's, while the site moves)."""
        return self.origin + self.elapsed(at)

    def report_time(self, serial: str, at: float) -> float:
        """The last moment (at or before ``at``) the device ``serial`` reported."""
        interval = self.report_interval
        if interval <= 0:
            return at
        offset = zlib.crc32(serial.encode()) % interval
        return math.floor((at - offset) / interval) * interval + offset

    # ------------------------------------------------------------------ rendering

    def render(self, path: str, body: bytes) -> bytes:
        """The body the gateway sends now for ``path`` (captured as ``body``, status 200)."""
        base = path.partition("?")[0]
        scenarios = self.scenarios.for_request(base) if self.scenarios else []
        if base not in MOVING_PATHS:
            changes = False
        elif base == LIVEDATA_PATH:
            changes = self.stream.switched
        else:
            changes = self.moving or self.elapsed() > 0
        if not (changes or scenarios):
            return body
        data = self._parse(path, body)
        if data is None:
            return body
        if changes:
            data = self._live(data) if base == LIVEDATA_PATH else self._move(data, base, None, None)
        if scenarios:
            data = apply_scenarios(data, scenarios, base)
        return json.dumps(data).encode()

    def _parse(self, path: str, body: bytes) -> Any:
        cached = self._parsed.get(path)
        if cached is not None and cached[0] is body:
            return cached[1]
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        self._parsed[path] = (body, data)
        return data

    def _inverter_watts(self) -> float:
        """What the site's microinverters together make, from the inverters list."""
        captured = self.capture.get(INVERTERS_PATH)
        if captured is None or captured.status != 200:
            return 0.0
        entries = self._parse(INVERTERS_PATH, captured.body)
        if not isinstance(entries, list):
            return 0.0
        return sum(
            typical_watts(e.get("lastReportWatts"), e.get("maxReportWatts"))
            for e in entries
            if is_microinverter(e)
        )

    def _move(self, value: Any, path: str, key: str | None, measured: str | None) -> Any:
        """``value`` at the current data time (recursively)."""
        if isinstance(value, list):
            return [self._move(item, path, key, measured) for item in value]
        if not isinstance(value, dict):
            return value
        kind = value.get("measurementType")
        measured = kind if isinstance(kind, str) else measured
        if path == INVERTERS_PATH and is_microinverter(value):
            return self._move_inverter(value)
        if value.get("devName") == "pcu" and isinstance(value.get("channels"), list):
            serial = str(value.get("sn", ""))
            return {
                **value,
                "channels": [self._move_channel(ch, serial) for ch in value["channels"]],
            }
        out = {k: self._move(v, path, k, measured) for k, v in value.items()}
        self._move_flows(value, out, self._is_microinverter_total(value, path, key), measured)
        return out

    def _is_microinverter_total(self, value: dict[str, Any], path: str, key: str | None) -> bool:
        return (
            (path == "/api/v1/production" and key is None)
            or (path == "/production.json" and value.get("type") == "inverters")
            or (path == "/ivp/pdm/energy" and key in ("pcu", "pou"))
        )

    def _move_flows(
        self, src: dict[str, Any], out: dict[str, Any], micro: bool, measured: str | None
    ) -> None:
        """Scale the powers of one object and grow its energies with them."""
        for name in TIMES:
            if _number(src.get(name)):
                out[name] = int(self.data_time())
        active = _first(src, ACTIVE_POWER)
        if active is None:
            return
        active_name, power = active
        if micro and power == 0:
            power = self._inverter_watts()
        elapsed = self.elapsed()
        factor = self.wave.factor(elapsed)
        hours = self.wave.integral(elapsed) / 3600
        for name in SCALED:
            value = _number(src.get(name))
            if value is not None:
                base = power if name == active_name else value
                out[name] = _like(src[name], base * factor)
        apparent = _first(src, APPARENT_POWER)
        reactive = _first(src, REACTIVE_POWER)
        rates = {
            DELIVERED: max(power, 0.0),
            RECEIVED: max(-power, 0.0),
            PRODUCED: power if measured == "net-consumption" else max(power, 0.0),
            APPARENT_ENERGY: abs(apparent[1]) if apparent else abs(power),
            LAGGING: max(reactive[1], 0.0) if reactive else 0.0,
            LEADING: max(-reactive[1], 0.0) if reactive else 0.0,
        }
        for names, rate in rates.items():
            for name in names:
                value = _number(src.get(name))
                if value is not None and rate:
                    out[name] = _like(src[name], value + rate * hours)

    def _move_inverter(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A microinverter's last report: when it was, and its power then."""
        base = typical_watts(entry.get("lastReportWatts"), entry.get("maxReportWatts"))
        reported = self.report_time(str(entry["serialNumber"]), self.data_time())
        watts = round(base * self.wave.factor(reported - self.origin))
        out = {**entry, "lastReportWatts": watts, "lastReportDate": int(reported)}
        peak = _number(entry.get("maxReportWatts"))
        if peak is not None:
            out["maxReportWatts"] = max(round(peak), watts)
        return out

    def _move_channel(self, channel: Any, serial: str) -> Any:
        """A microinverter channel of ``/ivp/pdm/device_data`` at its last report."""
        if not isinstance(channel, dict):
            return channel
        watts = channel.get("watts")
        watts = watts if isinstance(watts, dict) else {}
        base = typical_watts(watts.get("now"), watts.get("max"))
        reported = self.report_time(serial, self.data_time())
        t = reported - self.origin
        energy = base * self.wave.integral(max(t, 0.0))  # joules since the site began moving
        out = dict(channel)
        if watts:
            out["watts"] = {**watts, "now": round(base * self.wave.factor(t))}
        counted = channel.get("wattHours")
        if isinstance(counted, dict):
            grown = dict(counted)
            for name in ("today", "week"):
                value = _number(counted.get(name))
                if value is not None:
                    grown[name] = _like(counted[name], value + energy / 3600)
            out["wattHours"] = grown
        lifetime = channel.get("lifetime")
        if isinstance(lifetime, dict) and _number(lifetime.get("joulesProduced")) is not None:
            out["lifetime"] = {
                **lifetime,
                "joulesProduced": round(lifetime["joulesProduced"] + energy),
            }
        reading = channel.get("lastReading")
        if isinstance(reading, dict) and reading:
            duration = _number(reading.get("duration")) or self.report_interval
            joules = base * (self.wave.integral(t) - self.wave.integral(t - duration))
            out["lastReading"] = {
                **reading,
                "endDate": int(reported),
                **({"joulesProduced": round(joules)} if "joulesProduced" in reading else {}),
            }
        return out

    def _live(self, data: Any) -> Any:
        """The live-data body as the stream leaves it (see the module doc)."""
        if not isinstance(data, dict):
            return data
        now = self.clock.now()
        last_on = self.stream.last_on(now)
        out = dict(data)
        if isinstance(data.get("connection"), dict):
            state = "enabled" if self.stream.is_on(now) else "disabled"
            out["connection"] = {**data["connection"], "sc_stream": state}
        meters = data.get("meters")
        if last_on is None or not isinstance(meters, dict):
            return out
        factor = self.wave.factor(self.elapsed(last_on))
        moved: dict[str, Any] = {}
        for name, value in meters.items():
            if isinstance(value, dict):
                moved[name] = {
                    k: _like(v, v * factor)
                    if k.startswith("agg_") and _number(v) is not None
                    else v
                    for k, v in value.items()
                }
            else:
                moved[name] = value
        moved["last_update"] = int(last_on)
        out["meters"] = moved
        return out
