"""The client's transport against the simulated gateway: sessions, retries, errors.

Every failing call goes through ``raises()``, which also proves that no aiohttp, json or
xml exception escapes a public method.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import time

import aiohttp
from aiohttp import web
import pytest
from yarl import URL

from custom_components.enphase_iq_gateway.iqgateway import (
    Endpoint,
    GatewayData,
    GatewayInfo,
    IQGateway,
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
    ProbeResult,
)
from simulator import GatewaySimulator, TokenAuthority
from tests.conftest import RICH_CAPTURE, GatewayFactory

from .common import raises
from .conftest import Apps, ClientFactory

PRODUCTION = Endpoint.PRODUCTION
READINGS = Endpoint.METER_READINGS


async def ready(client: IQGateway) -> tuple[GatewayInfo, ProbeResult]:
    """Detect and probe, as a setup does."""
    info = await client.detect()
    return info, await client.probe()


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
    info, probe = await ready(client)
    for _ in range(3):
        data = await client.poll(probe, info)
        assert data.production is not None

    assert gateway.stats.jwt_validations == {"/auth/check_jwt": 1}
    assert requests(gateway) > 3 * len(probe.polled())
    assert gateway.stats.requests["/auth/check_jwt"] == 1


async def test_lapsed_session_is_reopened_once(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The gateway forgot the session: one 401, one new session, then the cookie again."""
    client = make_client(gateway)
    info, probe = await ready(client)
    gateway.expire_sessions()
    gateway.stats.requests.clear()

    first = await client.poll(probe, info)
    second = await client.poll(probe, info)

    assert first == second
    assert validations(gateway) == 2  # the probe's session and the reopened one
    assert gateway.stats.jwt_validations == {"/auth/check_jwt": 2}
    assert gateway.stats.requests[PRODUCTION] == 3  # refused, retried, next poll
    assert gateway.stats.requests["/auth/check_jwt"] == 1


async def test_idle_session_lapses_and_is_reopened(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """A session unused for longer than the gateway keeps it is reopened on the next call."""
    simulator = await start_gateway(RICH_CAPTURE, session_idle=0.1)
    client = make_client(simulator)
    await client.detect()
    await client.production()
    await asyncio.sleep(0.15)
    await client.production()
    await client.inverters()
    assert simulator.stats.jwt_validations == {"/auth/check_jwt": 2}


async def test_401_storm_does_not_loop(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Refused whatever happens: one retry with a new session, then an error."""
    client = make_client(gateway)
    info, probe = await ready(client)
    gateway.add_fault("unauthorized", count=None)
    gateway.stats.reset()

    error = await raises(IQGatewayAuthenticationError, client.poll(probe, info))
    assert error.status == 401
    assert gateway.stats.requests == {PRODUCTION: 1, "/auth/check_jwt": 1}

    gateway.stats.reset()
    await raises(IQGatewayAuthenticationError, client.inverters())
    assert gateway.stats.requests == {"/auth/check_jwt": 1}  # no session: none to use

    gateway.stats.reset()
    await raises(IQGatewayAuthenticationError, client.probe())  # no "nothing supported"
    await raises(IQGatewayAuthenticationError, client.check_jwt())
    assert gateway.stats.requests == {"/auth/check_jwt": 2}


async def test_refused_once_then_accepted(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A single 401 costs one new session, not an error."""
    client = make_client(gateway)
    await client.detect()
    await client.check_jwt()
    gateway.add_fault("unauthorized", count=1, path=PRODUCTION)
    assert (await client.production()).wh_lifetime is not None
    assert gateway.stats.jwt_validations == {"/auth/check_jwt": 2}


async def test_forbidden_endpoint(gateway: GatewaySimulator, make_client: ClientFactory) -> None:
    """A 403 the token cannot change is an authentication error with that status."""
    gateway.capture.set(PRODUCTION, "{}", status=403)
    client = make_client(gateway)
    await client.detect()
    error = await raises(IQGatewayAuthenticationError, client.production())
    assert error.status == 403


async def test_endpoint_for_other_credentials_is_not_supported(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """An endpoint refusing an accepted token (installer-only) is left out of the probe."""
    gateway.capture.set(Endpoint.LIVEDATA, "{}", status=401)
    client = make_client(gateway)
    _, probe = await ready(client)
    assert Endpoint.LIVEDATA not in probe.supported
    assert Endpoint.LIVEDATA not in probe.retry
    assert PRODUCTION in probe.supported


async def test_without_cookies_every_request_carries_the_token(
    gateway: GatewaySimulator, make_client: ClientFactory, loopback: None
) -> None:
    """A cookie jar that refuses IP hosts: no session, the token is checked each time.

    The probe still tells an endpoint for other credentials from a refused token.
    """
    gateway.capture.set(Endpoint.LIVEDATA, "{}", status=401)
    async with aiohttp.ClientSession() as strict:  # the default jar drops IP cookies
        client = make_client(gateway, session=strict)
        info, probe = await ready(client)
        await client.poll(probe, info)
        assert Endpoint.LIVEDATA not in probe.supported
        assert PRODUCTION in probe.supported
        assert gateway.stats.requests["/auth/check_jwt"] == 1  # tried once, then not again
        assert gateway.stats.requests[Endpoint.LIVEDATA] == 2  # refused, retried
        # Every request for a path the gateway has (not /info, not the absent pdm/energy)
        # validated its token.
        for path, count in gateway.stats.requests.items():
            expected = 0 if path in ("/info", Endpoint.PDM_ENERGY) else count
            assert gateway.stats.jwt_validations[path] == expected, path

        # A later probe asks /auth/check_jwt again: the token is proven, not assumed.
        assert await client.probe() == probe
        assert gateway.stats.requests["/auth/check_jwt"] == 2
        client.set_token(gateway.issue_token(lifetime=-1))
        await raises(IQGatewayAuthenticationError, client.probe())


async def test_firmware_without_check_jwt(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Where /auth/check_jwt is absent (404), requests simply carry the token."""
    simulator = await start_gateway("4.10.35")
    client = make_client(simulator, token=simulator.issue_token())
    info, probe = await ready(client)
    data = await client.poll(probe, info)
    assert data.production is not None
    assert simulator.stats.requests["/auth/check_jwt"] == 1
    await client.check_jwt()  # asked again, still absent: nothing to open, no error
    assert simulator.stats.requests["/auth/check_jwt"] == 2
    assert simulator.stats.jwt_validations == {}


async def test_set_token_drops_the_session(
    gateway: GatewaySimulator, make_client: ClientFactory, http_session: aiohttp.ClientSession
) -> None:
    """Another token opens a new session on the next request; the same one does not."""
    client = make_client(gateway)
    await client.detect()
    await client.check_jwt()
    cookies = http_session.cookie_jar.filter_cookies(URL(gateway.url))
    assert "sessionId" in cookies

    client.set_token(client.token)
    await client.production()
    assert validations(gateway) == 1

    new = gateway.issue_token(role="installer")
    client.set_token(new)
    assert client.token == new
    assert "sessionId" not in http_session.cookie_jar.filter_cookies(URL(gateway.url))
    await client.production()
    assert validations(gateway) == 2

    client.set_token(gateway.authority.issue("999999999999"))
    await raises(IQGatewayAuthenticationError, client.production())

    client.set_token(None)
    assert client.token is None
    gateway.stats.reset()
    await raises(IQGatewayAuthenticationError, client.production())
    assert gateway.stats.requests == {PRODUCTION: 1}  # no session to reopen without a token
    assert (await client.get_info()).serial == gateway.serial  # /info needs no token


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

    client = make_client(gateway)
    await client.detect()
    await client.check_jwt()
    gateway.stats.reset()
    results = await asyncio.gather(
        client.production(),
        client.inverters(),
        client.meters(),
        client.meter_readings(),
        client.livedata(),
        client.get_info(),
    )
    assert gateway.stats.max_in_flight == 1
    assert requests(gateway) == 6
    gateway.latency = 0
    assert results[0] == await client.production()
    assert results[3] == await client.meter_readings()


# --------------------------------------------------------------------------- retries


async def test_reset_is_retried_once(gateway: GatewaySimulator, make_client: ClientFactory) -> None:
    """One dropped connection: the retry answers. Two: a connection error, no third try."""
    client = make_client(gateway)
    await client.detect()
    await client.check_jwt()

    gateway.add_fault("reset", count=1, path=PRODUCTION)
    assert (await client.production()).wh_lifetime is not None
    assert gateway.stats.requests[PRODUCTION] == 2

    gateway.stats.reset()
    gateway.add_fault("reset", count=2, path=PRODUCTION)
    error = await raises(IQGatewayConnectionError, client.production())
    assert isinstance(error.__cause__, aiohttp.ClientError)
    assert gateway.stats.requests[PRODUCTION] == 2
    assert not gateway.faults

    gateway.stats.reset()
    gateway.add_fault("reset", count=None, path=PRODUCTION)
    await raises(IQGatewayConnectionError, client.production())
    assert gateway.stats.requests[PRODUCTION] == 2


async def test_timeout_is_retried_once(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A hanging request is retried once after the timeout, then the timeout is raised."""
    client = make_client(gateway, request_timeout=0.2)
    await client.detect()
    await client.check_jwt()

    gateway.add_fault("timeout", count=1, path=PRODUCTION)
    assert (await client.production()).wh_lifetime is not None
    assert gateway.stats.requests[PRODUCTION] == 2

    gateway.stats.reset()
    gateway.add_fault("timeout", count=2, path=PRODUCTION)
    started = time.monotonic()
    await raises(IQGatewayTimeoutError, client.production())
    assert 0.4 <= time.monotonic() - started < 2
    assert gateway.stats.requests[PRODUCTION] == 2


async def test_retry_waits_the_retry_delay(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """The one retry comes after ``retry_delay``."""
    client = make_client(gateway, request_timeout=0.1, retry_delay=0.2)
    await client.detect()
    await client.check_jwt()
    gateway.add_fault("timeout", count=1, path=PRODUCTION)
    started = time.monotonic()
    await client.production()
    assert time.monotonic() - started >= 0.3


async def test_slow_endpoints_get_the_long_timeout(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """/production.json may take long; other endpoints may not."""
    client = make_client(gateway, request_timeout=0.1, slow_request_timeout=2)
    await client.detect()
    await client.check_jwt()
    gateway.latency = 0.15
    assert (await client.production_json()).inverters_active is not None
    await raises(IQGatewayTimeoutError, client.production())


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

    url = await apps.start({str(PRODUCTION): cut, str(Endpoint.INVERTERS): stuck})
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    assert (await client.production()).watts_now == 1
    assert served == [PRODUCTION, PRODUCTION]

    served.clear()
    error = await raises(IQGatewayConnectionError, client.inverters())
    assert isinstance(error.__cause__, aiohttp.ClientPayloadError)
    assert served == [Endpoint.INVERTERS, Endpoint.INVERTERS]


async def test_refused_connection_is_not_retried(
    counting_session: tuple[aiohttp.ClientSession, list[str]], free_port: int
) -> None:
    """Nothing listens: one connection attempt, then a connection error."""
    session, attempts = counting_session
    client = IQGateway(f"127.0.0.1:{free_port}", session, scheme="http", retry_delay=30)
    error = await raises(IQGatewayConnectionError, client.production())
    assert isinstance(error.__cause__, aiohttp.ClientConnectorError)
    assert attempts == ["connect"]

    attempts.clear()
    token_client = IQGateway(
        f"127.0.0.1:{free_port}", session, token="x", scheme="https", retry_delay=30
    )
    await raises(IQGatewayConnectionError, token_client.production())
    assert attempts == ["connect"]  # the session could not even be opened


async def test_no_scheme_before_detect(http_session: aiohttp.ClientSession) -> None:
    """Endpoints cannot be asked before detect() found the scheme."""
    client = IQGateway("127.0.0.1:1", http_session)
    await raises(IQGatewayConnectionError, client.production())


# --------------------------------------------------------------------------- bad answers


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error(
    gateway: GatewaySimulator, make_client: ClientFactory, status: int
) -> None:
    """A 5xx is a response error with its status, and is not retried."""
    client = make_client(gateway)
    await client.detect()
    await client.check_jwt()
    gateway.add_fault("server_error", path=PRODUCTION, status=status)
    error = await raises(IQGatewayResponseError, client.production())
    assert error.status == status
    assert gateway.stats.requests[PRODUCTION] == 1


async def test_absent_endpoint(gateway: GatewaySimulator, make_client: ClientFactory) -> None:
    """A 404 is a response error with that status."""
    gateway.capture.remove(PRODUCTION)
    client = make_client(gateway)
    await client.detect()
    error = await raises(IQGatewayResponseError, client.production())
    assert error.status == 404


@pytest.mark.parametrize("kind", ["truncated", "html"])
async def test_unreadable_bodies(
    gateway: GatewaySimulator, make_client: ClientFactory, kind: str
) -> None:
    """Half a JSON body, or an HTML page where JSON belongs: a response error."""
    client = make_client(gateway)
    await client.detect()
    await client.check_jwt()
    for endpoint, method in (
        (PRODUCTION, client.production),
        (Endpoint.INVERTERS, client.inverters),
        (READINGS, client.meter_readings),
        (Endpoint.PRODUCTION_JSON, client.production_json),
    ):
        gateway.add_fault(kind, path=endpoint)
        error = await raises(IQGatewayResponseError, method())
        assert error.status is None
        assert gateway.stats.requests[endpoint] == 1  # a bad body is not retried


@pytest.mark.parametrize("kind", ["truncated", "html"])
async def test_unreadable_info(
    gateway: GatewaySimulator, make_client: ClientFactory, kind: str
) -> None:
    """/info that is not a whole envoy_info document: not a gateway we can talk to."""
    client = make_client(gateway, scheme="https")
    gateway.add_fault(kind, path="/info")
    await raises(IQGatewayUnsupportedError, client.get_info())


async def test_poll_goes_on_after_a_bad_endpoint(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A 5xx or a bad body leaves that field None; every other field is read."""
    client = make_client(gateway)
    info, probe = await ready(client)
    full = await client.poll(probe, info)

    gateway.add_fault("server_error", path=READINGS)
    gateway.add_fault("html", path=Endpoint.LIVEDATA)
    partial = await client.poll(probe, info)

    assert partial.readings is None
    assert partial.livedata is None
    assert partial.polled == full.polled
    assert READINGS not in partial.raw
    assert partial.production == full.production
    assert partial.inverters == full.inverters
    assert partial.meters == full.meters
    assert partial.consumption_reports == full.consumption_reports
    assert partial.ct_meters["production"].reading is None


@pytest.mark.parametrize(
    ("fault", "error"),
    [("timeout", IQGatewayTimeoutError), ("reset", IQGatewayConnectionError)],
)
async def test_poll_ends_on_a_connection_failure(
    gateway: GatewaySimulator,
    make_client: ClientFactory,
    fault: str,
    error: type[IQGatewayConnectionError],
) -> None:
    """A timeout or a dropped connection ends the poll: no more requests are sent."""
    client = make_client(gateway, request_timeout=0.2)
    info, probe = await ready(client)
    gateway.stats.reset()
    gateway.add_fault(fault, count=2, path=Endpoint.INVERTERS)

    await raises(error, client.poll(probe, info))

    assert gateway.stats.requests[Endpoint.INVERTERS] == 2
    assert gateway.stats.requests[Endpoint.METERS] == 0  # the poll ended there


async def test_poll_skips_readings_when_meters_fail(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Without this poll's meter list there is no enabled CT to read."""
    client = make_client(gateway)
    info, probe = await ready(client)
    gateway.stats.reset()
    gateway.add_fault("server_error", path=Endpoint.METERS)
    data = await client.poll(probe, info)
    assert data.meters is None
    assert data.readings is None
    assert gateway.stats.requests[READINGS] == 0
    assert data.production is not None


async def test_probe_marks_failing_endpoints_for_later(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A 5xx or a timeout during the probe: asked again by a later probe, not polled."""
    client = make_client(gateway, request_timeout=0.2)
    await client.detect()
    gateway.add_fault("server_error", path=Endpoint.LIVEDATA)
    gateway.add_fault("timeout", count=2, path=READINGS)
    probe = await client.probe()
    assert probe.retry == {Endpoint.LIVEDATA, READINGS}
    assert not probe.retry & probe.supported
    assert Endpoint.LIVEDATA not in probe.polled()

    again = await client.probe()
    assert again.retry == frozenset()
    assert {Endpoint.LIVEDATA, READINGS} <= again.supported


async def test_probe_raises_on_connection_failure(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """A gateway that drops connections cannot be probed: the error is raised."""
    client = make_client(gateway)
    await client.detect()
    gateway.add_fault("reset", count=2, path=Endpoint.INVERTERS)
    await raises(IQGatewayConnectionError, client.probe())


async def test_legacy_page_probe_failure_is_retried_later(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Firmware 3.x's only source failing at probe time is kept for a later probe."""
    simulator = await start_gateway("3.7.0")
    client = make_client(simulator)
    await client.detect()
    simulator.add_fault("server_error", path=Endpoint.PRODUCTION_HTML)
    probe = await client.probe()
    assert probe.supported == frozenset()
    assert probe.retry == {Endpoint.PRODUCTION_HTML}
    assert (await client.probe()).supported == {Endpoint.PRODUCTION_HTML}


async def test_poll_without_enabled_meters_reads_no_readings(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Disabled CTs report garbage: their readings are not even asked for."""
    simulator = await start_gateway("7.3.466_metered_disabled_cts")
    client = make_client(simulator)
    info, probe = await ready(client)
    assert READINGS in probe.supported
    assert PRODUCTION in probe.empty  # its counters are all zero: not polled
    simulator.stats.reset()
    data = await client.poll(probe, info)
    assert isinstance(data, GatewayData)
    assert data.readings is None
    assert data.production is None
    assert simulator.stats.requests[READINGS] == 0
    assert simulator.stats.requests[PRODUCTION] == 0


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
    assert legacy.stats.requests == {"/info": 1}  # the HTTPS attempt never reached it
    # A known scheme is used as it is.
    again = make_client(legacy, scheme="http")
    await again.detect()
    assert legacy.stats.requests == {"/info": 2}


async def test_detect_token_firmware_over_http_uses_https(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Token firmware whose /info answered over HTTP: its API is HTTPS all the same."""
    simulator = await start_gateway(RICH_CAPTURE, tls=False)
    client = make_client(simulator)
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

    for routes in ({}, {"/info": json_info}, {"/info": other_xml}):
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
    gateway.add_fault("timeout", count=2, path="/info")
    client = make_client(gateway, request_timeout=0.1)
    await raises(IQGatewayTimeoutError, client.detect())
    assert client.scheme is None
    assert gateway.stats.requests["/info"] == 2


async def test_check_jwt_server_error(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """/auth/check_jwt failing with a 5xx is that error, not 'no sessions here'."""
    client = make_client(gateway)
    await client.detect()
    gateway.add_fault("server_error", path="/auth/check_jwt", status=500)
    error = await raises(IQGatewayResponseError, client.check_jwt())
    assert error.status == 500
    await client.check_jwt()  # sessions still work afterwards
    assert "/auth/check_jwt" in gateway.stats.jwt_validations


async def test_probe_without_check_jwt_cannot_tell_refusals_apart(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """No /auth/check_jwt to prove the token: a refused endpoint fails the probe."""
    simulator = await start_gateway("4.10.35")
    simulator.capture.set(Endpoint.INVERTERS, "[]", status=401)
    client = make_client(simulator, token=simulator.issue_token())
    await client.detect()
    await raises(IQGatewayAuthenticationError, client.probe())


async def test_probe_with_no_production_source(
    start_gateway: GatewayFactory, make_client: ClientFactory
) -> None:
    """Neither JSON endpoint nor the HTML page (refused, 401): nothing to poll."""
    simulator = await start_gateway("5.0.62")
    simulator.capture.remove(PRODUCTION)
    simulator.capture.remove(Endpoint.PRODUCTION_JSON)
    client = make_client(simulator)
    await client.detect()
    probe = await client.probe()
    assert Endpoint.PRODUCTION_HTML not in probe.supported | probe.retry
    assert simulator.stats.requests[Endpoint.PRODUCTION_HTML] == 1
    assert probe.supported == {Endpoint.INVERTERS, Endpoint.METERS, READINGS}


def test_production_json_needed_only_with_something_of_its_own(
    http_session: aiohttp.ClientSession,
) -> None:
    """Without its parsed body the probe cannot tell: /production.json is not polled."""
    client = IQGateway("127.0.0.1", http_session)
    both = {PRODUCTION, Endpoint.PRODUCTION_JSON}
    assert not client._needs_production_json(both, None)
    assert client._needs_production_json({Endpoint.PRODUCTION_JSON}, None)
    assert not client._needs_production_json({PRODUCTION}, None)


async def test_refresh_info_follows_a_gateway_that_moved_to_https(
    start_gateway, http_session
) -> None:
    """After a firmware update to 7+, plain HTTP stops answering: HTTPS is found again."""
    legacy = await start_gateway("4.10.35")
    client = IQGateway(legacy.address, http_session, retry_delay=0)
    await client.detect()
    assert client.scheme == "http"
    port = legacy.port
    await legacy.stop()
    updated = await start_gateway("8.2.127_with_3cts_and_battery_split", port=port)
    info = await client.refresh_info()
    assert client.scheme == "https"
    assert info.firmware == updated.capture.firmware


async def test_refresh_info_switches_to_https_when_info_asks_for_tokens(
    start_gateway, http_session
) -> None:
    """An /info read over HTTP that says tokens are now required moves the client to HTTPS."""
    gateway = await start_gateway("8.2.127_with_3cts_and_battery_split", tls=False)
    client = IQGateway(gateway.address, http_session, scheme="http")
    info = await client.refresh_info()
    assert info.tokens_required
    assert client.scheme == "https"


async def test_refresh_info_on_https_does_not_look_elsewhere(start_gateway, http_session) -> None:
    """A gateway on HTTPS that stops answering is down: no second scheme is tried."""
    gateway = await start_gateway("8.2.127_with_3cts_and_battery_split")
    client = IQGateway(gateway.address, http_session, retry_delay=0)
    await client.detect()
    await gateway.stop()
    with pytest.raises(IQGatewayConnectionError):
        await client.refresh_info()
    assert client.scheme == "https"
