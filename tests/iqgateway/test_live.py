"""Live data that is live, and the light power poll.

The gateway refreshes ``/ivp/livedata/status`` only while its live stream is on. These
tests run the client against the simulator's model of that stream (on after a POST, off
again after ``stream_timeout``), on one clock that the simulator and the client share and
the test moves by hand.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from custom_components.enphase_iq_gateway.iqgateway import (
    GatewayData,
    IQGateway,
    IQGatewayAuthenticationError,
    site_values,
)
from custom_components.enphase_iq_gateway.iqgateway.client import (
    STREAM_LIFETIME,
    STREAM_MIN_GAP,
    STREAM_RETRY,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    BATTERY_POWER,
    CHECK_JWT,
    LIVE_STREAM,
    LIVEDATA,
    METER_READINGS,
    METERS,
    POLLED,
)
from simulator import Clock, GatewaySimulator
from simulator.site import LiveStream
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .common import raises
from .conftest import ClientFactory

START = 1_750_000_000.0
POLL = 300.0
STREAM = LIVE_STREAM.path
CAPTURED = (FIXTURES / RICH_CAPTURE / "ivp_livedata_status").read_text()


@pytest.fixture
async def live(start_gateway: GatewayFactory) -> GatewaySimulator:
    """The rich capture, numbers moving on a frozen clock, the live stream off."""
    return await start_gateway(
        RICH_CAPTURE, clock=Clock(start=START), moving=True, live_stream=False
    )


def client_of(make_client: ClientFactory, gateway: GatewaySimulator, **kwargs: object) -> IQGateway:
    """A client on the simulator's clock."""
    return make_client(gateway, clock=gateway.clock.now, **kwargs)


def fresh(data: GatewayData) -> bool:
    """The poll has live data to show, and it is of the simulator's moment."""
    live = data.get(LIVEDATA)
    return live is not None and live.last_update is not None and LIVEDATA not in data.stale


def posts(gateway: GatewaySimulator) -> int:
    """How often the stream was switched."""
    return gateway.stats.requests[STREAM]


# --------------------------------------------------------------------------- when to switch


async def test_stream_is_switched_on_only_where_live_data_is_wanted(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Nothing here reads live data unless the caller shows it: no switch, stale data.

    (The storage controller gives the charge and the storage CT the power.) Once the caller
    wants it, the stream is switched on before live data is read, and the data is fresh.
    """
    client = client_of(make_client, live)
    data = await client.poll()
    assert posts(live) == 0
    assert not site_values.reads_live_data(data)
    assert data.get(LIVEDATA) is None
    assert LIVEDATA in data.stale  # what it has is the capture's, from 2024
    assert data.latest(LIVEDATA) is data.stale[LIVEDATA]
    assert site_values.has_batteries(data)  # stale or not, it says what there is

    data = await client.poll(live_stream=True)
    assert posts(live) == 1
    assert fresh(data)
    live_data = data.get(LIVEDATA)
    assert live_data is not None
    assert live_data.streaming
    assert live_data.last_update is not None
    assert live_data.last_update.timestamp() == START


async def test_battery_values_from_live_data_keep_it_live(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Without the storage controller, the charge comes from live data: kept live unasked."""
    live.capture.remove(BATTERY_CONTROL.path)
    client = client_of(make_client, live)
    data = await client.poll()
    assert site_values.reads_live_data(data)
    assert posts(live) == 1
    assert fresh(data)
    assert site_values.battery_soc(data) is not None


async def test_stale_battery_values_are_unknown(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A stream that cannot be switched on: the charge from live data is unknown, not old."""
    live.capture.remove(BATTERY_CONTROL.path)
    live.stream_owner_refusal = 403
    client = client_of(make_client, live)
    data = await client.poll()
    assert posts(live) == 2  # refused, then refused again after reopening the session
    assert LIVEDATA in data.stale
    assert site_values.battery_soc(data) is None
    assert site_values.battery_power(data) is not None  # the storage CT's, not live data's
    assert site_values.has_batteries(data)


def without_storage_ct(gateway: GatewaySimulator) -> None:
    """The storage CT disabled: battery power comes from live data, or the batteries."""
    captured = gateway.capture.get(METERS.path)
    assert captured is not None
    meters = json.loads(captured.body)
    for meter in meters:
        if meter["measurementType"] == "storage":
            meter["state"] = "disabled"
    gateway.capture.set(METERS.path, json.dumps(meters))


async def test_battery_power_comes_from_the_batteries_while_live_data_is_stale(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """No storage CT and a refused stream: the batteries' own power, not an unknown.

    Where the stream works, live data is the source and the batteries are not asked.
    """
    without_storage_ct(live)
    working = client_of(make_client, live)
    await working.poll(live_stream=True)
    live.clock.advance(POLL)
    live.stats.reset()
    data = await working.poll(live_stream=True)
    assert fresh(data)
    assert BATTERY_POWER not in data.polled
    assert live.stats.requests[BATTERY_POWER.path] == 0
    assert site_values.battery_power(data) == data.get(LIVEDATA).flows["storage"].power

    live.stream_owner_refusal = 403
    live.clock.advance(2 * STREAM_LIFETIME)  # the stream switched on above has lapsed
    refused = client_of(make_client, live)
    data = await refused.poll()
    live.clock.advance(POLL)
    live.stats.reset()
    data = await refused.poll()
    assert LIVEDATA in data.stale
    assert BATTERY_POWER in data.polled
    assert live.stats.requests[BATTERY_POWER.path] == 1
    power = data.get(BATTERY_POWER)
    assert power is not None
    assert site_values.battery_power(data) == power.total


async def test_a_power_tick_reads_the_batteries_once_live_data_goes_stale(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Live data that goes out of date between two polls: the tick has the battery power."""
    without_storage_ct(live)
    live.stream_timeout = STREAM_LIFETIME
    client = client_of(make_client, live, live_interval=10)  # a lane ticking every 10 s
    await client.poll(live_stream=True)
    live.clock.advance(10)
    data = await client.poll(live_stream=True)
    assert fresh(data)
    assert BATTERY_POWER not in data.polled
    live.stream_owner_refusal = 403
    live.switch_live_stream(False)  # it lapsed early, and may not be switched on again
    live.clock.advance(90)  # older than a minute: out of date
    data = await client.poll_power(data, live_stream=True)
    assert LIVEDATA in data.stale
    assert BATTERY_POWER in data.read
    power = data.get(BATTERY_POWER)
    assert power is not None
    assert site_values.battery_power(data) == power.total


@pytest.mark.parametrize(
    ("interval", "reads", "switches"),
    [
        # Every poll reads; the stream lasts three polls; switched on every other poll.
        (POLL, 24, 12),
        # The power lane reads every 10 s: switched on once each 885 s or so.
        (10.0, 180, 3),
    ],
)
async def test_stream_is_renewed_before_it_lapses_never_at_every_read(
    live: GatewaySimulator,
    make_client: ClientFactory,
    interval: float,
    reads: int,
    switches: int,
) -> None:
    """Every read finds the stream on and the data fresh, with few switches."""
    live.stream_timeout = STREAM_LIFETIME
    client = client_of(make_client, live, live_interval=interval)
    data = await client.poll(live_stream=True)
    for read in range(1, reads):
        live.clock.advance(interval)
        if read % int(POLL // interval) == 0:
            data = await client.poll(live_stream=True)
        else:
            data = await client.poll_power(data, live_stream=True)
        assert live.live_stream_on, read
        assert fresh(data), read
    assert posts(live) == switches


async def test_a_stream_that_lapses_early_is_switched_on_again(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A gateway whose stream lapses sooner than expected: switched on when it says off."""
    live.stream_timeout = 100
    client = client_of(make_client, live)
    data = await client.poll(live_stream=True)
    assert posts(live) == 1
    for expected in (1, 2, 2, 3, 3):  # read off (still fresh enough), then switched on again
        live.clock.advance(POLL)
        data = await client.poll(live_stream=True)
        assert posts(live) == expected
        assert fresh(data)  # at most 200 s old: two poll intervals are 600


# --------------------------------------------------------------------------- stale data


async def test_a_refused_stream_is_logged_once_and_asked_again_hours_later(
    live: GatewaySimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Owner tokens refused (some firmware): stale data, one warning, no retry per poll."""
    live.stream_owner_refusal = 401
    client = client_of(make_client, live)
    for _ in range(4):
        data = await client.poll(live_stream=True)
        assert data.get(LIVEDATA) is None
        assert LIVEDATA in data.stale
        live.clock.advance(POLL)
    refusals = [r for r in caplog.records if "refused to switch its live stream" in r.message]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.WARNING
    assert "installer" in refusals[0].message
    assert not [r for r in caplog.records if "s old" in r.message]  # the reason was given
    assert posts(live) == 2  # one refusal, once more after reopening the session
    assert live.stats.jwt_validations[CHECK_JWT.path] == 2  # the first session and that one

    live.clock.advance(STREAM_RETRY.total_seconds())
    await client.poll(live_stream=True)
    assert posts(live) == 4  # asked again, refused again: not logged again
    assert len([r for r in caplog.records if "refused to switch" in r.message]) == 1

    # An installer token may switch it: with one, the stream is on at the next poll.
    client.set_token(live.issue_token("installer"))
    data = await client.poll(live_stream=True)
    assert posts(live) == 5
    assert fresh(data)
    assert [r for r in caplog.records if "switched its live stream on" in r.message]


async def test_a_refused_token_is_not_mistaken_for_a_refused_stream(
    live: GatewaySimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused at the switch, and the token refused too: the token's error, at once."""
    client = client_of(make_client, live)
    data = await client.poll()
    live.add_fault("unauthorized", path=STREAM, count=None)
    live.add_fault("unauthorized", path=CHECK_JWT.path, count=None)
    live.stats.reset()
    await raises(IQGatewayAuthenticationError, client.poll_power(data, live_stream=True))
    assert live.stats.requests[LIVEDATA.path] == 0  # raised at the switch
    assert not [r for r in caplog.records if "live stream" in r.message]


async def test_live_data_the_gateway_stops_refreshing_is_stale(
    live: GatewaySimulator,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway that takes the switch but refreshes nothing: stale, logged once; and back.

    It is not asked to switch at every read either (at most once a minute).
    """
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(LiveStream, "switch", lambda self, enable, now: None)
    client = client_of(make_client, live, live_interval=10)
    data = await client.poll(live_stream=True)
    for _ in range(30):  # five minutes of the power lane
        live.clock.advance(10)
        data = await client.poll_power(data, live_stream=True)
        assert data.get(LIVEDATA) is None
        assert LIVEDATA in data.stale
    assert posts(live) == 1 + int(300 // STREAM_MIN_GAP)
    old = [r for r in caplog.records if "s old" in r.message]
    assert len(old) == 1
    assert "unavailable" in old[0].message

    monkeypatch.undo()
    live.clock.advance(STREAM_MIN_GAP)
    data = await client.poll_power(data, live_stream=True)
    assert fresh(data)
    assert len([r for r in caplog.records if "fresh again" in r.message]) == 1
    data = await client.poll_power(data, live_stream=True)
    assert len([r for r in caplog.records if "fresh again" in r.message]) == 1


# --------------------------------------------------------------------------- the power poll


async def test_power_poll_reads_only_what_power_values_come_from(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """CT readings (and live data where wanted), laid over the last poll; one at a time."""
    client = client_of(make_client, live)
    before = await client.poll()
    live.stats.reset()
    live.clock.advance(10)

    data = await client.poll_power(before)
    assert dict(live.stats.requests) == {METER_READINGS.path: 1}
    assert data.read == frozenset({METER_READINGS})
    assert data.polled == before.polled
    for endpoint in POLLED:
        if endpoint not in (METER_READINGS, LIVEDATA):
            assert data.get(endpoint) is before.get(endpoint), endpoint
    assert data.get(METER_READINGS) != before.get(METER_READINGS)  # the numbers moved
    assert site_values.net_consumption_power(data) != site_values.net_consumption_power(before)

    live.stats.reset()
    data = await client.poll_power(data, live_stream=True)
    assert dict(live.stats.requests) == {METER_READINGS.path: 1, STREAM: 1, LIVEDATA.path: 1}
    assert fresh(data)
    assert live.stats.max_in_flight == 1


async def test_power_poll_before_the_first_poll_reads_nothing(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A client that knows nothing yet: the data handed in comes back, nothing is asked."""
    data = await client_of(make_client, live).poll()
    live.stats.reset()
    assert await client_of(make_client, live).poll_power(data, live_stream=True) is data
    assert sum(live.stats.requests.values()) == 0


async def test_power_poll_shows_what_fails_as_missing(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A reading that fails is unavailable, not the last one again; asked again later."""
    client = client_of(make_client, live)
    before = await client.poll()
    assert before.get(METER_READINGS) is not None
    live.add_fault("server_error", path=METER_READINGS.path)
    after = await client.poll_power(before)
    assert after.get(METER_READINGS) is None
    assert METER_READINGS in after.failing
    assert live.stats.requests[METER_READINGS.path] == 3  # probe, poll, this failed one
    await client.poll_power(after)
    assert live.stats.requests[METER_READINGS.path] == 3  # waits for the schedule


async def test_stream_switch_is_one_request_like_the_others(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The switch goes through the one transport path: the session cookie, no new check."""
    client = client_of(make_client, live)
    await client.poll()
    checks = live.stats.jwt_validations[CHECK_JWT.path]
    await client.poll(live_stream=True)
    assert posts(live) == 1
    assert live.stats.jwt_validations[CHECK_JWT.path] == checks
    assert sum(live.stats.jwt_validations.values()) == checks
    assert live.stats.max_in_flight == 1


@pytest.mark.parametrize("requests_before_the_tick", range(6))
async def test_a_power_tick_beside_a_poll_switches_the_stream_once(
    live: GatewaySimulator, make_client: ClientFactory, requests_before_the_tick: int
) -> None:
    """A tick and a poll that both find the stream off: one switch, both read fresh data.

    Whichever request the poll is at when the tick starts, the tick's requests take turns
    with the poll's, and one of them switches the stream on.
    """
    client = client_of(make_client, live)
    before = await client.poll()
    live.latency = 0.04
    poll = asyncio.create_task(client.poll(live_stream=True))
    await asyncio.sleep(0.04 * requests_before_the_tick + 0.01)
    ticked = await client.poll_power(before, live_stream=True)
    data = await poll
    assert posts(live) == 1
    assert fresh(data)
    assert fresh(ticked)
    assert live.stats.max_in_flight == 1


async def test_a_switch_cut_off_is_sent_once_more(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The switch is a POST, which aiohttp never resends by itself: the client does, once."""
    client = client_of(make_client, live)
    await client.poll()
    live.add_fault("reset", path=STREAM)
    data = await client.poll(live_stream=True)
    assert posts(live) == 2
    assert fresh(data)


async def test_a_switch_that_fails_is_not_asked_again_at_every_poll(
    live: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A server error at the switch counts as a refusal: asked again STREAM_RETRY later."""
    client = client_of(make_client, live)
    live.add_fault("server_error", path=STREAM, count=None)
    for _ in range(3):
        data = await client.poll(live_stream=True)
        live.clock.advance(POLL)
    assert posts(live) == 1
    assert LIVEDATA in data.stale


async def test_live_data_without_a_time_is_not_called_stale(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """A body that says nothing of its age is shown: nothing says it is old."""
    gateway = await start_gateway(RICH_CAPTURE)
    body = json.loads(CAPTURED)
    del body["meters"]["last_update"]
    gateway.capture.set(LIVEDATA.path, json.dumps(body))
    data = await make_client(gateway).poll()
    assert LIVEDATA not in data.stale
    live = data.get(LIVEDATA)
    assert live is not None
    assert live.last_update is None
