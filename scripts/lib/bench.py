"""What polling costs: the integration in Home Assistant against the gateway simulator.

Run by ``scripts/bench`` (see there for the options). For each scenario (a site and a
power lane setting) it

* starts the gateway simulator in a process of its own (its CPU is not counted), with
  moving numbers and its live stream off, on the rich capture (the small site) or on the
  rich capture with 200 microinverters (the large site);
* starts Home Assistant in this process (the test harness's instance,
  ``async_test_home_assistant``, without a recorder) and sets the integration up with a
  pasted token, the entities enabled as a user gets them (the ``small-10-live`` scenario:
  with the four live power sensors enabled as well), its own timers off;
* drives simulated time in steps: each step moves the simulator's clock and Home
  Assistant's ``dt_util.utcnow`` on, then runs what is due (the main poll every five
  minutes, else a tick of the power lane) and waits until Home Assistant is idle;
* measures each step: this process's CPU time (``time.process_time``, all threads) and
  the part of it Python's garbage collector took (a collection falls in whichever step
  reaches its allocation threshold, and its cost grows with the whole heap, not with this
  integration alone), state writes (``state_changed`` + ``state_reported`` events) and
  ``async_write_ha_state`` calls, and, from the simulator, requests, JWT checks and live
  stream switches.

It prints the figures; it never fails on time. ``--tree DIR`` benchmarks the integration of
another checkout (its ``custom_components``), against this checkout's simulator.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import gc
import json
from pathlib import Path
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch
import urllib.request

from aiohttp.resolver import ThreadedResolver
from homeassistant import loader
from homeassistant.const import CONF_HOST, CONF_TOKEN, EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, callback
from homeassistant.helpers import aiohttp_client, entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

REPO = Path(__file__).resolve().parents[2]
RICH = REPO / "tests" / "fixtures" / "8.2.127_with_3cts_and_battery_split"
DOMAIN = "enphase_iq_gateway"
MAIN_POLL = 300
LIVE_FLOWS = ("pv", "grid", "load", "storage")


@dataclass(frozen=True)
class Scenario:
    """One run: a site, the power lane (0: off), and whether live sensors are shown."""

    site: str
    lane: int
    live: bool = False

    @property
    def name(self) -> str:
        """How the tables name it."""
        lane = f"lane {self.lane} s" if self.lane else "lane off"
        return f"{self.site}, {lane}{', live sensors shown' if self.live else ''}"


@dataclass
class Step:
    """What one step cost."""

    kind: str  # "poll" or "tick"
    cpu_ms: float
    events: int
    writes: int
    gc_ms: float = 0.0  # of cpu_ms, spent collecting garbage
    most: int = 0  # the most state writes of one entity


@dataclass
class Result:
    """What one scenario measured."""

    scenario: Scenario
    minutes: float
    entities: int
    steps: list[Step] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def per_minute(self, value: float) -> float:
        """A total over the run, per simulated minute."""
        return value / self.minutes

    def of(self, kind: str) -> list[Step]:
        """The steps of one kind."""
        return [step for step in self.steps if step.kind == kind]


# --------------------------------------------------------------------------- the simulator


@contextlib.contextmanager
def simulator(site: str, workdir: Path) -> Iterator[dict[str, Any]]:
    """The gateway simulator in its own process; yields what it printed to its info file."""
    info = workdir / f"simulator-{site}.json"
    info.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "simulator",
        "--capture",
        str(RICH),
        "--moving",
        "--live-stream",
        "off",
        "--info-file",
        str(info),
    ]
    if site == "large":
        command += ["--inverters", "200"]
    log = (workdir / f"simulator-{site}.log").open("w")
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            if info.is_file() and info.stat().st_size:
                break
            if process.poll() is not None:
                raise RuntimeError(f"the simulator stopped; see {log.name}")
            time.sleep(0.1)
        else:
            raise RuntimeError("the simulator did not start")
        yield json.loads(info.read_text())
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def control(details: dict[str, Any], path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the simulator's control API (blocking: the simulator is another process)."""
    method = "GET" if body is None else "POST"
    if path == "stats" and body == {}:
        method, body = "DELETE", None
    request = urllib.request.Request(
        f"{details['control_url']}/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        text = answer.read().decode()
    return json.loads(text) if text else None


# --------------------------------------------------------------------------- Home Assistant


class GarbageTimer:
    """CPU time spent in Python's garbage collector while it is started."""

    def __init__(self) -> None:
        """Nothing counted yet."""
        self.total = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        """A gc callback: time each collection."""
        if phase == "start":
            self._start = time.process_time()
        else:
            self.total += time.process_time() - self._start


class Clock:
    """Simulated time for Home Assistant's side: the wall clock plus what the run added."""

    def __init__(self) -> None:
        """No time added yet."""
        self.offset = timedelta()
        self._utcnow = dt_util.utcnow

    def utcnow(self) -> datetime:
        """Now, simulated."""
        return self._utcnow() + self.offset


async def run(scenario: Scenario, minutes: float, workdir: Path, tree: Path) -> Result:
    """Set the integration up on a fresh simulator and drive ``minutes`` of simulated time."""
    clock = Clock()
    counts = {"events": 0, "writes": 0}
    per_entity: Counter[str] = Counter()
    original_write = Entity.async_write_ha_state

    def counted_write(self: Entity) -> None:
        counts["writes"] += 1
        original_write(self)

    with (
        simulator(scenario.site, workdir) as details,
        patch.object(dt_util, "utcnow", clock.utcnow),
        patch.object(Entity, "async_write_ha_state", counted_write),
        # As the test harness does: no zeroconf (and no network component) to resolve names.
        patch.object(aiohttp_client, "_async_make_resolver", lambda hass: ThreadedResolver()),
    ):
        config = workdir / scenario.name
        config.mkdir()
        async with async_test_home_assistant(config_dir=str(config)) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)  # load ours from sys.path
            options: dict[str, Any] = {"scan_interval": MAIN_POLL}
            if scenario.lane:
                options["power_interval"] = scenario.lane
            entry = MockConfigEntry(
                domain=DOMAIN,
                unique_id=details["serial"],
                title="IQ Gateway",
                data={
                    CONF_HOST: details["host"],
                    "serial": details["serial"],
                    CONF_TOKEN: details["token"],
                },
                options=options,
                pref_disable_polling=True,  # the run drives every poll itself
            )
            entry.add_to_hass(hass)
            if scenario.live:
                # As after a restart with the live power sensors enabled by the user.
                registry = er.async_get(hass)
                for flow in LIVE_FLOWS:
                    registry.async_get_or_create(
                        "sensor",
                        DOMAIN,
                        f"{details['serial']}_live_{flow}_power",
                        config_entry=entry,
                    )
            if not await hass.config_entries.async_setup(entry.entry_id):
                raise RuntimeError(f"the integration did not set up: {entry.reason}")
            await hass.async_block_till_done()
            runtime = entry.runtime_data
            main = getattr(runtime, "coordinator", runtime)  # 6b28d9b: a dataclass
            lane = getattr(main, "power", None)
            if scenario.lane and lane is None:
                raise RuntimeError("this integration has no power lane")

            @callback
            def count(event: Event) -> None:
                counts["events"] += 1
                per_entity[event.data["entity_id"]] += 1

            @callback
            def every(_: Any) -> bool:
                return True

            hass.bus.async_listen(EVENT_STATE_CHANGED, count)
            hass.bus.async_listen(EVENT_STATE_REPORTED, count, event_filter=every)
            result = Result(scenario, minutes, entities=len(hass.states.async_all("sensor")))
            gc.collect()  # start from the same clean heap in every scenario
            control(details, "stats", {})
            step = scenario.lane or MAIN_POLL
            elapsed = 0
            while elapsed < minutes * 60:
                elapsed += step
                clock.offset += timedelta(seconds=step)
                control(details, "clock", {"advance": step})
                kind = "poll" if elapsed % MAIN_POLL == 0 else "tick"
                coordinator = main if kind == "poll" else lane
                counts["events"] = counts["writes"] = 0
                per_entity.clear()
                garbage = GarbageTimer()
                gc.callbacks.append(garbage)
                cpu = time.process_time()
                await coordinator.async_refresh()
                await hass.async_block_till_done()
                cpu = time.process_time() - cpu
                gc.callbacks.remove(garbage)
                if not coordinator.last_update_success:
                    raise RuntimeError(f"a {kind} failed: {coordinator.last_exception}")
                most = max(per_entity.values(), default=0)
                result.steps.append(
                    Step(
                        kind,
                        cpu * 1000,
                        counts["events"],
                        counts["writes"],
                        garbage.total * 1000,
                        most,
                    )
                )
            result.stats = control(details, "stats")
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
    return result


# --------------------------------------------------------------------------- report


def report(results: list[Result]) -> str:
    """The figures, as Markdown tables."""
    header = (
        "| scenario | sensors | requests / min | JWT checks / h | stream switches / h"
        " | state writes / min | HA CPU ms / min |"
    )
    lines = [header, "|---" * 7 + "|"]
    for result in results:
        stats = result.stats
        cpu = sum(step.cpu_ms for step in result.steps)
        events = sum(step.events for step in result.steps)
        lines.append(
            f"| {result.scenario.name} | {result.entities} "
            f"| {result.per_minute(stats['total_requests']):.1f} "
            f"| {60 * result.per_minute(stats['total_jwt_validations']):.1f} "
            f"| {60 * result.per_minute(stats.get('stream_posts', 0)):.1f} "
            f"| {result.per_minute(events):.1f} | {result.per_minute(cpu):.1f} |"
        )
    lines.append("")
    lines.append(
        "| scenario | main polls | state writes per poll, first 5 (write calls)"
        " | most writes of one sensor in a poll | HA CPU ms per poll, first 5"
        " | median (of which GC) | ticks | state writes per tick"
        " | HA CPU ms per tick, median (of which GC) |"
    )
    lines.append("|---" * 9 + "|")
    for result in results:
        polls, ticks = result.of("poll"), result.of("tick")
        writes = ", ".join(f"{p.events} ({p.writes})" for p in polls[:5])
        cpu = ", ".join(f"{p.cpu_ms:.0f}" for p in polls[:5])
        median = _median(polls, "{:.0f}")
        tick_writes = f"{statistics.mean(t.events for t in ticks):.1f}" if ticks else "-"
        tick_cpu = _median(ticks, "{:.1f}") if ticks else "-"
        most = max((p.most for p in polls), default=0)
        lines.append(
            f"| {result.scenario.name} | {len(polls)} | {writes} | {most} | {cpu} | {median} "
            f"| {len(ticks)} | {tick_writes} | {tick_cpu} |"
        )
    return "\n".join(lines)


def _median(steps: list[Step], number: str) -> str:
    """The median CPU of ``steps``, and the median share of it spent in the GC."""
    if not steps:
        return "-"
    cpu = statistics.median(step.cpu_ms for step in steps)
    garbage = statistics.median(step.gc_ms for step in steps)
    return f"{number.format(cpu)} ({number.format(garbage)})"


SCENARIOS = {
    "small-off": Scenario("small", 0),
    "small-10": Scenario("small", 10),
    "small-10-live": Scenario("small", 10, live=True),
    "large-off": Scenario("large", 0),
    "large-10": Scenario("large", 10),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="run only these (repeatable; default: all)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=30.0,
        help="simulated minutes per scenario (default: %(default)s)",
    )
    parser.add_argument(
        "--all-entities",
        action="store_true",
        help="every entity enabled, those disabled by default too",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=REPO,
        help="the checkout whose custom_components/ is benchmarked (default: this one)",
    )
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    import custom_components.enphase_iq_gateway as integration  # noqa: PLC0415 - from --tree

    if not Path(integration.__file__).is_relative_to(tree):
        raise SystemExit(f"custom_components was found in {integration.__file__}, not {tree}")
    names = args.scenario or list(SCENARIOS)
    results = []
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="iqgw-bench-"))
        if args.all_entities:
            stack.enter_context(patch.object(Entity, "entity_registry_enabled_default", new=True))
        for name in names:
            print(f"running {SCENARIOS[name].name} ...", file=sys.stderr, flush=True)
            results.append(asyncio.run(run(SCENARIOS[name], args.minutes, Path(workdir), tree)))
    entities = "every entity enabled" if args.all_entities else "entities enabled by default"
    print(f"integration: {tree}; {args.minutes:g} simulated minutes per scenario; {entities}")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
