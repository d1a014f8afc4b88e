"""What the client polls, and when: the probe's choices, slow cadences, /info re-reads.

The client owns what it learns about its gateway; these tests drive it only through
``setup()``, ``poll()`` and a clock they move by hand.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
import json

import aiohttp
import pytest

from custom_components.enphase_iq_gateway.iqgateway import (
    IQGateway,
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayResponseError,
    IQGatewayWrongGatewayError,
    client as client_module,
)
from custom_components.enphase_iq_gateway.iqgateway.client import INFO_REFRESH, RETRY_PROBE_FIRST
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_POWER,
    CHECK_JWT,
    DEVICE_DATA,
    DRY_CONTACT_SETTINGS,
    DRY_CONTACTS,
    ENSEMBLE_INVENTORY,
    ENSEMBLE_STATUS,
    GENERATOR_CONFIG,
    INFO,
    INVERTERS,
    LIVEDATA,
    METER_READINGS,
    METERS,
    POLLED,
    PRODUCTION,
    PRODUCTION_JSON,
    SETTINGS_REFRESH,
    STORAGE_SETTINGS,
)
from simulator import GatewaySimulator
from tests.conftest import RICH_CAPTURE, GatewayFactory

from .common import Clock, raises
from .conftest import ClientFactory

SECOND = timedelta(seconds=1)
OTHER_SERIAL = "999999999999"


@pytest.fixture
def clock() -> Clock:
    """The clock the client times its slow cadences with."""
    return Clock()


def disable_meter(simulator: GatewaySimulator, measurement_type: str) -> None:
    """Have ``/ivp/meters`` report the CT of this type disabled."""
    captured = simulator.capture.get(METERS.path)
    assert captured is not None
    meters = json.loads(captured.body)
    for meter in meters:
        if meter["measurementType"] == measurement_type:
            meter["state"] = "disabled"
    simulator.capture.set(METERS.path, json.dumps(meters))


# --------------------------------------------------------------------------- what is polled


async def test_first_poll_identifies_and_probes(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Nothing is polled before the probe; the first poll runs the setup itself."""
    client = make_client(gateway)
    assert client.polled() == ()
    assert client.info is None
    assert client.probe_result is None

    data = await client.poll()

    assert client.info is not None
    assert client.info.serial == gateway.serial
    assert client.probe_result is not None
    assert data.polled == frozenset(client.polled())
    assert gateway.stats.requests[INFO.path] == 1
    assert gateway.stats.requests[PRODUCTION.path] == 2  # the probe's and the poll's


async def test_probe_and_poll_ask_in_the_table_order(
    gateway: GatewaySimulator, make_client: ClientFactory, loopback: None
) -> None:
    """Both ask in ``POLLED`` order (a rule may depend on an earlier answer).

    The probe asks every endpoint once, but a last resort only where it is wanted (here
    ``/api/v1/production`` answers, so the HTML page is not asked); the poll asks what
    the probe kept, but for what it reads on a slow cadence.
    """
    asked: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        asked.append(params.url.path)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), trace_configs=[trace]
    ) as session:
        client = make_client(gateway, session=session)
        await client.setup()
        probed = list(asked)
        asked.clear()
        data = await client.poll()

    assert probed == [
        INFO.path,
        CHECK_JWT.path,
        *(endpoint.path for endpoint in POLLED if not endpoint.last_resort),
    ]
    # (What changes rarely is not asked again so soon: the probe's answer stands.)
    assert asked == [
        endpoint.path for endpoint in POLLED if endpoint in data.polled and not endpoint.refresh
    ]
    assert asked.index(METERS.path) < asked.index(METER_READINGS.path)
    assert client.polled() == tuple(endpoint for endpoint in POLLED if endpoint in data.polled)


@pytest.mark.parametrize(
    ("capture", "absent", "polled"),
    [
        ("7.6.175", (), False),  # production and inverters tell everything it has
        ("7.6.175", (PRODUCTION.path,), True),  # the only production source
        ("4.10.35", (), False),  # its CTs are read from the meter readings
        ("7.3.130", (), True),  # active CTs that no readings endpoint covers
        ("8.2.4382_ACB", (), True),  # AC Batteries: their power is only there
        ("8.2.4382_ACB", (PRODUCTION_JSON.path,), False),  # not there at all
    ],
)
async def test_production_json_is_polled_only_where_it_is_needed(
    start_gateway: GatewayFactory,
    make_client: ClientFactory,
    capture: str,
    absent: tuple[str, ...],
    polled: bool,
) -> None:
    """/production.json is slow: polled where it has something of its own, else not."""
    simulator = await start_gateway(capture)
    for path in absent:
        simulator.capture.remove(path)
    client = make_client(simulator)
    await client.setup()
    assert client.probe_result is not None
    assert (PRODUCTION_JSON in client.probe_result.supported) is (
        PRODUCTION_JSON.path not in absent
    )
    assert (PRODUCTION_JSON in client.polled()) is polled
    simulator.stats.reset()
    data = await client.poll()
    assert simulator.stats.requests[PRODUCTION_JSON.path] == (1 if polled else 0)
    assert (data.get(PRODUCTION_JSON) is not None) is polled


@pytest.mark.parametrize(
    ("livedata", "storage_ct", "polled"),
    [
        ("fresh", True, False),  # both measure the site's battery power
        (None, True, False),  # the storage CT does
        ("stale", True, False),  # the storage CT does
        ("fresh", False, False),  # live data does
        ("stale", False, True),  # out of date (a refused stream): the batteries' own stands in
        (None, False, True),  # only the battery list has it
    ],
)
async def test_battery_power_is_polled_only_where_nothing_else_measures_it(
    start_gateway: GatewayFactory,
    make_client: ClientFactory,
    livedata: str | None,
    storage_ct: bool,
    polled: bool,
) -> None:
    """A storage CT or up-to-date live data gives the battery power: the list is not asked."""
    gateway = await start_gateway(RICH_CAPTURE, live_stream=livedata == "fresh")
    if livedata == "stale":
        gateway.stream_owner_refusal = 403  # the captured body stays as it is
    if livedata is None:
        gateway.capture.remove(LIVEDATA.path)
    if not storage_ct:
        disable_meter(gateway, "storage")
    client = make_client(gateway)
    await client.setup()
    assert client.probe_result is not None
    assert BATTERY_POWER in client.probe_result.supported
    assert (BATTERY_POWER in client.polled()) is polled
    gateway.stats.reset()
    data = await client.poll()
    assert gateway.stats.requests[BATTERY_POWER.path] == (1 if polled else 0)
    assert (data.get(BATTERY_POWER) is not None) is polled


# --------------------------------------------------------------------------- /info


async def test_info_is_read_again_every_few_hours(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """/info is re-read once ``INFO_REFRESH`` has passed; a settled probe is not redone."""
    client = make_client(gateway, clock=clock)
    await client.poll()
    assert gateway.stats.requests[INFO.path] == 1

    clock.advance(INFO_REFRESH - SECOND)
    await client.poll()
    assert gateway.stats.requests[INFO.path] == 1

    clock.advance(SECOND)
    gateway.stats.reset()
    data = await client.poll()
    assert gateway.stats.requests[INFO.path] == 1
    assert data.info == client.info
    # The probe stands: /production.json, supported but not polled here, is not asked.
    assert client.probe_result is not None
    assert client.probe_result.settled
    assert PRODUCTION_JSON not in client.polled()
    assert gateway.stats.requests[PRODUCTION_JSON.path] == 0

    clock.advance(INFO_REFRESH - SECOND)
    await client.poll()
    assert gateway.stats.requests[INFO.path] == 1  # counted from the last re-read


async def test_firmware_update_probes_again(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """A new firmware may answer other endpoints: they are polled without a restart."""
    livedata = gateway.capture.get(LIVEDATA.path)
    assert livedata is not None
    gateway.capture.remove(LIVEDATA.path)
    client = make_client(gateway, clock=clock)
    first = await client.poll()
    assert LIVEDATA not in first.polled
    probe = client.probe_result

    gateway.capture.set_firmware("D8.3.9999")
    gateway.capture.set(LIVEDATA.path, livedata.body)
    clock.advance(INFO_REFRESH)
    gateway.stats.reset()
    data = await client.poll()

    assert data.info.firmware == "D8.3.9999"
    assert client.info == data.info
    assert client.probe_result is not probe
    assert gateway.stats.requests[PRODUCTION_JSON.path] == 1  # the new probe asked it
    assert LIVEDATA in data.polled
    assert data.get(LIVEDATA) is not None


async def test_failed_probe_is_asked_again_within_minutes(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """An endpoint that failed during the probe is asked again within minutes.

    After 5 minutes, then 10, 20, ... while it keeps failing; polled once it answers.
    """
    gateway.add_fault("server_error", path=LIVEDATA.path, count=2)
    client = make_client(gateway, clock=clock)
    first = await client.poll()
    assert client.probe_result is not None
    assert client.probe_result.retry == {LIVEDATA}
    assert first.get(LIVEDATA) is None

    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST - 1))
    assert (await client.poll()).get(LIVEDATA) is None  # not asked yet
    assert gateway.stats.requests[LIVEDATA.path] == 1

    clock.advance(SECOND)
    assert (await client.poll()).get(LIVEDATA) is None  # asked, failed again
    assert gateway.stats.requests[LIVEDATA.path] == 2
    assert client.probe_result.retry == {LIVEDATA}

    clock.advance(timedelta(seconds=2 * RETRY_PROBE_FIRST - 1))
    await client.poll()
    assert gateway.stats.requests[LIVEDATA.path] == 2  # the wait has doubled

    clock.advance(SECOND)
    data = await client.poll()
    assert client.probe_result.settled
    assert client.probe_result.retry == frozenset()
    assert LIVEDATA in data.polled
    assert data.get(LIVEDATA) is not None
    assert gateway.stats.requests[LIVEDATA.path] == 3  # the probe's, then two polls'


async def test_an_endpoint_that_always_times_out_holds_no_other_back(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """A slow endpoint that never answers in time: the others are found and polled.

    It alone is asked again, later and later; what answers is polled meanwhile.
    """
    gateway.add_fault("timeout", count=None, path=PRODUCTION_JSON.path)
    client = make_client(gateway, clock=clock, slow_request_timeout=0.1)
    data = await client.poll()
    assert client.probe_result is not None
    assert client.probe_result.retry == {PRODUCTION_JSON}
    assert {ENSEMBLE_INVENTORY, STORAGE_SETTINGS, METER_READINGS} <= data.polled
    assert gateway.stats.requests[PRODUCTION_JSON.path] == 1  # not retried at the probe

    for wait in (1, 2, 4):
        clock.advance(timedelta(seconds=wait * RETRY_PROBE_FIRST))
        gateway.stats.reset()
        data = await client.poll()
        assert gateway.stats.requests[PRODUCTION_JSON.path] == 1, wait  # asked again
        assert client.probe_result.retry == {PRODUCTION_JSON}
        assert ENSEMBLE_INVENTORY in data.polled


async def test_a_probe_again_takes_away_nothing_it_could_not_ask(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """After a firmware update the probe meets a timeout: what was polled stays polled.

    It is asked again within minutes, and dropped only if it then says it is not there.
    """
    client = make_client(gateway, clock=clock, request_timeout=0.1)
    first = await client.poll()
    assert METERS in first.polled
    gateway.capture.set_firmware("D8.3.9999")
    clock.advance(INFO_REFRESH)
    gateway.add_fault("timeout", path=METERS.path)  # the probe's request
    data = await client.poll()
    assert data.info.firmware == "D8.3.9999"
    assert client.probe_result is not None
    assert first.polled <= client.probe_result.supported
    assert METERS not in client.probe_result.retry
    assert METER_READINGS in data.polled
    assert data.get(METER_READINGS) is not None

    gateway.capture.remove(METERS.path)  # the new firmware has no such endpoint after all
    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST))
    gateway.stats.reset()
    data = await client.poll()
    assert gateway.stats.requests[METERS.path] == 1  # asked again: 404
    assert METERS not in client.probe_result.supported
    assert METERS not in data.polled


async def test_a_server_error_at_a_probe_again_is_not_kept(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """A 5xx at a probe again: still polled, failing, and asked again with the backoff."""
    client = make_client(gateway, clock=clock)
    await client.poll()
    gateway.capture.set_firmware("D8.3.9999")
    clock.advance(INFO_REFRESH)
    gateway.add_fault("server_error", path=METERS.path)
    gateway.add_fault("server_error", path=INVERTERS.path)
    data = await client.poll()
    assert client.probe_result is not None
    assert {METERS, INVERTERS} <= client.schedule.failing
    assert INVERTERS in data.polled
    assert data.get(INVERTERS) is None  # not shown on its old body
    assert INVERTERS in data.failing
    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST))
    data = await client.poll()
    assert {METERS, INVERTERS} <= data.polled
    assert data.get(INVERTERS) is not None
    assert client.schedule.failing == frozenset()


async def test_what_timed_out_is_asked_last(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """Two endpoints that never answer in time hold back none of those left unasked.

    Each failing endpoint's own wait doubles; the others are polled meanwhile.
    """
    for endpoint in (INVERTERS, METERS):  # the second and third a probe asks
        gateway.add_fault("timeout", count=None, path=endpoint.path)
    client = make_client(gateway, clock=clock, request_timeout=0.1)
    await client.setup()
    first = client.probe_result
    assert first is not None
    assert {INVERTERS, METERS, METER_READINGS, ENSEMBLE_INVENTORY} <= first.retry  # unasked

    data = await client.poll()  # what the probe left unasked is asked at once
    result = client.probe_result
    assert result.retry == {INVERTERS, METERS}
    assert {METER_READINGS, ENSEMBLE_INVENTORY} <= data.polled
    assert data.get(METER_READINGS) is not None

    gateway.stats.reset()
    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST))
    await client.poll()
    assert gateway.stats.requests[INVERTERS.path] == 1  # its wait is over: asked, not retried
    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST))
    await client.poll()
    assert gateway.stats.requests[INVERTERS.path] == 1  # its wait has doubled
    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST))
    await client.poll()
    assert gateway.stats.requests[INVERTERS.path] == 2


async def test_an_endpoint_that_always_drops_its_connection_fails_no_poll(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """Asked again and again, it is left out each time; the polls go on without it."""
    gateway.add_fault("reset", count=None, path=INVERTERS.path)
    client = make_client(gateway, clock=clock)
    data = await client.poll()
    assert INVERTERS not in data.polled
    for wait in (1, 2, 4):
        clock.advance(timedelta(seconds=wait * RETRY_PROBE_FIRST))
        gateway.stats.reset()
        data = await client.poll()
        assert gateway.stats.requests[INVERTERS.path] == 2, wait  # asked again, with its retry
        assert METER_READINGS in data.read


async def test_a_gateway_answering_nothing_at_the_probe_is_not_set_up(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Overloaded at setup (a 503 everywhere): an error to try again, not an empty gateway."""
    client = make_client(gateway)
    await client.detect()
    gateway.add_fault("server_error", count=None)
    await raises(IQGatewayResponseError, client.probe())
    assert client.probe_result is None
    gateway.faults.clear()
    assert (await client.probe()).supported


async def test_empty_endpoint_is_asked_again_at_the_next_info_read(
    start_gateway: GatewayFactory, make_client: ClientFactory, clock: Clock
) -> None:
    """Counters of zeros today (a CT enabled later): polled once they measure something."""
    simulator = await start_gateway("7.3.466_metered_disabled_cts")
    client = make_client(simulator, clock=clock)
    await client.poll()
    assert client.probe_result is not None
    assert PRODUCTION in client.probe_result.empty
    assert not client.probe_result.settled

    production = {
        "wattHoursToday": 10,
        "wattHoursSevenDays": 20,
        "wattHoursLifetime": 30,
        "wattsNow": 5,
    }
    simulator.capture.set(PRODUCTION.path, json.dumps(production))
    clock.advance(INFO_REFRESH)
    data = await client.poll()
    assert PRODUCTION in client.probe_result.supported
    assert PRODUCTION not in client.probe_result.empty
    assert PRODUCTION in data.polled
    counters = data.get(PRODUCTION)
    assert counters is not None
    assert counters.wh_lifetime == 30.0


async def test_refresh_follows_a_gateway_that_moved_to_https(
    start_gateway: GatewayFactory, make_client: ClientFactory, clock: Clock
) -> None:
    """After a firmware update to 7+, plain HTTP stops answering: HTTPS is found again."""
    legacy = await start_gateway("4.10.35")
    client = make_client(legacy, clock=clock)
    await client.poll()
    assert client.scheme == "http"
    port = legacy.port
    await legacy.stop()
    updated = await start_gateway(RICH_CAPTURE, port=port)
    client.set_token(updated.issue_token())  # as the token manager does for firmware 7+
    clock.advance(INFO_REFRESH)

    data = await client.poll()

    assert client.scheme == "https"
    assert data.info.firmware == updated.capture.firmware
    assert data.get(PRODUCTION) is not None  # probed again and polled over HTTPS


async def test_refresh_switches_to_https_when_info_asks_for_tokens(
    start_gateway: GatewayFactory, make_client: ClientFactory, clock: Clock
) -> None:
    """An /info read over HTTP that says tokens are now required moves the client to HTTPS.

    Without a token, that poll asks for one (an authentication error) rather than finding
    every endpoint refused.
    """
    legacy = await start_gateway("4.10.35")
    client = make_client(legacy, clock=clock)
    await client.poll()
    assert client.scheme == "http"
    port = legacy.port
    await legacy.stop()
    await start_gateway(RICH_CAPTURE, tls=False, port=port)  # /info still over HTTP
    clock.advance(INFO_REFRESH)
    await raises(IQGatewayAuthenticationError, client.poll())
    assert client.info is not None
    assert client.info.tokens_required
    assert client.scheme == "https"


async def test_refresh_on_https_does_not_look_elsewhere(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """A gateway on HTTPS that stops answering is down: no second scheme is tried."""
    client = make_client(gateway, clock=clock)
    await client.poll()
    await gateway.stop()
    clock.advance(INFO_REFRESH)
    await raises(IQGatewayConnectionError, client.poll())
    assert client.scheme == "https"


# --------------------------------------------------------------------------- wrong gateway


@pytest.mark.parametrize("scheme", [None, "https"])
async def test_another_gateway_at_the_address(
    gateway: GatewaySimulator, make_client: ClientFactory, scheme: str | None
) -> None:
    """A client for one serial refuses the gateway another serial answers from."""
    client = make_client(gateway, serial=OTHER_SERIAL, scheme=scheme)
    error = await raises(IQGatewayWrongGatewayError, client.detect())
    assert error.expected == OTHER_SERIAL
    assert error.found == gateway.serial
    assert gateway.serial in str(error)
    assert client.info is None
    await raises(IQGatewayWrongGatewayError, client.poll())
    assert client.probe_result is None  # nothing probed on another gateway
    assert gateway.stats.requests[PRODUCTION.path] == 0


async def test_gateway_replaced_between_polls(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """Another gateway at the address when /info is re-read: an error, info unchanged."""
    serial = gateway.serial
    client = make_client(gateway, serial=serial, clock=clock)
    await client.poll()
    info = client.info
    captured = gateway.capture.get(INFO.path)
    assert captured is not None
    gateway.capture.set(INFO.path, captured.body.decode().replace(serial, OTHER_SERIAL))
    clock.advance(INFO_REFRESH)
    error = await raises(IQGatewayWrongGatewayError, client.poll())
    assert error.found == OTHER_SERIAL
    assert client.info is info


# --------------------------------------------------------------------------- slow cadences


async def test_endpoint_with_a_refresh_is_read_only_when_due(
    gateway: GatewaySimulator,
    make_client: ClientFactory,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An endpoint with ``refresh`` reuses its last answer until that answer is so old.

    No endpoint of today's table has a refresh: the test gives one to the inverters.
    """
    every = timedelta(minutes=30)
    inverters = dataclasses.replace(INVERTERS, refresh=every)
    monkeypatch.setattr(
        client_module, "POLLED", tuple(inverters if ep is INVERTERS else ep for ep in POLLED)
    )
    client = make_client(gateway, clock=clock)
    await client.setup()
    assert inverters in client.polled()
    body = gateway.capture.get(INVERTERS.path)
    assert body is not None
    listed = json.loads(body.body)

    first = await client.poll()
    assert gateway.stats.requests[INVERTERS.path] == 1  # the probe's answer is reused
    assert first.get(inverters) is not None

    listed[0]["lastReportWatts"] = 12345
    gateway.capture.set(INVERTERS.path, json.dumps(listed))
    clock.advance(every - SECOND)
    assert (await client.poll()).get(inverters) == first.get(inverters)
    assert gateway.stats.requests[INVERTERS.path] == 1

    clock.advance(SECOND)
    gateway.add_fault("server_error", path=INVERTERS.path)
    # Due, asked, failed: the last answer stands (it changes rarely), and is due still,
    # once the failing endpoint's wait is over.
    assert (await client.poll()).get(inverters) == first.get(inverters)
    assert gateway.stats.requests[INVERTERS.path] == 2

    assert (await client.poll()).get(inverters) == first.get(inverters)
    assert gateway.stats.requests[INVERTERS.path] == 2
    clock.advance(timedelta(seconds=RETRY_PROBE_FIRST))
    fresh = (await client.poll()).get(inverters)  # still due: asked again
    assert gateway.stats.requests[INVERTERS.path] == 3
    assert fresh is not None
    assert fresh[listed[0]["serialNumber"]].last_report_watts == 12345

    assert (await client.poll()).get(inverters) == fresh
    assert gateway.stats.requests[INVERTERS.path] == 3


async def test_without_clock_the_cadences_use_monotonic_time(
    gateway: GatewaySimulator, http_session: aiohttp.ClientSession
) -> None:
    """The default clock: two polls in a row do not re-read /info."""
    client = IQGateway(gateway.address, http_session, token=gateway.issue_token(), retry_delay=0)
    await client.poll()
    await client.poll()
    assert gateway.stats.requests[INFO.path] == 1


# --------------------------------------------------------------------------- regressions


async def test_a_wrong_gateway_stays_refused(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    clock = Clock()
    serial = gateway.serial
    client = make_client(gateway, serial=serial, clock=clock)
    await client.poll()
    captured = gateway.capture.get(INFO.path)
    assert captured is not None
    gateway.capture.set(INFO.path, captured.body.decode().replace(serial, "999999999999"))
    clock.advance(INFO_REFRESH)
    await raises(IQGatewayWrongGatewayError, client.poll())
    gateway.stats.reset()
    await raises(IQGatewayWrongGatewayError, client.poll())  # not the other gateway's data
    assert gateway.stats.requests[PRODUCTION.path] == 0


async def test_http_gateway_down_at_the_info_read_recovers(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    clock = Clock()
    legacy = await start_gateway("4.10.35")
    client = make_client(legacy, clock=clock)
    await client.poll()
    port = legacy.port
    await legacy.stop()
    clock.advance(INFO_REFRESH)
    await raises(IQGatewayConnectionError, client.poll())
    back = await start_gateway("4.10.35", port=port)
    data = await client.poll()  # the gateway is back
    assert data.get(PRODUCTION) is not None
    assert back.stats.requests[PRODUCTION.path] == 1


async def test_failed_probe_after_a_firmware_update_is_repeated(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The probe after a firmware update gets no answer: it runs again at the next poll.

    The poll it came with fails (nothing answered); the previous result stood meanwhile.
    """
    clock = Clock()
    livedata = gateway.capture.get(LIVEDATA.path)
    assert livedata is not None
    gateway.capture.remove(LIVEDATA.path)
    client = make_client(gateway, clock=clock)
    await client.poll()
    gateway.capture.set_firmware("D8.3.9999")
    gateway.capture.set(LIVEDATA.path, livedata.body)
    for endpoint in POLLED:  # every connection is lost once, and once more on its retry
        gateway.add_fault("reset", count=2, path=endpoint.path)
    clock.advance(INFO_REFRESH)
    await raises(IQGatewayConnectionError, client.poll())
    gateway.faults.clear()
    data = await client.poll()  # the probe is due still: it runs again
    assert METER_READINGS in data.polled
    assert LIVEDATA in data.polled  # the new firmware's endpoints are probed after all


async def test_upgrade_to_token_firmware_is_probed_once_a_token_is_set(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    clock = Clock()
    legacy = await start_gateway("4.10.35")
    client = make_client(legacy, clock=clock)
    await client.poll()
    port = legacy.port
    await legacy.stop()
    updated = await start_gateway(RICH_CAPTURE, port=port)
    clock.advance(INFO_REFRESH)
    # No token yet: the poll asks for one instead of finding every endpoint refused.
    await raises(IQGatewayAuthenticationError, client.poll())
    assert client.info is not None
    assert client.info.tokens_required
    client.set_token(updated.issue_token())  # what reauthentication gives
    data = await client.poll()
    assert data.get(PRODUCTION) is not None


# --------------------------------------------------------------------------- the system


async def test_skip_leaves_out_on_demand_endpoints_only(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """The caller skips what it shows nothing of; what site values need is read anyway."""
    simulator = await start_gateway("8.2.4345_with_device_data")
    client = make_client(simulator)
    await client.setup()
    assert DEVICE_DATA in client.polled()
    assert DRY_CONTACTS in client.polled()

    simulator.stats.reset()
    data = await client.poll(skip={DEVICE_DATA, DRY_CONTACTS, PRODUCTION})
    assert simulator.stats.requests[DEVICE_DATA.path] == 0
    assert simulator.stats.requests[DRY_CONTACTS.path] == 0
    assert simulator.stats.requests[PRODUCTION.path] == 1  # not on demand: read all the same
    assert DEVICE_DATA not in data.polled  # skipped is not "failed"
    assert data.get(DEVICE_DATA) is None
    assert data.get(PRODUCTION) is not None

    data = await client.poll()
    assert simulator.stats.requests[DEVICE_DATA.path] == 1
    assert data.get(DEVICE_DATA)


async def test_system_cadences(
    gateway: GatewaySimulator, make_client: ClientFactory, clock: Clock
) -> None:
    """The Ensemble inventory (live state) at every poll; settings every 30 minutes."""
    client = make_client(gateway, clock=clock)
    await client.setup()
    slow = (ENSEMBLE_STATUS, DRY_CONTACT_SETTINGS, GENERATOR_CONFIG, STORAGE_SETTINGS)
    assert all(endpoint in client.polled() for endpoint in (ENSEMBLE_INVENTORY, *slow))
    assert all(endpoint.refresh == SETTINGS_REFRESH for endpoint in slow)
    gateway.stats.reset()
    polls = 12
    for _ in range(polls):  # an hour of five-minute polls
        data = await client.poll()
        assert data.get(ENSEMBLE_INVENTORY) is not None
        assert all(data.get(endpoint) is not None for endpoint in slow)  # reused in between
        clock.advance(timedelta(minutes=5))
    assert gateway.stats.requests[ENSEMBLE_INVENTORY.path] == polls
    for endpoint in slow:
        # The probe's answer serves the first 30 minutes; then one read per 30 minutes.
        assert gateway.stats.requests[endpoint.path] == 1, endpoint
