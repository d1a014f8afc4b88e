"""Counter scenarios: dips, persistent dips, drops and roll-overs of lifetime counters."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from simulator import Capture, Clock, CounterScenario, GatewaySimulator, ScenarioKind, SiteModel
from simulator.scenarios import apply_scenarios, is_counter
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import fetch

START = 1_700_000_000.0
READINGS = "/ivp/meters/readings"
PRODUCTION = "/api/v1/production"
Session = aiohttp.ClientSession


def site_of(*, moving: bool = False, capture: str = RICH_CAPTURE) -> SiteModel:
    """The rich site on a frozen clock."""
    return SiteModel(Capture.load(FIXTURES / capture), Clock(start=START), moving=moving)


def poll(site: SiteModel, path: str = READINGS) -> Any:
    """One request for ``path``: the body as served."""
    captured = site.capture.get(path)
    assert captured is not None
    return json.loads(site.render(path, captured.body))


def delivered(body: Any) -> list[float]:
    """The production CT's delivered energy, and its first channel's."""
    return [body[0]["actEnergyDlvd"], body[0]["channels"][0]["actEnergyDlvd"]]


def truth(site: SiteModel, path: str = READINGS) -> Any:
    """What the counters read without scenarios, at the site's current time."""
    saved = site.scenarios
    site.scenarios = type(saved)()
    try:
        return poll(site, path)
    finally:
        site.scenarios = saved


# --------------------------------------------------------------------------- dips


def test_one_poll_dip() -> None:
    """5 % low for the next request of each path, then right again."""
    site = site_of()
    right = delivered(poll(site))
    site.scenarios.add(CounterScenario(ScenarioKind.DIP))
    dipped = delivered(poll(site))
    assert dipped == pytest.approx([v * 0.95 for v in right], abs=1e-3)
    assert delivered(poll(site)) == right
    # Another path has a poll of its own: its first request dips too.
    production = json.loads(site.capture.responses[PRODUCTION].body)
    low = poll(site, PRODUCTION)
    assert low["wattHoursLifetime"] == round(production["wattHoursLifetime"] * 0.95)
    assert low["wattHoursToday"] == production["wattHoursToday"]  # not a lifetime counter
    assert poll(site, PRODUCTION)["wattHoursLifetime"] == production["wattHoursLifetime"]


def test_persistent_dip_then_recovery_on_a_moving_site() -> None:
    """K polls low (each relative to the growing counter), then the real counter again."""
    site = site_of(moving=True)
    site.scenarios.add(CounterScenario(ScenarioKind.DIP, polls=3, factor=0.9))
    for _ in range(3):
        site.clock.advance(300)
        real = delivered(truth(site))
        assert delivered(poll(site)) == pytest.approx([v * 0.9 for v in real], abs=1e-3)
    site.clock.advance(300)
    assert delivered(poll(site)) == delivered(truth(site))
    assert site.scenarios.as_list()[0]["seen"] == {READINGS: 4}


def test_dip_until_cleared() -> None:
    """With polls None: low until the scenarios are cleared."""
    site = site_of()
    right = delivered(poll(site))
    site.scenarios.add(CounterScenario(ScenarioKind.DIP, polls=None, factor=0.5))
    for _ in range(5):
        assert delivered(poll(site)) == pytest.approx([v / 2 for v in right], abs=1e-3)
    site.scenarios.clear()
    assert delivered(poll(site)) == right


# --------------------------------------------------------------------------- drops


def test_permanent_drop_grows_by_the_real_increases() -> None:
    """Half at the first poll, then up by exactly what the real counter adds."""
    site = site_of(moving=True)
    site.clock.advance(60)
    site.scenarios.add(CounterScenario(ScenarioKind.DROP))
    start = delivered(truth(site))
    first = delivered(poll(site))
    assert first == pytest.approx([v / 2 for v in start], abs=1e-3)
    for _ in range(4):
        site.clock.advance(300)
        real = delivered(truth(site))
        served = delivered(poll(site))
        for value, now_real, then_real in zip(served, real, start, strict=True):
            assert value == pytest.approx(then_real / 2 + (now_real - then_real), abs=2e-3)
    site.scenarios.clear()
    assert delivered(poll(site)) == delivered(truth(site))


def test_rollover_wraps_at_once_and_counts_on() -> None:
    """No modulus: each counter wraps to ~1 % of its value, then grows with the real one."""
    site = site_of(moving=True)
    site.scenarios.add(CounterScenario(ScenarioKind.ROLLOVER))
    start = delivered(truth(site))
    wrapped = delivered(poll(site))
    assert wrapped == pytest.approx([v * 0.01 for v in start], rel=1e-4)
    site.clock.advance(900)
    real = delivered(truth(site))
    later = delivered(poll(site))
    for value, was, now_real, then_real in zip(later, wrapped, real, start, strict=True):
        assert value - was == pytest.approx(now_real - then_real, abs=2e-3)


def test_rollover_at_a_modulus_waits_for_the_counter_to_reach_it() -> None:
    """A modulus above the counter changes nothing until the counter passes it."""
    site = site_of(moving=True)
    real = truth(site)[0]["actEnergyDlvd"]
    site.scenarios.add(
        CounterScenario(ScenarioKind.ROLLOVER, field="actEnergyDlvd", modulus=real + 50)
    )
    assert poll(site)[0]["actEnergyDlvd"] == real
    site.clock.advance(600)  # ~1.7 kW for ten minutes: well past +50 Wh
    grown = truth(site)[0]["actEnergyDlvd"]
    assert grown > real + 50
    assert poll(site)[0]["actEnergyDlvd"] == pytest.approx(grown - (real + 50), abs=1e-3)


# --------------------------------------------------------------------------- narrowing


def test_path_and_field_narrow_a_scenario() -> None:
    """A path leaves other endpoints alone (and does not count their requests)."""
    site = site_of()
    readings = poll(site)
    production = poll(site, PRODUCTION)
    site.scenarios.add(
        CounterScenario(ScenarioKind.DROP, path=READINGS, field="actEnergyRcvd", factor=0.5)
    )
    assert poll(site, f"{PRODUCTION}?x=1") == production
    dropped = poll(site)
    assert dropped[2]["actEnergyRcvd"] == pytest.approx(readings[2]["actEnergyRcvd"] / 2)
    assert dropped[2]["actEnergyDlvd"] == readings[2]["actEnergyDlvd"]
    assert site.scenarios.as_list()[0]["seen"] == {READINGS: 1}


def test_only_positive_lifetime_counters_are_touched() -> None:
    """Negative or zero counters and non-counters stay; lifetime objects count by parent."""
    body = {
        "whDlvdCum": -152327.377,
        "whRcvdCum": 0,
        "whToday": 100,
        "lifetime": {"joulesProduced": 1000, "duration": 50},
        "lastReading": {"joulesProduced": 10},
        "wattHoursLifetime": True,
    }
    dip = [CounterScenario(ScenarioKind.DIP, factor=0.5)]
    assert apply_scenarios(body, dip, "/x") == {
        **body,
        "lifetime": {"joulesProduced": 500, "duration": 50},
    }
    assert is_counter("joulesUsed", "lifetime")
    assert not is_counter("joulesUsed", "lastReading")


def test_scenarios_act_on_a_still_site_and_touch_only_counters() -> None:
    """Without moving, a dip changes the counters and nothing else of the body."""
    site = site_of()
    right = poll(site)
    site.scenarios.add(CounterScenario(ScenarioKind.DIP, factor=0.5))
    dipped = poll(site)
    for meter, low in zip(right, dipped, strict=True):
        assert low["activePower"] == meter["activePower"]
        assert low["timestamp"] == meter["timestamp"]
        for name in ("actEnergyDlvd", "apparentEnergy", "reactEnergyLagg"):
            assert low[name] == pytest.approx(meter[name] / 2, abs=1e-3)


def test_scenarios_act_on_device_data_lifetimes() -> None:
    """Per-inverter lifetime joules (a lifetime object) drop too; interval joules do not."""
    site = site_of(capture="8.2.4345_with_device_data")
    path = "/ivp/pdm/device_data"
    right = poll(site, path)
    site.scenarios.add(CounterScenario(ScenarioKind.DROP, path=path, factor=0.5))
    dropped = poll(site, path)
    key = next(k for k, v in right.items() if isinstance(v, dict) and v.get("devName") == "pcu")
    channel, low = right[key]["channels"][0], dropped[key]["channels"][0]
    assert low["lifetime"]["joulesProduced"] == round(channel["lifetime"]["joulesProduced"] / 2)
    assert low["lastReading"]["joulesProduced"] == channel["lastReading"]["joulesProduced"]


# --------------------------------------------------------------------------- JSON


def test_scenario_json_round_trip() -> None:
    """from_dict fills the kind's defaults; as_dict shows what it has seen."""
    dip = CounterScenario.from_dict({"kind": "dip"})
    assert dip.as_dict() == {
        "kind": "dip",
        "path": None,
        "field": None,
        "polls": 1,
        "factor": 0.95,
        "modulus": None,
        "phase": 1,
        "meter": None,
        "seen": {},
    }
    drop = CounterScenario.from_dict({"kind": "drop", "path": READINGS, "factor": 1})
    assert (drop.factor, drop.path) == (1.0, READINGS)
    assert CounterScenario.from_dict({"kind": "drop"}).factor == 0.5
    rollover = CounterScenario.from_dict({"kind": "rollover", "modulus": 1000, "polls": None})
    assert (rollover.factor, rollover.modulus, rollover.polls) == (None, 1000.0, None)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "kind is required"),
        ({"kind": "spike"}, "spike"),
        ({"kind": "dip", "polls": 0}, "polls must be at least 1"),
        ({"kind": "dip", "polls": 1.5}, "polls must be a whole number"),
        ({"kind": "dip", "polls": True}, "polls must be a whole number"),
        ({"kind": "dip", "factor": -0.1}, "factor must be at least 0"),
        ({"kind": "dip", "factor": "low"}, "factor must be a number"),
        ({"kind": "rollover", "modulus": 0}, "modulus must be more than 0"),
        ({"kind": "dip", "path": 3}, "path must be a string"),
        ({"kind": "dip", "depth": 0.1}, "unknown field"),
    ],
)
def test_bad_scenarios(data: dict[str, Any], error: str) -> None:
    """What cannot be understood is refused, saying why."""
    with pytest.raises(ValueError, match=error):
        CounterScenario.from_dict(data)


# --------------------------------------------------------------------------- gateway


async def test_gateway_python_api(start_gateway: GatewayFactory, raw_session: Session) -> None:
    """add_counter_scenario / clear_counter_scenarios, seen over HTTP."""
    gateway: GatewaySimulator = await start_gateway()
    token = gateway.issue_token()
    right = (await fetch(raw_session, gateway, READINGS, token=token)).json()
    scenario = gateway.add_counter_scenario("dip", polls=2, path=READINGS)
    assert scenario.factor == 0.95
    for _ in range(2):
        low = (await fetch(raw_session, gateway, READINGS, token=token)).json()
        assert delivered(low) == pytest.approx([v * 0.95 for v in delivered(right)], abs=1e-3)
    assert (await fetch(raw_session, gateway, READINGS, token=token)).json() == right
    gateway.add_counter_scenario("drop")
    assert (await fetch(raw_session, gateway, READINGS, token=token)).json() != right
    gateway.clear_counter_scenarios()
    assert (await fetch(raw_session, gateway, READINGS, token=token)).json() == right


async def test_control_api_counters(gateway: GatewaySimulator, raw_session: Session) -> None:
    """GET lists, POST adds (400 if not understood), DELETE ends them all."""
    token = gateway.issue_token()
    url = "/__simulator/counters"
    assert (await fetch(raw_session, gateway, url)).json() == []
    added = await fetch(
        raw_session, gateway, url, method="POST", json={"kind": "drop", "path": READINGS}
    )
    assert added.status == 200
    assert [s["kind"] for s in added.json()] == ["drop"]
    bad = await fetch(raw_session, gateway, url, method="POST", json={"kind": "melt"})
    assert bad.status == 400
    assert "bad counter scenario" in bad.json()["error"]
    await fetch(raw_session, gateway, READINGS, token=token)
    listed = (await fetch(raw_session, gateway, url)).json()
    assert listed[0]["seen"] == {READINGS: 1}
    cleared = await fetch(raw_session, gateway, url, method="DELETE")
    assert cleared.json() == []
    assert len(gateway.site.scenarios) == 0


# --------------------------------------------------------------------------- firmware quirks


def test_a_meter_loses_a_phase() -> None:
    """phase_lost: one channel all zero, the meter's totals those of the other channels."""
    site = site_of()
    right = poll(site)
    storage = right[2]["eid"]
    site.scenarios.add(CounterScenario(ScenarioKind.PHASE_LOST, meter=storage, polls=2))
    for _ in range(2):
        body = poll(site)
        meter = next(m for m in body if m["eid"] == storage)
        assert meter["channels"][1]["actEnergyDlvd"] == 0
        assert meter["channels"][1]["activePower"] == 0
        assert meter["channels"][1]["voltage"] == 0
        assert meter["actEnergyDlvd"] == meter["channels"][0]["actEnergyDlvd"]
        assert meter["activePower"] == meter["channels"][0]["activePower"]
        assert meter["voltage"] == meter["channels"][0]["voltage"]
        assert meter["freq"] == right[2]["freq"]
        others = [m for m in body if m["eid"] != storage]
        assert others == [m for m in right if m["eid"] != storage]
    assert poll(site) == right


def test_meters_say_inactive_and_numbers_read_unknown() -> None:
    """inactive: activeCount 0 on /production.json's eim entries; unknown: strings."""
    site = site_of()
    site.scenarios.add(CounterScenario(ScenarioKind.INACTIVE, path="/production.json"))
    body = poll(site, "/production.json")
    eims = [e for kind in ("production", "consumption") for e in body[kind] if e["type"] == "eim"]
    assert eims
    assert all(e["activeCount"] == 0 for e in eims)
    assert any(e["activeCount"] for e in body["production"] if e["type"] == "inverters")
    inventory = "/ivp/ensemble/inventory"
    site.scenarios.add(CounterScenario(ScenarioKind.UNKNOWN, path=inventory))
    battery = poll(site, inventory)[0]["devices"][0]
    assert battery["percentFull"] == "unknown"
    assert battery["communicating"] is True  # not a number
    assert isinstance(poll(site, inventory)[0]["devices"][0]["percentFull"], int)
