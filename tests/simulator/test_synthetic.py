"""A large site from a small capture: N microinverters, and what follows them."""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp
import pytest

from simulator import Capture, Clock, GatewaySimulator, TokenAuthority, with_inverters
from tests.conftest import FIXTURES, RICH_CAPTURE

from .conftest import fetch

INVERTERS = "/api/v1/production/inverters"


def body(capture: Capture, path: str) -> Any:
    """A JSON body of the capture."""
    captured = capture.get(path)
    assert captured is not None
    return json.loads(captured.body)


def test_two_hundred_microinverters() -> None:
    """Unique serials, devType 1, sensible watts, report dates near the captured ones."""
    small = Capture.load(FIXTURES / RICH_CAPTURE)
    big = with_inverters(small, 200)
    captured = body(small, INVERTERS)
    listed = body(big, INVERTERS)
    assert big.name == f"{RICH_CAPTURE}_200_inverters"
    assert len(listed) == 200
    assert len({i["serialNumber"] for i in listed}) == 200
    assert all(len(i["serialNumber"]) == 12 and i["serialNumber"].isdigit() for i in listed)
    assert {i["devType"] for i in listed} == {1}
    # The captured ones come first, with their serials.
    assert [i["serialNumber"] for i in listed[: len(captured)]] == [
        i["serialNumber"] for i in captured
    ]
    latest = max(i["lastReportDate"] for i in captured)
    for inverter in listed:
        assert 0.4 * inverter["maxReportWatts"] <= inverter["lastReportWatts"]
        assert inverter["lastReportWatts"] <= inverter["maxReportWatts"]
        assert latest - 300 < inverter["lastReportDate"] <= latest
    assert len({i["lastReportWatts"] for i in listed}) > 20  # not all alike
    # The original capture is untouched.
    assert body(small, INVERTERS) == captured


def test_totals_follow_the_inverters() -> None:
    """/api/v1/production and the inverters line of production.json sum the new list."""
    big = with_inverters(Capture.load(FIXTURES / RICH_CAPTURE), 200)
    total = sum(i["lastReportWatts"] for i in body(big, INVERTERS))
    assert body(big, "/api/v1/production")["wattsNow"] == total
    line = body(big, "/production.json")["production"][0]
    assert (line["type"], line["activeCount"], line["wNow"]) == ("inverters", 200, total)
    # CT readings and lifetime counters stay as captured.
    assert big.get("/ivp/meters/readings") == Capture.load(FIXTURES / RICH_CAPTURE).get(
        "/ivp/meters/readings"
    )
    small_production = body(Capture.load(FIXTURES / RICH_CAPTURE), "/api/v1/production")
    assert (
        body(big, "/api/v1/production")["wattHoursLifetime"]
        == small_production["wattHoursLifetime"]
    )


def test_other_devices_stay_and_keep_their_serials_apart() -> None:
    """AC Batteries stay listed; no new serial takes one of theirs; pdm energy follows."""
    small = Capture.load(FIXTURES / "8.3.5169_ACB_inventory")
    big = with_inverters(small, 50, name="big")
    listed = body(big, INVERTERS)
    batteries = [i for i in body(small, INVERTERS) if i["devType"] == 11]
    assert big.name == "big"
    assert [i for i in listed if i["devType"] == 11] == batteries
    micros = [i for i in listed if i["devType"] == 1]
    assert len(micros) == 50
    assert len({i["serialNumber"] for i in listed}) == len(listed)
    energy = body(big, "/ivp/pdm/energy")
    assert energy["production"]["pcu"]["wattsNow"] == sum(i["lastReportWatts"] for i in micros)
    assert energy["production"]["eim"] == body(small, "/ivp/pdm/energy")["production"]["eim"]


def test_device_data_lists_one_microinverter_each() -> None:
    """A pcu device for every new serial, captured ones kept, other devices untouched."""
    small = Capture.load(FIXTURES / "8.2.4345_with_device_data")
    big = with_inverters(small, 40)
    devices = body(big, "/ivp/pdm/device_data")
    captured = body(small, "/ivp/pdm/device_data")
    pcus = {k: v for k, v in devices.items() if isinstance(v, dict) and v.get("devName") == "pcu"}
    serials = {i["serialNumber"] for i in body(big, INVERTERS)}
    assert {v["sn"] for v in pcus.values()} == serials
    assert len(pcus) == 40
    for key, device in captured.items():
        if isinstance(device, dict):
            assert devices[key] == device  # captured devices as they were
    channels = [d["channels"][0]["chanEid"] for d in pcus.values()]
    assert len(set(channels)) == len(channels)
    assert len(set(pcus)) == 40
    if "deviceCount" in captured:
        others = sum(1 for v in captured.values() if isinstance(v, dict)) - sum(
            1 for v in captured.values() if isinstance(v, dict) and v.get("devName") == "pcu"
        )
        assert devices["deviceCount"] == 40 + others
    new = next(
        d
        for d in pcus.values()
        if d["sn"] not in {v.get("sn") for v in captured.values() if isinstance(v, dict)}
    )
    inverter = next(i for i in body(big, INVERTERS) if i["serialNumber"] == new["sn"])
    assert new["channels"][0]["watts"]["now"] == inverter["lastReportWatts"]


def test_fewer_than_captured() -> None:
    """A smaller count keeps the first captured microinverters (and their device data)."""
    small = Capture.load(FIXTURES / "8.2.4345_with_device_data")
    few = with_inverters(small, 3)
    listed = body(few, INVERTERS)
    assert [i["serialNumber"] for i in listed] == [
        i["serialNumber"] for i in body(small, INVERTERS)[:3]
    ]
    pcus = [
        v
        for v in body(few, "/ivp/pdm/device_data").values()
        if isinstance(v, dict) and v.get("devName") == "pcu"
    ]
    assert sorted(v["sn"] for v in pcus) == sorted(i["serialNumber"] for i in listed)
    assert with_inverters(small, 0).get(INVERTERS) is not None
    assert body(with_inverters(small, 0), INVERTERS) == []


def test_night_capture_gets_watts() -> None:
    """Captured microinverters at 0 W are given a share of their peak."""
    listed = body(with_inverters(Capture.load(FIXTURES / RICH_CAPTURE), 5), INVERTERS)
    assert all(i["lastReportWatts"] == round(i["maxReportWatts"] * 0.6) for i in listed)


@pytest.mark.parametrize("folder", ["3.7.0"])
def test_needs_an_inverters_list(folder: str) -> None:
    """No list to grow (or a negative count): refused."""
    with pytest.raises(ValueError, match="no inverters list"):
        with_inverters(Capture.load(FIXTURES / folder), 10)
    with pytest.raises(ValueError, match="negative"):
        with_inverters(Capture.load(FIXTURES / RICH_CAPTURE), -1)
    html = Capture.load(FIXTURES / RICH_CAPTURE)
    html.set(INVERTERS, "<html>busy</html>")
    with pytest.raises(ValueError, match="no inverters list"):
        with_inverters(html, 10)


def test_an_empty_inverters_list_grows_from_defaults() -> None:
    """Without a captured microinverter to copy, new ones get plain defaults."""
    small = Capture.load(FIXTURES / RICH_CAPTURE)
    small.set(INVERTERS, "[]")
    listed = body(with_inverters(small, 3), INVERTERS)
    assert [i["devType"] for i in listed] == [1, 1, 1]
    assert len({i["serialNumber"] for i in listed}) == 3
    assert all(0 < i["lastReportWatts"] <= i["maxReportWatts"] for i in listed)


async def test_two_hundred_inverters_moving_over_http(
    authority: TokenAuthority, loopback: None
) -> None:
    """The benchmark's site: 200 inverters, five polls, numbers that change each time."""
    clock = Clock(start=1_700_000_000)
    site = with_inverters(Capture.load(FIXTURES / RICH_CAPTURE), 200)
    async with (
        GatewaySimulator(site, authority=authority, clock=clock, moving=True) as gateway,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
    ):
        token = gateway.issue_token()
        polls = []
        for _ in range(5):
            polls.append((await fetch(session, gateway, INVERTERS, token=token)).json())
            clock.advance(300)
        assert all(len(p) == 200 for p in polls)
        for before, after in itertools.pairwise(polls):
            pairs = list(zip(before, after, strict=True))
            assert sum(old["lastReportWatts"] != new["lastReportWatts"] for old, new in pairs) > 150
            assert all(new["lastReportDate"] == old["lastReportDate"] + 300 for old, new in pairs)
