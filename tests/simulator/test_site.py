"""Numbers that move: powers follow one factor, counters grow by the energy delivered."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from simulator import Capture, Clock, GatewaySimulator, SiteModel
from simulator.site import MOVING_PATHS, Wave, typical_watts
from tests.conftest import FIXTURES, RICH_CAPTURE

from .conftest import fetch

START = 1_700_000_000.0
READINGS = "/ivp/meters/readings"
PRODUCTION = "/api/v1/production"
INVERTERS = "/api/v1/production/inverters"


def site_of(capture: Capture | str = RICH_CAPTURE, **kwargs: Any) -> SiteModel:
    """A moving site on a frozen clock."""
    if isinstance(capture, str):
        capture = Capture.load(FIXTURES / capture)
    kwargs.setdefault("moving", True)
    return SiteModel(capture, Clock(start=START), **kwargs)


def now(site: SiteModel, path: str) -> Any:
    """The body the gateway would send for ``path`` now."""
    captured = site.capture.get(path)
    assert captured is not None
    return json.loads(site.render(path, captured.body))


def original(site: SiteModel, path: str) -> Any:
    """The captured body."""
    captured = site.capture.get(path)
    assert captured is not None
    return json.loads(captured.body)


def custom(**bodies: Any) -> Capture:
    """A capture of the rich one's /info plus the given bodies (keyword: capture file name)."""
    capture = Capture.load(FIXTURES / RICH_CAPTURE)
    capture.responses = {"/info": capture.responses["/info"]}
    for name, body in bodies.items():
        path = "/" + name.replace("__", "/") if not name.endswith("_json") else f"/{name[:-5]}.json"
        capture.set(path, json.dumps(body))
    return capture


# --------------------------------------------------------------------------- the wave


def test_wave_integral_is_the_area_under_the_factor() -> None:
    """The closed-form integral matches a fine numerical one; f stays within its bounds."""
    wave = Wave()
    step = 0.5
    area = 0.0
    for i in range(int(3000 / step)):
        t = i * step
        area += (wave.factor(t) + wave.factor(t + step)) / 2 * step
        assert 0.65 <= wave.factor(t) <= 1.35
    assert wave.integral(3000) == pytest.approx(area, rel=1e-6)
    assert wave.integral(0) == 0
    # Average 1 over the long run, and never flat at a five-minute poll.
    assert wave.integral(1111 * 97) == pytest.approx(1111 * 97)
    assert len({round(wave.factor(300 * k), 6) for k in range(12)}) == 12


# --------------------------------------------------------------------------- still sites


def test_a_still_site_serves_the_capture_as_is() -> None:
    """Not moving, no scenario: every body is the captured bytes (live data aside)."""
    site = site_of(moving=False)
    site.clock.advance(3600)
    for path in MOVING_PATHS - {"/ivp/livedata/status"}:
        captured = site.capture.get(path)
        if captured is not None:
            assert site.render(path, captured.body) is captured.body, path
    other = site.capture.get("/ivp/meters")
    assert other is not None
    assert site.render("/ivp/meters", other.body) is other.body


def test_bodies_that_are_not_json_are_served_as_they_are() -> None:
    """An HTML page where JSON was expected moves nothing."""
    site = site_of(custom())
    site.capture.set(READINGS, "<html>maintenance</html>")
    site.clock.advance(10)
    captured = site.capture.get(READINGS)
    assert captured is not None
    assert site.render(READINGS, captured.body) == b"<html>maintenance</html>"


def test_a_body_changed_at_run_time_is_read_again() -> None:
    """capture.set() replaces what moves."""
    site = site_of(custom(api__v1__production={"wattsNow": 100, "wattHoursLifetime": 5}))
    assert now(site, PRODUCTION)["wattsNow"] == 100
    site.capture.set(PRODUCTION, json.dumps({"wattsNow": 200, "wattHoursLifetime": 5}))
    assert now(site, PRODUCTION)["wattsNow"] == 200


# --------------------------------------------------------------------------- powers


def test_every_power_moves_by_one_factor() -> None:
    """Meters, channels, production and live powers share f(t): sums keep holding."""
    site = site_of()
    seen = set()
    for _ in range(4):
        site.clock.advance(300)
        factor = site.wave.factor(site.elapsed())
        seen.add(round(factor, 6))
        before, after = original(site, READINGS), now(site, READINGS)
        for meter, moved in zip(before, after, strict=True):
            for name in ("activePower", "apparentPower", "reactivePower", "current"):
                assert moved[name] == pytest.approx(meter[name] * factor, abs=1e-3)
            for channel, moved_channel in zip(meter["channels"], moved["channels"], strict=True):
                assert moved_channel["activePower"] == pytest.approx(
                    channel["activePower"] * factor, abs=1e-3
                )
            # Voltage and frequency do not follow the power.
            assert moved["voltage"] == meter["voltage"]
            assert moved["freq"] == meter["freq"]
        power = now(site, "/ivp/ensemble/power")["devices:"][0]
        captured = original(site, "/ivp/ensemble/power")["devices:"][0]
        assert power["real_power_mw"] == round(captured["real_power_mw"] * factor)
        assert isinstance(power["real_power_mw"], int)
    assert len(seen) == 4


def test_reading_times_follow_the_clock() -> None:
    """Reading times (timestamp, readingTime, createdAt) are the simulator's; 0 stays 0."""
    site = site_of()
    site.clock.advance(123)
    assert {m["timestamp"] for m in now(site, READINGS)} == {START + 123}
    production_json = now(site, "/production.json")
    assert production_json["production"][0]["readingTime"] == START + 123
    assert production_json["storage"][0]["readingTime"] == 0  # never read: left alone
    reports = now(site, "/ivp/meters/reports/consumption")
    assert {r["createdAt"] for r in reports} == {START + 123}


# --------------------------------------------------------------------------- energy


def trapezoid(samples: list[tuple[float, float]]) -> float:
    """Watt-hours under (seconds, watts) samples."""
    return (
        sum((p0 + p1) / 2 * (t1 - t0) for (t0, p0), (t1, p1) in itertools.pairwise(samples)) / 3600
    )


def test_meter_counters_grow_by_the_energy_of_their_power() -> None:
    """Δ actEnergyDlvd = ∫ positive power; Δ actEnergyRcvd = ∫ negative power (channels too)."""
    site = site_of()
    first = now(site, READINGS)
    samples: list[list[tuple[float, float]]] = [[] for _ in first]
    channel_samples: list[tuple[float, float]] = []
    for second in range(0, 1201, 5):
        if second:
            site.clock.advance(5)
        body = now(site, READINGS)
        for index, meter in enumerate(body):
            samples[index].append((second, meter["activePower"]))
        channel_samples.append((second, body[2]["channels"][0]["activePower"]))
    assert site.elapsed() == 1200
    last = now(site, READINGS)
    for index, meter in enumerate(first):
        energy = trapezoid(samples[index])
        dlvd = last[index]["actEnergyDlvd"] - meter["actEnergyDlvd"]
        rcvd = last[index]["actEnergyRcvd"] - meter["actEnergyRcvd"]
        if energy > 0:  # production and net import: delivered grows
            assert dlvd == pytest.approx(energy, rel=2e-3)
            assert rcvd == 0
        else:  # the storage CT, charging: received grows
            assert rcvd == pytest.approx(-energy, rel=2e-3)
            assert dlvd == 0
    grown = last[2]["channels"][0]["actEnergyRcvd"] - first[2]["channels"][0]["actEnergyRcvd"]
    assert grown == pytest.approx(-trapezoid(channel_samples), rel=2e-3)


def test_signed_and_split_counters_by_meaning() -> None:
    """Net whLifetime follows the sign; other lifetimes only positive power; var·h by sign."""
    net = {
        "type": "eim",
        "measurementType": "net-consumption",
        "wNow": -1000.0,
        "whLifetime": 50_000.0,
        "reactPwr": -300.0,
        "apprntPwr": 1200.0,
        "varhLeadLifetime": 10.0,
        "varhLagLifetime": 20.0,
        "vahLifetime": 30.0,
        "readingTime": 1,
    }
    noise = {"type": "eim", "measurementType": "total-consumption", "wNow": -5, "whLifetime": 7}
    site = site_of(custom(production_json={"production": [], "consumption": [net, noise]}))
    site.clock.advance(600)
    hours = site.wave.integral(600) / 3600
    moved_net, moved_noise = now(site, "/production.json")["consumption"]
    assert moved_net["whLifetime"] == pytest.approx(50_000 - 1000 * hours, abs=1e-3)
    assert moved_net["varhLeadLifetime"] == pytest.approx(10 + 300 * hours, abs=1e-3)
    assert moved_net["varhLagLifetime"] == 20.0
    assert moved_net["vahLifetime"] == pytest.approx(30 + 1200 * hours, abs=1e-3)
    assert moved_noise["whLifetime"] == 7
    assert isinstance(moved_noise["wNow"], int)


def test_reports_split_delivered_and_received() -> None:
    """Consumption reports: whDlvdCum with import, whRcvdCum with export, lines too."""
    site = site_of("8.3.5169_ACB_inventory")
    site.clock.advance(900)
    hours = site.wave.integral(900) / 3600
    before, after = original(site, "/ivp/meters/reports"), now(site, "/ivp/meters/reports")
    for report, moved in zip(before, after, strict=True):
        power = report["cumulative"]["currW"]
        for part, moved_part in [
            (report["cumulative"], moved["cumulative"]),
            (report["lines"][0], moved["lines"][0]),
        ]:
            assert moved_part["whDlvdCum"] == pytest.approx(
                part["whDlvdCum"] + max(power, 0) * hours, abs=1e-3
            )
            assert moved_part["whRcvdCum"] == pytest.approx(
                part["whRcvdCum"] + max(-power, 0) * hours, abs=1e-3
            )


def test_microinverter_production_follows_the_inverters() -> None:
    """A night capture (0 W): /api/v1/production moves from the inverters' typical power."""
    site = site_of()
    inverters = original(site, INVERTERS)
    typical = sum(typical_watts(i["lastReportWatts"], i["maxReportWatts"]) for i in inverters)
    assert typical > 0
    assert original(site, PRODUCTION)["wattsNow"] == 0
    site.clock.advance(300)
    hours = site.wave.integral(300) / 3600
    body, captured = now(site, PRODUCTION), original(site, PRODUCTION)
    assert body["wattsNow"] == round(typical * site.wave.factor(300))
    grown = round(typical * hours)
    for name in ("wattHoursLifetime", "wattHoursToday", "wattHoursSevenDays"):
        assert body[name] - captured[name] == pytest.approx(grown, abs=1)
    # production.json's inverters line has power of its own in this capture: it moves from it.
    line = now(site, "/production.json")["production"][0]
    captured_line = original(site, "/production.json")["production"][0]
    assert line["type"] == "inverters"
    assert captured_line["wNow"] > 0
    assert line["wNow"] == round(captured_line["wNow"] * site.wave.factor(300))


@pytest.mark.parametrize("inverters", [None, "<html>busy</html>", '{"not": "a list"}'])
def test_without_an_inverters_list_production_stays_at_zero(inverters: str | None) -> None:
    """No list to take the microinverters' power from: a 0 W production stays 0."""
    capture = custom(api__v1__production={"wattsNow": 0, "wattHoursLifetime": 1000})
    if inverters is not None:
        capture.set(INVERTERS, inverters)
    site = site_of(capture)
    site.clock.advance(600)
    assert now(site, PRODUCTION) == {"wattsNow": 0, "wattHoursLifetime": 1000}


def test_pdm_energy() -> None:
    """The pcu source follows the inverters; an eim at -4 W stays put; consumption grows."""
    site = site_of("8.3.5169_ACB_inventory")
    site.clock.advance(600)
    hours = site.wave.integral(600) / 3600
    before, after = original(site, "/ivp/pdm/energy"), now(site, "/ivp/pdm/energy")
    assert after["production"]["eim"]["wattHoursLifetime"] == 1692970
    consumption = before["consumption"]["eim"]
    assert after["consumption"]["eim"]["wattHoursLifetime"] == round(
        consumption["wattHoursLifetime"] + consumption["wattsNow"] * hours
    )
    assert after["production"]["pcu"]["wattsNow"] > 0
    assert after["production"]["rgm"] == before["production"]["rgm"]


# --------------------------------------------------------------------------- inverters


def test_inverters_report_each_at_its_own_moment() -> None:
    """Reports every 300 s, staggered; watts of that moment; every one new after 300 s."""
    site = site_of()
    site.clock.advance(1000)
    first = now(site, INVERTERS)
    captured = {i["serialNumber"]: i for i in original(site, INVERTERS)}
    data_time = START + 1000
    assert len({i["lastReportDate"] for i in first}) == len(first)
    for inverter in first:
        reported = inverter["lastReportDate"]
        assert data_time - 300 < reported <= data_time
        base = captured[inverter["serialNumber"]]
        expected = round(
            typical_watts(base["lastReportWatts"], base["maxReportWatts"])
            * site.wave.factor(reported - START)
        )
        assert inverter["lastReportWatts"] == expected
        assert inverter["maxReportWatts"] >= inverter["lastReportWatts"]
    site.clock.advance(300)
    later = now(site, INVERTERS)
    for before, after in zip(first, later, strict=True):
        assert after["lastReportDate"] == before["lastReportDate"] + 300


def test_inverters_report_continuously_without_an_interval() -> None:
    """report_interval 0: every request is a report."""
    site = site_of(report_interval=0)
    site.clock.advance(42)
    assert {i["lastReportDate"] for i in now(site, INVERTERS)} == {START + 42}


def test_a_short_report_interval() -> None:
    """Any interval, even under a second, keeps each report within the last interval."""
    site = site_of(report_interval=0.5)
    site.clock.advance(100.2)
    dates = {i["lastReportDate"] for i in now(site, INVERTERS)}
    assert dates <= {START + 99, START + 100}


def test_other_devices_in_the_inverters_list_stay() -> None:
    """AC Batteries (devType 11) are not microinverters: left as captured."""
    site = site_of("8.2.4382_ACB")
    site.clock.advance(777)
    batteries = [i for i in original(site, INVERTERS) if i["devType"] == 11]
    assert batteries
    assert [i for i in now(site, INVERTERS) if i["devType"] == 11] == batteries


def test_device_data_channels() -> None:
    """Microinverter channels: watts, lifetime joules, interval energy, end date; others stay."""
    site = site_of("8.2.4345_with_device_data")
    path = "/ivp/pdm/device_data"
    before = original(site, path)
    samples = []
    for _ in range(3):
        site.clock.advance(600)
        samples.append(now(site, path))
    for key, device in before.items():
        if not isinstance(device, dict) or device.get("devName") != "pcu":
            assert all(s[key] == device for s in samples), key
            continue
        channel = device["channels"][0]
        joules = [s[key]["channels"][0]["lifetime"]["joulesProduced"] for s in samples]
        assert channel["lifetime"]["joulesProduced"] < joules[0] < joules[1] < joules[2]
        last = samples[-1][key]["channels"][0]
        reported = last["lastReading"]["endDate"]
        base = typical_watts(channel["watts"]["now"], channel["watts"]["max"])
        assert last["watts"]["now"] == round(base * site.wave.factor(reported - START))
        assert joules[2] == round(
            channel["lifetime"]["joulesProduced"] + base * site.wave.integral(reported - START)
        )
        assert last["wattHours"]["today"] > channel["wattHours"]["today"]
        assert last["wattHours"]["yesterday"] == channel["wattHours"]["yesterday"]


def test_device_data_starts_where_the_capture_is() -> None:
    """Moving from the first second never reads below the captured counters."""
    site = site_of("8.2.4345_with_device_data")
    before, after = original(site, "/ivp/pdm/device_data"), now(site, "/ivp/pdm/device_data")
    for key, device in before.items():
        if isinstance(device, dict) and device.get("devName") == "pcu":
            lifetime = device["channels"][0]["lifetime"]["joulesProduced"]
            assert after[key]["channels"][0]["lifetime"]["joulesProduced"] == lifetime


# --------------------------------------------------------------------------- pausing


def test_pausing_freezes_and_resuming_goes_on_without_a_jump() -> None:
    """Pausing keeps the numbers where they were; moving again goes on from there."""
    site = site_of()
    site.clock.advance(400)
    at_pause = now(site, READINGS)
    site.moving = False
    site.moving = False  # twice: no change
    site.clock.advance(5000)
    assert now(site, READINGS) == at_pause
    assert site.elapsed() == 400
    site.moving = True
    site.moving = True
    assert now(site, READINGS)[0]["actEnergyDlvd"] == at_pause[0]["actEnergyDlvd"]
    site.clock.advance(60)
    assert now(site, READINGS)[0]["actEnergyDlvd"] > at_pause[0]["actEnergyDlvd"]
    assert site.elapsed() == 460
    assert now(site, READINGS)[0]["timestamp"] == START + 460


def test_counters_never_decrease_on_any_capture() -> None:
    """Over an hour, in random steps, no lifetime counter of any capture goes down."""
    names = {
        "actEnergyDlvd",
        "actEnergyRcvd",
        "apparentEnergy",
        "wattHoursLifetime",
        "whDlvdCum",
        "whRcvdCum",
        "joulesProduced",
    }
    for folder in sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()):
        site = site_of(folder)
        previous: dict[str, float] = {}
        for step in (0, 7, 300, 61, 1200, 3):
            site.clock.advance(step)
            for path in sorted(MOVING_PATHS):
                captured = site.capture.get(path)
                if captured is None or captured.status != 200:
                    continue
                try:
                    body = json.loads(site.render(path, captured.body))
                except ValueError:
                    continue  # an HTML page where the endpoint had one
                for where, value in _numbers(body):
                    name = where.rsplit("/", 1)[-1]
                    interval = name == "joulesProduced" and "/lifetime/" not in where
                    if name in names and not interval and value > 0:
                        key = f"{folder}{path}{where}"
                        assert value >= previous.get(key, -math.inf), key
                        previous[key] = value


def _numbers(body: Any, where: str = "") -> list[tuple[str, float]]:
    if isinstance(body, dict):
        return [n for k, v in body.items() for n in _numbers(v, f"{where}/{k}")]
    if isinstance(body, list):
        return [n for i, v in enumerate(body) for n in _numbers(v, f"{where}/{i}")]
    if isinstance(body, int | float) and not isinstance(body, bool):
        return [(where, float(body))]
    return []


# --------------------------------------------------------------------------- over HTTP


async def test_the_gateway_serves_moving_numbers(start_gateway: Any, raw_session: Any) -> None:
    """Through the gateway: two requests at two clock times see two sets of numbers."""
    clock = Clock(start=START)
    gateway: GatewaySimulator = await start_gateway(RICH_CAPTURE, clock=clock, moving=True)
    token = gateway.issue_token()
    first = (await fetch(raw_session, gateway, READINGS, token=token)).json()
    same = (await fetch(raw_session, gateway, READINGS, token=token)).json()
    assert first == same  # the clock stood still
    clock.advance(60)
    later = (await fetch(raw_session, gateway, READINGS, token=token)).json()
    assert later[0]["activePower"] != first[0]["activePower"]
    assert later[0]["actEnergyDlvd"] > first[0]["actEnergyDlvd"]
    gateway.moving = False
    clock.advance(60)
    assert (await fetch(raw_session, gateway, READINGS, token=token)).json() == later
