"""The client's transport against the simulated gateway: sessions, retries, errors.

Every failing call goes through ``raises()``, which also proves that no aiohttp, json or
xml exception escapes a public method.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import time
from typing import NamedTuple

import aiohttp
from aiohttp import web
import pytest
from yarl import URL

from custom_components.enphase_iq_gateway.iqgateway import (
    GatewayData,
    IQGateway,
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
    ProbeResult,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    CHECK_JWT,
    ENSEMBLE_INVENTORY,
    INFO,
    INVERTERS,
    LIVEDATA,
    METER_READINGS,
    METERS,
    PDM_ENERGY,
    POLLED,
    PRODUCTION,
    PRODUCTION_HTML,
    PRODUCTION_JSON,
)
from simulator import GatewaySimulator, TokenAuthority
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .common import opened, raises
from .conftest import Apps, ClientFactory

CHECK = CHECK_JWT.path


async def ready(client: IQGateway) -> ProbeResult:
    """Detect and probe, as a setup does; the probe's result."""
    await client.setup()
    assert client.probe_result is not None
    return client.probe_result


def validations(simulator: GatewaySimulator) -> int:
    """Token validations the gateway has done so far."""
    return sum(simulator.stats.jwt_validations.values())


def requests(simulator: GatewaySimulator) -> int:
    """Requests the gateway has seen so far."""
    return sum(simulator.stats.requests.values())


@pytest.fixture
async def counting_session(
    loopback: None,
) -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    """A session that records every connection attempt (host:port), even refused ones."""
    attempts: list[str] = []

    async def on_connect(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceConnectionCreateStartParams,
    ) -> None:
        attempts.append("connect")

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(on_connect)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), trace_configs=[trace]
    ) as session:
        yield session, attempts


# --------------------------------------------------------------------------- sessions


async def test_one_validation_for_probe_and_polls(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The cookie session carries a probe and several polls: the token is checked once."""
    client = make_client(gateway)
    await ready(client)
    for _ in range(3):
        data = await client.poll()
        assert data.get(PRODUCTION) is not None

    assert gateway.stats.jwt_validations == {CHECK: 1}
    assert requests(gateway) > 3 * len(client.polled())
    assert gateway.stats.requests[CHECK] == 1


async def test_lapsed_session_is_reopened_once(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The gateway forgot the session: one 401, one new session, then the cookie again."""
    client = make_client(gateway)
    await ready(client)
    gateway.expire_sessions()
    gateway.stats.requests.clear()

    first = await client.poll()
    second = await client.poll()

    assert first == second
    assert validations(gateway) == 2  # the probe's session and the reopened one
    assert gateway.stats.jwt_validations == {CHECK: 2}
    assert gateway.stats.requests[PRODUCTION.path] == 3  # refused, retried, next poll
    assert gateway.stats.requests[CHECK] == 1


async def test_idle_session_lapses_and_is_reopened(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """A session unused for longer than the gateway keeps it is reopened on the next call."""
    simulator = await start_gateway(RICH_CAPTURE, session_idle=0.1)
    client = make_client(simulator)
    await client.detect()
    await client.get(PRODUCTION)
    await asyncio.sleep(0.15)
    await client.get(PRODUCTION)
    await client.get(INVERTERS)
    assert simulator.stats.jwt_validations == {CHECK: 2}


async def test_401_storm_does_not_loop(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Refused whatever happens: one retry with a new session, then an error."""
    client = make_client(gateway)
    await ready(client)
    gateway.add_fault("unauthorized", count=None)
    gateway.stats.reset()

    error = await raises(IQGatewayAuthenticationError, client.poll())
    assert error.status == 401
    assert gateway.stats.requests == {PRODUCTION.path: 1, CHECK: 1}

    gateway.stats.reset()
    await raises(IQGatewayAuthenticationError, client.get(INVERTERS))
    assert gateway.stats.requests == {CHECK: 1}  # no session: none to use

    gateway.stats.reset()
    await raises(IQGatewayAuthenticationError, client.probe())  # no "nothing supported"
    await raises(IQGatewayAuthenticationError, client.check_jwt())
    assert gateway.stats.requests == {CHECK: 2}


async def test_refused_once_then_accepted(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A single 401 costs one new session, not an error."""
    client = await opened(make_client(gateway))
    gateway.add_fault("unauthorized", count=1, path=PRODUCTION.path)
    assert (await client.get(PRODUCTION)).wh_lifetime is not None
    assert gateway.stats.jwt_validations == {CHECK: 2}


async def test_forbidden_endpoint(gateway: GatewaySimulator, make_client: ClientFactory) -> None:
    """A 403 the token cannot change is an authentication error with that status."""
    gateway.capture.set(PRODUCTION.path, "{}", status=403)
    client = make_client(gateway)
    await client.detect()
    error = await raises(IQGatewayAuthenticationError, client.get(PRODUCTION))
    assert error.status == 403


async def test_endpoint_for_other_credentials_is_not_supported(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """An endpoint refusing an accepted token (installer-only) is left out of the probe."""
    gateway.capture.set(LIVEDATA.path, "{}", status=401)
    probe = await ready(make_client(gateway))
    assert LIVEDATA not in probe.supported
    assert LIVEDATA not in probe.retry
    assert PRODUCTION in probe.supported


async def test_without_cookies_every_request_carries_the_token(
    gateway: GatewaySimulator, make_client: ClientFactory, loopback: None
) -> None:
    """A cookie jar that refuses IP hosts: no session, the token is checked each time.

    The probe still tells an endpoint for other credentials from a refused token.
    """
    gateway.capture.set(LIVEDATA.path, "{}", status=401)
    async with aiohttp.ClientSession() as strict:  # the default jar drops IP cookies
        client = make_client(gateway, session=strict)
        probe = await ready(client)
        await client.poll()
        assert LIVEDATA not in probe.supported
        assert PRODUCTION in probe.supported
        assert gateway.stats.requests[CHECK] == 1  # tried once, then not again
        assert gateway.stats.requests[LIVEDATA.path] == 2  # refused, retried
        # Every request for a path the gateway has (not /info, not an absent one such as
        # pdm/energy) validated its token.
        assert gateway.capture.get(PDM_ENERGY.path) is None
        for path, count in gateway.stats.requests.items():
            absent = path != CHECK and gateway.capture.get(path) is None
            expected = 0 if path == INFO.path or absent else count
            assert gateway.stats.jwt_validations[path] == expected, path

        # A later probe asks /auth/check_jwt again: the token is proven, not assumed.
        assert await client.probe() == probe
        assert gateway.stats.requests[CHECK] == 2
        client.set_token(gateway.issue_token(lifetime=-1))
        await raises(IQGatewayAuthenticationError, client.probe())


async def test_firmware_without_check_jwt(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Where /auth/check_jwt is absent (404), requests simply carry the token."""
    simulator = await start_gateway("4.10.35", tls=True)  # a token only goes over HTTPS
    client = make_client(simulator, token=simulator.issue_token())
    await ready(client)
    data = await client.poll()
    assert data.get(PRODUCTION) is not None
    assert simulator.stats.requests[CHECK] == 1
    await client.check_jwt()  # asked again, still absent: nothing to open, no error
    assert simulator.stats.requests[CHECK] == 2
    assert simulator.stats.jwt_validations == {}


async def test_set_token_drops_the_session(
    gateway: GatewaySimulator, make_client: ClientFactory, http_session: aiohttp.ClientSession
) -> None:
    """Another token opens a new session on the next request; the same one does not."""
    client = await opened(make_client(gateway))
    cookies = http_session.cookie_jar.filter_cookies(URL(gateway.url))
    assert "sessionId" in cookies

    client.set_token(client.token)
    await client.get(PRODUCTION)
    assert validations(gateway) == 1

    new = gateway.issue_token(role="installer")
    client.set_token(new)
    assert client.token == new
    assert "sessionId" not in http_session.cookie_jar.filter_cookies(URL(gateway.url))
    await client.get(PRODUCTION)
    assert validations(gateway) == 2

    client.set_token(gateway.authority.issue("999999999999"))
    await raises(IQGatewayAuthenticationError, client.get(PRODUCTION))

    client.set_token(None)
    assert client.token is None
    gateway.stats.reset()
    await raises(IQGatewayAuthenticationError, client.get(PRODUCTION))
    assert gateway.stats.requests == {PRODUCTION.path: 1}  # no session to reopen without a token
    assert (await client.get(INFO)).serial == gateway.serial  # /info needs no token


@pytest.mark.parametrize("which", ["other serial", "expired", "other authority", "garbage"])
async def test_token_refused_by_check_jwt(
    gateway: GatewaySimulator, make_client: ClientFactory, which: str
) -> None:
    """A token for another serial, an expired one, a forged one: check_jwt refuses it."""
    token = {
        "other serial": gateway.authority.issue("999999999999"),
        "expired": gateway.issue_token(lifetime=-1),
        "other authority": TokenAuthority().issue(gateway.serial),
        "garbage": "not-a-token",
    }[which]
    client = make_client(gateway, token=token)
    await client.detect()
    error = await raises(IQGatewayAuthenticationError, client.check_jwt())
    assert error.status == 401
    await raises(IQGatewayAuthenticationError, client.probe())


# --------------------------------------------------------------------------- serialization


async def test_requests_are_serialized(
    gateway: GatewaySimulator, make_client: ClientFactory, http_session: aiohttp.ClientSession
) -> None:
    """Concurrent calls reach the gateway one at a time."""
    gateway.latency = 0.05
    # The measure works: three bare concurrent requests are in flight together.
    await asyncio.gather(*(http_session.get(f"{gateway.url}/info", ssl=False) for _ in range(3)))
    assert gateway.stats.max_in_flight >= 2

    client = await opened(make_client(gateway))
    gateway.stats.reset()
    results = await asyncio.gather(
        client.get(PRODUCTION),
        client.get(INVERTERS),
        client.get(METERS),
        client.get(METER_READINGS),
        client.get(LIVEDATA),
        client.get(INFO),
    )
    assert gateway.stats.max_in_flight == 1
    assert requests(gateway) == 6
    gateway.latency = 0
    assert results[0] == await client.get(PRODUCTION)
    assert results[3] == await client.get(METER_READINGS)


# --------------------------------------------------------------------------- retries


class Transient(NamedTuple):
    """A failure worth one retry: the simulator's fault, and the error raised."""

    fault: str
    error: type[IQGatewayConnectionError]


TRANSIENT = pytest.mark.parametrize(
    "transient",
    [
        Transient("reset", IQGatewayConnectionError),
        Transient("timeout", IQGatewayTimeoutError),
    ],
    ids=lambda transient: transient.fault,
)
TIMEOUT = 0.2


@TRANSIENT
async def test_transient_failure_is_retried_once(
    gateway: GatewaySimulator, make_client: ClientFactory, transient: Transient
) -> None:
    """One dropped connection or hanging request: the retry answers."""
    client = await opened(make_client(gateway, request_timeout=TIMEOUT))
    gateway.add_fault(transient.fault, count=1, path=PRODUCTION.path)
    assert (await client.get(PRODUCTION)).wh_lifetime is not None
    assert gateway.stats.requests[PRODUCTION.path] == 2


@TRANSIENT
@pytest.mark.parametrize("count", [2, None])
async def test_transient_failure_is_raised_after_one_retry(
    gateway: GatewaySimulator, make_client: ClientFactory, transient: Transient, count: int | None
) -> None:
    """Failing twice (or for good): that error, after exactly two tries, no third."""
    client = await opened(make_client(gateway, request_timeout=TIMEOUT))
    gateway.add_fault(transient.fault, count=count, path=PRODUCTION.path)
    started = time.monotonic()
    caught = await raises(transient.error, client.get(PRODUCTION))
    elapsed = time.monotonic() - started
    assert caught.__cause__ is None  # aiohttp's error, which holds the headers, is left behind
    assert gateway.stats.requests[PRODUCTION.path] == 2
    assert len(gateway.faults) == (0 if count else 1)
    assert elapsed < 2
    if transient.fault == "timeout":
        assert elapsed >= 2 * TIMEOUT  # each try waited its full timeout


async def test_retry_waits_the_retry_delay(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The one retry comes after ``retry_delay``."""
    client = await opened(make_client(gateway, request_timeout=0.1, retry_delay=0.2))
    gateway.add_fault("timeout", count=1, path=PRODUCTION.path)
    started = time.monotonic()
    await client.get(PRODUCTION)
    assert time.monotonic() - started >= 0.3


async def test_slow_endpoints_get_the_long_timeout(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """/production.json and the HTML page may take long; other endpoints may not."""
    gateway.capture.set(PRODUCTION_HTML.path, (FIXTURES / "3.7.0" / "production").read_text())
    client = await opened(make_client(gateway, request_timeout=0.05, slow_request_timeout=2))
    gateway.latency = 0.1
    assert {endpoint for endpoint in POLLED if endpoint.slow} == {PRODUCTION_JSON, PRODUCTION_HTML}
    assert (await client.get(PRODUCTION_JSON)).inverters_watts_now is not None
    assert (await client.get(PRODUCTION_HTML)).wh_lifetime is not None
    await raises(IQGatewayTimeoutError, client.get(PRODUCTION))


async def test_body_cut_off_mid_read_is_retried_once(
    apps: Apps, make_client: ClientFactory, http_session: aiohttp.ClientSession
) -> None:
    """A connection lost in the middle of the body is a transient error too."""
    served: list[str] = []

    async def cut(request: web.Request) -> web.StreamResponse:
        served.append(request.path)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"wattsNow": 1')
        if len(served) == 1 and request.transport is not None:
            request.transport.close()
            return response
        await response.write(b"}" + b" " * 985)
        return response

    async def stuck(request: web.Request) -> web.StreamResponse:
        served.append(request.path)
        response = web.StreamResponse()
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"{")
        if request.transport is not None:
            request.transport.close()
        return response

    url = await apps.start({PRODUCTION.path: cut, INVERTERS.path: stuck})
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    assert (await client.get(PRODUCTION)).watts_now == 1
    assert served == [PRODUCTION.path, PRODUCTION.path]

    served.clear()
    error = await raises(IQGatewayConnectionError, client.get(INVERTERS))
    assert "ClientPayloadError" in str(error)
    assert error.transient
    assert served == [INVERTERS.path, INVERTERS.path]


async def test_refused_connection_is_not_retried(
    counting_session: tuple[aiohttp.ClientSession, list[str]], free_port: int
) -> None:
    """Nothing listens: one connection attempt, then a connection error."""
    session, attempts = counting_session
    client = IQGateway(f"127.0.0.1:{free_port}", session, scheme="http", retry_delay=30)
    error = await raises(IQGatewayConnectionError, client.get(PRODUCTION))
    assert "ClientConnectorError" in str(error)
    assert not error.transient
    assert attempts == ["connect"]

    attempts.clear()
    token_client = IQGateway(
        f"127.0.0.1:{free_port}", session, token="x", scheme="https", retry_delay=30
    )
    await raises(IQGatewayConnectionError, token_client.get(PRODUCTION))
    assert attempts == ["connect"]  # the session could not even be opened


async def test_no_scheme_before_detect(http_session: aiohttp.ClientSession) -> None:
    """Endpoints cannot be asked before detect() found the scheme."""
    client = IQGateway("127.0.0.1:1", http_session)
    await raises(IQGatewayConnectionError, client.get(PRODUCTION))


# --------------------------------------------------------------------------- bad answers


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error(
    gateway: GatewaySimulator, make_client: ClientFactory, status: int
) -> None:
    """A 5xx is a response error with its status, and is not retried."""
    client = await opened(make_client(gateway))
    gateway.add_fault("server_error", path=PRODUCTION.path, status=status)
    error = await raises(IQGatewayResponseError, client.get(PRODUCTION))
    assert error.status == status
    assert gateway.stats.requests[PRODUCTION.path] == 1


async def test_absent_endpoint(gateway: GatewaySimulator, make_client: ClientFactory) -> None:
    """A 404 is a response error with that status."""
    gateway.capture.remove(PRODUCTION.path)
    client = make_client(gateway)
    await client.detect()
    error = await raises(IQGatewayResponseError, client.get(PRODUCTION))
    assert error.status == 404


@pytest.mark.parametrize("kind", ["truncated", "html"])
async def test_unreadable_bodies(
    gateway: GatewaySimulator, make_client: ClientFactory, kind: str
) -> None:
    """Half a JSON body, or an HTML page where JSON belongs: a response error."""
    client = await opened(make_client(gateway))
    for endpoint in (PRODUCTION, INVERTERS, METER_READINGS, PRODUCTION_JSON):
        gateway.add_fault(kind, path=endpoint.path)
        error = await raises(IQGatewayResponseError, client.get(endpoint))
        assert error.status is None
        assert gateway.stats.requests[endpoint.path] == 1  # a bad body is not retried


@pytest.mark.parametrize("kind", ["truncated", "html"])
async def test_unreadable_info(
    gateway: GatewaySimulator, make_client: ClientFactory, kind: str
) -> None:
    """/info that is not a whole envoy_info document: not a gateway we can talk to."""
    client = make_client(gateway, scheme="https")
    gateway.add_fault(kind, path=INFO.path)
    await raises(IQGatewayUnsupportedError, client.detect())
    assert client.info is None


async def test_poll_goes_on_after_a_bad_endpoint(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A 5xx or a bad body leaves that endpoint out; every other endpoint is read.

    The client keeps the last readable body of each endpoint (for diagnostics): a failure
    does not replace it.
    """
    client = make_client(gateway)
    await ready(client)
    full = await client.poll()
    before = client.raw_bodies()

    gateway.add_fault("server_error", path=METER_READINGS.path)
    gateway.add_fault("html", path=LIVEDATA.path)
    partial = await client.poll()

    assert partial.get(METER_READINGS) is None
    assert partial.get(LIVEDATA) is None
    assert partial.polled == full.polled
    assert {METER_READINGS, LIVEDATA} <= partial.polled
    assert set(partial.bodies) == set(full.bodies) - {METER_READINGS, LIVEDATA}
    for endpoint in partial.bodies:
        assert partial.get(endpoint) == full.get(endpoint), endpoint
    assert partial.answered
    assert partial.ct_meters["production"].reading is None
    after = client.raw_bodies()
    assert after[METER_READINGS.path] is before[METER_READINGS.path]
    assert after[LIVEDATA.path] is before[LIVEDATA.path]
    assert after[PRODUCTION.path] is not before[PRODUCTION.path]  # read again this poll
    assert after[PRODUCTION.path] == before[PRODUCTION.path]


@pytest.mark.parametrize("fault", ["timeout", "reset"])
async def test_a_connection_failure_fails_its_endpoint_not_the_poll(
    gateway: GatewaySimulator, make_client: ClientFactory, fault: str
) -> None:
    """A timeout or a dropped connection of one endpoint: the others are read as usual."""
    client = make_client(gateway, request_timeout=0.2)
    await ready(client)
    gateway.stats.reset()
    gateway.add_fault(fault, count=2, path=INVERTERS.path)

    data = await client.poll()

    assert gateway.stats.requests[INVERTERS.path] == 2  # with its one quick retry
    assert gateway.stats.requests[METERS.path] == 1  # the poll went on
    assert data.get(INVERTERS) is None
    assert INVERTERS in data.failing
    assert data.get(METER_READINGS) is not None


@pytest.mark.parametrize(
    ("fault", "error"),
    [("timeout", IQGatewayTimeoutError), ("reset", IQGatewayConnectionError)],
)
async def test_poll_ends_when_nothing_answers(
    gateway: GatewaySimulator,
    make_client: ClientFactory,
    fault: str,
    error: type[IQGatewayConnectionError],
) -> None:
    """Two endpoints without an answer and none answered: the gateway is down, no more asked."""
    client = make_client(gateway, request_timeout=0.2)
    await ready(client)
    gateway.stats.reset()
    for endpoint in POLLED:
        gateway.add_fault(fault, count=None, path=endpoint.path)

    await raises(error, client.poll())

    asked = [path for path, count in gateway.stats.requests.items() if count]
    assert len(asked) == 2, asked
    assert client.schedule.failing == frozenset()  # not held against the endpoints


async def test_poll_keeps_the_meter_list_when_it_fails(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The meter list failing once: the last one stands, and the CTs are read as usual."""
    client = make_client(gateway)
    await ready(client)
    before = await client.poll()
    gateway.stats.reset()
    gateway.add_fault("server_error", path=METERS.path)
    data = await client.poll()
    assert gateway.stats.requests[METERS.path] == 1
    assert gateway.stats.requests[METER_READINGS.path] == 1
    assert data.get(METERS) == before.get(METERS)
    assert data.ct_meters == before.ct_meters
    assert data.ct_meters
    assert data.get(PRODUCTION) is not None


async def test_probe_marks_failing_endpoints_for_later(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A 5xx, a timeout or a garbled body at the probe: not polled yet, asked again later."""
    client = make_client(gateway, request_timeout=0.2)
    await client.detect()
    gateway.add_fault("server_error", path=LIVEDATA.path)
    gateway.add_fault("timeout", path=METER_READINGS.path)  # not retried at the probe
    gateway.add_fault("html", path=ENSEMBLE_INVENTORY.path)
    probe = await client.probe()
    assert probe.retry == {METER_READINGS, LIVEDATA, ENSEMBLE_INVENTORY}
    assert not probe.retry & probe.supported
    assert METERS in probe.supported
    assert LIVEDATA not in client.polled()
    assert client.schedule.failing == probe.retry

    again = await client.probe()
    assert again.retry == frozenset()
    assert {LIVEDATA, METER_READINGS, ENSEMBLE_INVENTORY} <= again.supported
    assert again.settled
    assert client.probe_result == again
    assert LIVEDATA in client.polled()
    assert client.schedule.failing == frozenset()


@pytest.mark.parametrize(
    ("fault", "error", "requests"),
    [
        ("timeout", IQGatewayTimeoutError, 1),  # not retried: asked again later anyway
        ("reset", IQGatewayConnectionError, 2),  # with its one quick retry
    ],
)
async def test_a_gateway_that_answers_nothing_is_not_asked_every_endpoint(
    gateway: GatewaySimulator,
    make_client: ClientFactory,
    fault: str,
    error: type[Exception],
    requests: int,
) -> None:
    """Two endpoints without an answer: the probe asks no more, and raises what it met."""
    client = make_client(gateway, request_timeout=0.1)
    await client.detect()
    for endpoint in POLLED:  # the token check still answers: it is the endpoints that fail
        gateway.add_fault(fault, count=None, path=endpoint.path)
    gateway.stats.reset()
    await raises(error, client.probe())
    asked = {path: n for path, n in gateway.stats.requests.items() if path != CHECK_JWT.path}
    assert asked == {POLLED[0].path: requests, POLLED[1].path: requests}
    assert client.probe_result is None


async def test_an_endpoint_that_drops_connections_is_asked_again_later(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """One endpoint whose connection is lost (twice, with the retry): the rest is found."""
    client = make_client(gateway)
    await client.detect()
    gateway.add_fault("reset", count=2, path=INVERTERS.path)
    probe = await client.probe()
    assert probe.retry == {INVERTERS}
    assert METER_READINGS in probe.supported


async def test_legacy_page_probe_failure_is_retried_later(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Firmware 3.x's only source failing at probe time is kept for a later probe."""
    simulator = await start_gateway("3.7.0")
    client = make_client(simulator)
    await client.detect()
    simulator.add_fault("server_error", path=PRODUCTION_HTML.path)
    # Nothing answered, something is to be asked again: an error, not an empty gateway.
    await raises(IQGatewayResponseError, client.probe())
    assert client.probe_result is None
    assert (await client.probe()).supported == {PRODUCTION_HTML}


async def test_poll_without_enabled_meters_reads_no_readings(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Disabled CTs report garbage: their readings are not even asked for."""
    simulator = await start_gateway("7.3.466_metered_disabled_cts")
    client = make_client(simulator)
    probe = await ready(client)
    assert METER_READINGS in probe.supported
    assert PRODUCTION in probe.empty  # its counters are all zero: not polled
    simulator.stats.reset()
    data = await client.poll()
    assert isinstance(data, GatewayData)
    assert data.get(METER_READINGS) is None
    assert data.get(PRODUCTION) is None
    assert simulator.stats.requests[METER_READINGS.path] == 0
    assert simulator.stats.requests[PRODUCTION.path] == 0


async def test_meters_disabled_since_the_probe_stop_the_readings_at_once(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """This poll's meter list, read first, decides whether this poll asks the readings."""
    client = make_client(gateway)
    await ready(client)
    assert METER_READINGS in client.polled()
    meters = gateway.capture.get(METERS.path)
    assert meters is not None
    gateway.capture.set(METERS.path, meters.body.replace(b'"enabled"', b'"disabled"'))
    gateway.stats.reset()

    data = await client.poll()

    assert data.get(METERS) is not None
    assert not data.enabled_cts
    assert data.get(METER_READINGS) is None
    assert gateway.stats.requests[METER_READINGS.path] == 0
    assert METER_READINGS not in client.polled()


# --------------------------------------------------------------------------- detect


async def test_detect_https_and_http(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Token firmware speaks HTTPS, a legacy gateway HTTP only."""
    secure = await start_gateway(RICH_CAPTURE)
    legacy = await start_gateway("5.0.62")
    client = make_client(secure)
    assert (await client.detect()).serial == secure.serial
    assert client.scheme == "https"
    old = make_client(legacy)
    assert (await old.detect()).serial == legacy.serial
    assert old.scheme == "http"
    assert legacy.stats.requests == {INFO.path: 1}  # the HTTPS attempt never reached it
    # A known scheme is used as it is.
    again = make_client(legacy, scheme="http")
    await again.detect()
    assert legacy.stats.requests == {INFO.path: 2}


async def test_detect_token_firmware_over_http_uses_https(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Token firmware whose /info answered over HTTP: its API is HTTPS all the same."""
    simulator = await start_gateway(RICH_CAPTURE, tls=False)
    client = make_client(simulator, token=None)  # a client with a token never tries HTTP
    info = await client.detect()
    assert info.tokens_required
    assert client.scheme == "https"


async def test_detect_not_a_gateway(
    apps: Apps, make_client: ClientFactory, http_session: aiohttp.ClientSession
) -> None:
    """Something answers, but not as an IQ Gateway: unsupported."""

    async def json_info(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    async def other_xml(request: web.Request) -> web.Response:
        return web.Response(text="<router><sn>1</sn></router>", content_type="text/xml")

    for routes in ({}, {INFO.path: json_info}, {INFO.path: other_xml}):
        url = await apps.start(routes)
        client = IQGateway(url.removeprefix("http://"), http_session, retry_delay=0)
        await raises(IQGatewayUnsupportedError, client.detect())
        assert client.scheme is None


async def test_detect_nothing_listening(
    http_session: aiohttp.ClientSession, free_port: int
) -> None:
    """Nothing answers on either scheme: a connection error."""
    client = IQGateway(f"127.0.0.1:{free_port}", http_session, retry_delay=0)
    await raises(IQGatewayConnectionError, client.detect())
    assert client.scheme is None


async def test_detect_timeout(gateway: GatewaySimulator, make_client: ClientFactory) -> None:
    """Something accepts but never answers: a timeout, without trying plain HTTP."""
    gateway.add_fault("timeout", count=2, path=INFO.path)
    client = make_client(gateway, request_timeout=0.1)
    await raises(IQGatewayTimeoutError, client.detect())
    assert client.scheme is None
    assert gateway.stats.requests[INFO.path] == 2


async def test_check_jwt_server_error(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """/auth/check_jwt failing with a 5xx is that error, not 'no sessions here'."""
    client = make_client(gateway)
    await client.detect()
    gateway.add_fault("server_error", path=CHECK, status=500)
    error = await raises(IQGatewayResponseError, client.check_jwt())
    assert error.status == 500
    await client.check_jwt()  # sessions still work afterwards
    assert CHECK in gateway.stats.jwt_validations


async def test_probe_without_check_jwt_cannot_tell_refusals_apart(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """No /auth/check_jwt to prove the token: a refused endpoint fails the probe."""
    simulator = await start_gateway("4.10.35", tls=True)
    simulator.capture.set(INVERTERS.path, "[]", status=401)
    client = make_client(simulator, token=simulator.issue_token())
    await client.detect()
    await raises(IQGatewayAuthenticationError, client.probe())


async def test_probe_with_no_production_source(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Neither JSON endpoint nor the HTML page (refused, 401): nothing to poll."""
    simulator = await start_gateway("5.0.62")
    simulator.capture.remove(PRODUCTION.path)
    simulator.capture.remove(PRODUCTION_JSON.path)
    client = make_client(simulator)
    await client.detect()
    probe = await client.probe()
    assert PRODUCTION_HTML not in probe.supported | probe.retry
    assert simulator.stats.requests[PRODUCTION_HTML.path] == 1
    assert probe.supported == {INVERTERS, METERS, METER_READINGS}
