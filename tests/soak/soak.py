"""Soak: the integration in Home Assistant against the simulators, for days of simulated time.

Run by ``scripts/soak`` (``--days N --seed S``; this file is no ``test_*.py``, so the suite
does not collect it). One rich gateway (3 CTs, batteries) with a password stored, and its
twin whose counters nothing disturbs (the real energy while the gateway's glitch). Home Assistant's own scheduler polls every
five minutes; the clock (frozen, moved by the soak) only moves in 5-minute steps, or
in 5-second steps while a request hangs, so that its timeout can come.

A seeded schedule injects one fault at a time, then leaves the site alone for a while:

* ``reboot``   the gateway refuses connections for 1 - 5 minutes, then answers 401 to
  everything for 2 - 10 minutes, and has forgotten its sessions;
* ``wedge``    one endpoint never answers, for 1 - 6 hours;
* ``garble``   one endpoint answers an HTML page or half a body, for 1 - 6 hours;
* ``cloud``    the Enphase cloud answers 503, for 1 - 4 days;
* ``revoke``   the gateway stops accepting the token in use (the cloud still signs in);
* ``restart``  Home Assistant restarts (the entry unloaded and set up again, its saved
  states kept);
* ``counters`` the lifetime counters dip, drop or roll over, for 1 - 12 hours.

What is checked (a breach fails the run and says what broke):

* every sensor that was available before a fault is available again within two polls of
  its end, and while one endpoint alone misbehaves (or the cloud, or the counters), the
  polls succeed (at most two failed polls): a failed poll makes every sensor unavailable,
  those whose endpoints answer too;
* no reauthentication ever (the credentials never change), and the entry stays loaded;
* no lifetime counter ever published lower than before, or above the real energy since
  the first poll, by more than one unit of the simulator's rounding (the real energy: the
  gateway's counters, or the twin's while the gateway's glitch);
* at most one sign-in per 15 minutes, and never two requests to the gateway in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import logging
import math
import os
import random
import sys
from typing import Any
from unittest.mock import patch

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_TOKEN, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import restore_state
from homeassistant.helpers.entity_platform import async_get_platforms
from homeassistant.helpers.json import json_dumps
from homeassistant.helpers.restore_state import StoredState
from homeassistant.util import dt as dt_util
from homeassistant.util.json import json_loads
import jwt
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from yarl import URL

from custom_components.enphase_iq_gateway.const import DOMAIN
from custom_components.enphase_iq_gateway.iqgateway import IQGateway
from simulator import CloudSimulator, GatewaySimulator
from tests.conftest import RICH_CAPTURE, GatewayFactory
from tests.integration.conftest import (
    FROZEN_TIME,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    credentials_entry,
    reauth_flows,
    setup_entry,
)

POLL = timedelta(minutes=5)
HANG_STEP = timedelta(seconds=5)
SIGN_IN_GAP = timedelta(minutes=15)
RECOVERY_POLLS = 2
QUIET_ROUNDS = 20_000  # event loop rounds without a request before settle() lets time move
HOUR, DAY = 3600, 24 * 3600
# Endpoints of the rich capture's poll a fault may pick (not /info and the token check).
DATA_PATHS = (
    "/api/v1/production",
    "/api/v1/production/inverters",
    "/ivp/meters/readings",
    "/ivp/ensemble/inventory",
    "/ivp/ensemble/power",
    "/production.json",
)
KINDS = ("reboot", "wedge", "garble", "cloud", "revoke", "restart", "counters")


@dataclass
class Fault:
    """One fault of the schedule: when (seconds from the start), what, how long."""

    at: int
    kind: str
    seconds: int
    detail: str = ""
    refused: int = 0  # a reboot: the first seconds, connections refused (then 401s)


def schedule(days: float, seed: int) -> list[Fault]:
    """One fault at a time, 6 hours to 3 days apart, from ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
    faults: list[Fault] = []
    at = 2 * HOUR
    while True:
        kind = rng.choice(KINDS)
        seconds, detail, refused = 0, "", 0
        if kind == "reboot":
            refused, unauthorized = rng.randrange(1, 6) * 60, rng.randrange(2, 11) * 60
            seconds = refused + unauthorized
            detail = f"{refused // 60} min refused, {unauthorized // 60} min 401"
        elif kind in ("wedge", "garble"):
            seconds = rng.randrange(1, 7) * HOUR
            detail = rng.choice(DATA_PATHS)
            if kind == "garble":
                detail += " " + rng.choice(("html", "truncated"))
        elif kind == "cloud":
            seconds = rng.randrange(1, 5) * DAY
        elif kind == "revoke":
            seconds = int(POLL.total_seconds())  # the poll that meets the refusal
        elif kind == "counters":
            seconds = rng.randrange(1, 13) * HOUR
            detail = rng.choice(("dip", "drop", "rollover"))
        if at + seconds + HOUR > days * DAY:
            return faults
        faults.append(Fault(at, kind, seconds, detail, refused))
        at += seconds + rng.randrange(6 * HOUR, 3 * DAY, 300)


@dataclass
class Figures:
    """What the table shows."""

    faults: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    failed: int = 0
    failed_in: Counter[str] = field(default_factory=Counter)  # by the fault under way
    worst_recovery: int = 0  # polls after a fault's end until every sensor was back
    worst_fault: str = "-"
    sign_ins: int = 0
    breaches: list[str] = field(default_factory=list)


class Soak:
    """The site, Home Assistant, the clock, and the invariants' bookkeeping."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        gateway: GatewaySimulator,
        twin: IQGateway,
        cloud: CloudSimulator,
    ) -> None:
        self.hass, self.freezer, self.cloud = hass, freezer, cloud
        self.gateway, self.twin = gateway, twin
        self.start = dt_util.utcnow()
        self.figures = Figures()
        self.in_flight: list[str] = []  # paths of the requests to the gateway under way
        self.hanging: set[str] = set()  # paths that get no answer
        self.sign_in_times: list[datetime] = []
        self.published: dict[str, float] = {}  # each counter's last published number
        self.first: dict[str, tuple[float, float]] = {}  # each counter: first (published, real)
        self.baseline: set[str] = set()
        self.counter_ids: set[str] = set()
        self.entry: Any = None
        self.watched: Any = None  # the coordinator whose polls are counted
        self.fault = "none"  # the fault under way, or the last one while it recovers
        self.fault_polls = 0  # polls since it began
        self.late_failures = 0  # failed polls after the first two of a fault

    # ---------------------------------------------------------------- time

    def now(self) -> str:
        """Where the run is, for a breach's message."""
        passed = dt_util.utcnow() - self.start
        return f"day {passed.days}, {dt_util.utcnow():%H:%M}"

    def breach(self, what: str) -> None:
        """Record an invariant that broke."""
        self.figures.breaches.append(f"{self.now()}: {what}")

    async def run_for(self, seconds: float) -> None:
        """Let ``seconds`` pass, poll by poll, checking what is checked at every poll."""
        end = dt_util.utcnow() + timedelta(seconds=seconds)
        while dt_util.utcnow() < end:
            # While a poll is under way (a hung request, or the wait before its retry),
            # time moves in small steps: a jump to the next poll would end it by its
            # deadline, which no gateway does.
            busy = self.watched is not None and self.watched.polling
            step = HANG_STEP if busy else min(self.until_poll(), end - dt_util.utcnow())
            self.freezer.tick(step)
            async_fire_time_changed(self.hass)
            polls = self.figures.polls
            await self.settle()
            self.check_sign_ins()
            self.watch_polls()
            if self.figures.polls != polls:
                await self.check_counters()

    def until_poll(self) -> timedelta:
        """Time until the entry's next poll is due (five minutes if none is scheduled).

        A poll that outlasted a step (a hung request) moves the next one off the 5-minute
        grid: the clock goes to it rather than to the next grid step, or polls would be
        10 minutes apart.
        """
        handle = getattr(getattr(self.watched, "_unsub_refresh", None), "__self__", None)
        if not isinstance(handle, asyncio.TimerHandle):
            return POLL
        seconds = math.ceil(handle.when() - self.hass.loop.time())
        return min(POLL, timedelta(seconds=max(seconds, 1)))

    async def settle(self) -> None:
        """Run what is due until Home Assistant is idle, or only waits on a hung request."""
        idle = asyncio.ensure_future(self.hass.async_block_till_done(wait_background_tasks=True))
        quiet = 0  # rounds with no request to the gateway under way
        while not idle.done():
            quiet = 0 if self.in_flight else quiet + 1
            # Only a hung request, or nothing under way for long: what is left waits for
            # the clock (a retry's delay, a timeout).
            if (self.in_flight and set(self.in_flight) <= self.hanging) or quiet > QUIET_ROUNDS:
                idle.cancel()
                break
            await asyncio.sleep(0)
        await asyncio.gather(idle, return_exceptions=True)

    # ---------------------------------------------------------------- watching

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Count the gateway's requests in flight (client side) and the counters' states."""
        original = aiohttp.ClientSession._request
        host = self.gateway.address

        async def request(session: aiohttp.ClientSession, method: str, url: Any, **kw: Any) -> Any:
            parsed = URL(str(url))
            if parsed.host != host.partition(":")[0] or parsed.port != self.gateway.port:
                return await original(session, method, url, **kw)
            if self.in_flight:
                self.breach(f"{parsed.path} asked while {self.in_flight} was in flight")
            self.in_flight.append(parsed.path)
            try:
                return await original(session, method, url, **kw)
            finally:
                self.in_flight.remove(parsed.path)

        @callback
        def changed(event: Event) -> None:
            entity_id, state = event.data["entity_id"], event.data["new_state"]
            if entity_id not in self.counter_ids or state is None:
                return
            try:
                value = float(state.state)
            except ValueError:
                return
            before = self.published.get(entity_id)
            if before is not None and value < before:
                self.breach(f"{entity_id} published {value}, lower than {before}")
            self.published[entity_id] = value

        unsubscribe = self.hass.bus.async_listen("state_changed", changed)
        with patch.object(aiohttp.ClientSession, "_request", request):
            yield
        unsubscribe()

    def counters(self) -> dict[str, SensorEntity]:
        """Every lifetime counter (``total_increasing``) shown, by entity id."""
        return {
            entity.entity_id: entity
            for platform in async_get_platforms(self.hass, DOMAIN)
            for entity in platform.entities.values()
            if isinstance(entity, SensorEntity)
            and entity.state_class is SensorStateClass.TOTAL_INCREASING
        }

    async def check_counters(self) -> None:
        """No counter above the real energy since the first poll.

        The real energy is what the gateway's counters read while no counter glitch is
        on (what the entry polled), and the twin's counters while one is.
        """
        if len(self.gateway.site.scenarios):
            data = await self.twin.poll()
        elif self.watched is not None and self.watched.last_update_success:
            data = self.watched.data
        else:
            return
        for entity_id, entity in self.counters().items():
            source = entity._source(data)
            if source is None:
                continue  # its endpoint is failing: nothing to compare
            value = entity.entity_description.value_fn(source)
            if not isinstance(value, int | float) or entity_id not in self.published:
                continue
            real = self._shown(entity, value)
            if entity_id not in self.first:
                if abs(self.published[entity_id] - real) > self._shown(entity, 1):
                    # A rise held while it may be a spike (a new guard holds its first):
                    # the run is measured from a poll where counter and gateway agree.
                    continue
                self.first[entity_id] = (self.published[entity_id], real)
            first = self.first[entity_id]
            rise, real_rise = self.published[entity_id] - first[0], real - first[1]
            if rise > real_rise + self._shown(entity, 1):
                self.breach(f"{entity_id} rose {rise:g}, the real energy {real_rise:g}")
                self.first[entity_id] = (self.published[entity_id], real)  # told once

    @staticmethod
    def _shown(entity: SensorEntity, value: float) -> float:
        """A native value in the unit the state machine shows."""
        from homeassistant.components.sensor.const import UNIT_CONVERTERS

        converter = UNIT_CONVERTERS.get(entity.device_class)
        native, shown = entity.native_unit_of_measurement, entity.unit_of_measurement
        if converter is None or native == shown:
            return float(value)
        return float(converter.convert(float(value), native, shown))

    def check_sign_ins(self) -> None:
        """At most one sign-in per 15 minutes; no reauthentication; the entry loaded."""
        logins = self.cloud.stats["login"]
        new = logins - len(self.sign_in_times)
        if new > 1:
            self.breach(f"{new} sign-ins within five minutes")
        if new > 0:
            if self.sign_in_times and dt_util.utcnow() - self.sign_in_times[-1] < SIGN_IN_GAP:
                self.breach(f"a sign-in {dt_util.utcnow() - self.sign_in_times[-1]} after one")
            self.sign_in_times += [dt_util.utcnow()] * new
        if reauth_flows(self.hass):
            self.breach("reauthentication asked")
            for flow in reauth_flows(self.hass):
                self.hass.config_entries.flow.async_abort(flow["flow_id"])

    def unavailable(self) -> set[str]:
        """The sensors available before the faults that are not now."""
        return {
            entity_id
            for entity_id in self.baseline
            if (state := self.hass.states.get(entity_id)) is None
            or state.state == STATE_UNAVAILABLE
        }

    # ---------------------------------------------------------------- polls

    def watch_polls(self) -> None:
        """Count each poll of the entry's coordinator (a new one after a setup), failed or not."""
        if self.entry.state is not ConfigEntryState.LOADED:
            return  # Home Assistant retries the setup: watched once it is loaded
        coordinator = self.entry.runtime_data
        if coordinator is self.watched:
            return
        self.watched = coordinator

        finished = coordinator._async_refresh_finished

        def polled() -> None:
            # Home Assistant's hook at the end of every refresh: its listeners are not
            # called after a failed poll that follows a failed poll.
            finished()
            self.figures.polls += 1
            self.fault_polls += 1
            if not coordinator.last_update_success and self.fault_polls > RECOVERY_POLLS:
                self.late_failures += 1
            if not coordinator.last_update_success:
                self.figures.failed += 1
                self.figures.failed_in[self.fault] += 1

        coordinator._async_refresh_finished = polled

    async def recover(self, fault: Fault) -> None:
        """After ``fault`` ends: every sensor back within two polls (and how many it took)."""
        for polls in range(RECOVERY_POLLS + 1):
            if self.entry.state is not ConfigEntryState.LOADED:
                await self.run_for(POLL.total_seconds())
                continue
            missing = self.unavailable()
            if not missing:
                if polls > self.figures.worst_recovery:
                    self.figures.worst_recovery = polls
                    self.figures.worst_fault = f"{fault.kind} {fault.detail}".strip()
                return
            if polls == RECOVERY_POLLS:
                break
            await self.run_for(POLL.total_seconds())
        self.breach(
            f"after {fault.kind} {fault.detail}: {len(self.unavailable())} sensors still "
            f"unavailable {RECOVERY_POLLS} polls later, e.g. {sorted(self.unavailable())[:3]}"
            f" (entry {self.entry.state.value})"
        )

    async def during(self, fault: Fault) -> None:
        """Run through a fault the gateway answers in (all but one endpoint at most).

        From its third poll on, every poll must succeed: a failed one would make
        unavailable the sensors of the endpoints that answer.
        """
        late = self.late_failures
        await self.run_for(fault.seconds)
        if (failed := self.late_failures - late) > 0:
            self.breach(
                f"{failed} polls failed during {fault.kind} {fault.detail} after its first "
                f"{RECOVERY_POLLS} (the gateway answered every other endpoint)"
            )

    # ---------------------------------------------------------------- faults

    async def inject(self, fault: Fault) -> None:
        """Play one fault to its end, then check the recovery."""
        self.figures.faults[fault.kind] += 1
        self.fault, self.fault_polls = fault.kind, 0
        print(f"{self.now()}: {fault.kind} {fault.detail}", file=sys.stderr, flush=True)  # noqa: T201
        gateway = self.gateway
        if fault.kind == "reboot":
            await gateway.stop()
            await self.run_for(fault.refused)
            gateway.expire_sessions()
            gateway.add_fault("unauthorized", count=None)
            await gateway.start()
            await self.run_for(fault.seconds - fault.refused)
            gateway.faults.clear()
        elif fault.kind in ("wedge", "garble"):
            path, _, how = fault.detail.partition(" ")
            kind = "timeout" if fault.kind == "wedge" else how
            gateway.add_fault(kind, count=None, path=path)
            if kind == "timeout":
                self.hanging.add(path)
            await self.during(fault)
            gateway.faults.clear()
            self.hanging.clear()
        elif fault.kind == "cloud":
            self.cloud.outage = True
            await self.during(fault)
            self.cloud.outage = False
        elif fault.kind == "revoke":
            token = self.entry.data[CONF_TOKEN]
            claims = jwt.decode(token, options={"verify_signature": False})
            gateway.authority.revoked.add(claims["jti"])
            gateway.expire_sessions()  # else its session cookie outlives the token
            await self.run_for(fault.seconds)
        elif fault.kind == "restart":
            await self.restart()
        elif fault.kind == "counters":
            gateway.add_counter_scenario(fault.detail, polls=None)
            await self.during(fault)
            gateway.clear_counter_scenarios()
        await self.recover(fault)

    async def restart(self) -> None:
        """Unload and set up again, the saved states going through JSON as on disk."""
        hass = self.hass
        assert await hass.config_entries.async_unload(self.entry.entry_id)
        stored = restore_state.async_get(hass)
        stored.last_states = {
            entity_id: StoredState.from_dict(json_loads(json_dumps(saved.as_dict())))
            for entity_id, saved in stored.last_states.items()
        }
        await hass.config_entries.async_setup(self.entry.entry_id)
        await self.settle()
        self.watch_polls()


def table(figures: Figures, days: float, seed: int) -> str:
    """The figures as a Markdown table."""
    rows = [
        ("simulated days, seed", f"{days:g}, {seed}"),
        ("faults injected", f"{figures.faults.total()} ({_counts(figures.faults)})"),
        ("polls", str(figures.polls)),
        ("failed polls", f"{figures.failed} ({_counts(figures.failed_in)})"),
        (
            "worst time to recover",
            f"{figures.worst_recovery} polls ({figures.worst_fault})",
        ),
        ("sign-ins", str(figures.sign_ins)),
        ("invariants broken", str(len(figures.breaches))),
    ]
    lines = ["| soak | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def _counts(counts: Counter[str]) -> str:
    """``kind n, kind n`` (``none``: nothing counted)."""
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"


@pytest.mark.freeze_time(FROZEN_TIME)
@pytest.mark.usefixtures("cloud_client")
async def test_soak(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start_gateway: GatewayFactory,
    cloud: CloudSimulator,
    http_session: aiohttp.ClientSession,
) -> None:
    """Days of simulated time with a seeded schedule of faults: no invariant breaks."""
    asyncio.get_running_loop().set_debug(False)  # its checks would cost most of the run
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # "took 300 s": the clock jumped
    logging.getLogger(f"custom_components.{DOMAIN}").setLevel(logging.ERROR)
    days = float(os.environ.get("IQGW_SOAK_DAYS", "7"))
    seed = int(os.environ.get("IQGW_SOAK_SEED", "1"))
    gateway = await start_gateway(RICH_CAPTURE, moving=True)
    twin_gateway = await start_gateway(RICH_CAPTURE, moving=True)
    twin = IQGateway(
        twin_gateway.address, http_session, token=twin_gateway.issue_token(), retry_delay=0
    )
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial})
    soak = Soak(hass, freezer, gateway, twin, cloud)
    with soak.watching():
        soak.entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
        assert soak.entry.state is ConfigEntryState.LOADED
        soak.watch_polls()
        soak.counter_ids = set(soak.counters())
        await soak.run_for(2 * POLL.total_seconds())
        soak.baseline = {
            state.entity_id
            for state in hass.states.async_all()
            if state.entity_id.startswith(("sensor.", "binary_sensor."))
            and state.state != STATE_UNAVAILABLE
        }
        for fault in schedule(days, seed):
            await soak.run_for(soak.start.timestamp() + fault.at - dt_util.utcnow().timestamp())
            await soak.inject(fault)
        await soak.run_for(soak.start.timestamp() + days * DAY - dt_util.utcnow().timestamp())
        soak.figures.sign_ins = cloud.stats["login"]
        await hass.config_entries.async_unload(soak.entry.entry_id)
        await hass.async_block_till_done()
    print(f"\n{table(soak.figures, days, seed)}")  # noqa: T201 - the soak's report
    if soak.figures.breaches:
        pytest.fail("invariants broken:\n" + "\n".join(soak.figures.breaches[:20]))
