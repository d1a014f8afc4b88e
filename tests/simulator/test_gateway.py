"""The simulated gateway over real HTTP(S): tokens, sessions, stats, faults."""

from __future__ import annotations

import asyncio
import json
import ssl
import time

import aiohttp
import jwt
import pytest

from simulator import Capture, GatewaySimulator, TokenAuthority
from simulator.gateway import dump_stats
from simulator.tls import make_certificate
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import fetch

PRODUCTION = "/api/v1/production"
Session = aiohttp.ClientSession


async def open_session(raw_session: Session, gateway: GatewaySimulator) -> str:
    """Validate a token at /auth/check_jwt; return the session id."""
    answer = await fetch(raw_session, gateway, "/auth/check_jwt", token=gateway.issue_token())
    assert answer.status == 200
    assert answer.session_id is not None
    return answer.session_id


# --------------------------------------------------------------------------- serving


async def test_serves_the_capture(gateway: GatewaySimulator, raw_session: Session) -> None:
    """Bodies, statuses and content types as captured; 404 for what is not there."""
    token = gateway.issue_token()
    folder = FIXTURES / RICH_CAPTURE
    answer = await fetch(raw_session, gateway, "/ivp/meters/readings", token=token)
    assert answer.status == 200
    assert answer.body == (folder / "ivp_meters_readings").read_bytes()
    production = await fetch(raw_session, gateway, PRODUCTION, token=token)
    assert production.headers["Content-Type"] == "application/json"  # as its log says

    info = await fetch(raw_session, gateway, "/info")
    assert info.status == 200
    assert info.headers["Content-Type"] == "text/xml"
    assert gateway.serial.encode() in info.body

    absent = await fetch(raw_session, gateway, "/ivp/pdm/energy", token=token)
    assert absent.status == 404
    assert (await fetch(raw_session, gateway, "/info", method="POST")).status == 405


async def test_captured_refusals_are_served(
    start_gateway: GatewayFactory, raw_session: Session
) -> None:
    """A legacy capture: no token anywhere, and its own 401 and 404 answers."""
    simulator = await start_gateway("4.10.35")
    assert simulator.url.startswith("http://")
    assert simulator.ca_path is None
    assert (await fetch(raw_session, simulator, "/ivp/meters")).status == 200
    assert (await fetch(raw_session, simulator, "/production")).status == 401
    absent = await fetch(raw_session, simulator, "/ivp/ss/dry_contact_settings")
    assert absent.status == 404
    assert absent.body == (FIXTURES / "4.10.35" / "ivp_ss_dry_contact_settings").read_bytes()
    # Older firmware has no /auth/check_jwt.
    check = await fetch(raw_session, simulator, "/auth/check_jwt", token=simulator.issue_token())
    assert check.status == 404
    assert simulator.stats.jwt_validations == {}


async def test_query_string_fallback(start_gateway: GatewayFactory, raw_session: Session) -> None:
    """With or without ?details=1, whichever form was captured is served."""
    simulator = await start_gateway("7.6.175_with_cts_3phase")
    token = simulator.issue_token()
    plain = await fetch(raw_session, simulator, "/production.json", token=token)
    detailed = await fetch(raw_session, simulator, "/production.json?details=1", token=token)
    assert detailed.status == 200
    assert detailed.body == plain.body
    assert simulator.stats.requests["/production.json"] == 2  # counted without the query


# --------------------------------------------------------------------------- tokens


async def test_token_required_on_token_firmware(
    gateway: GatewaySimulator, raw_session: Session
) -> None:
    """Every endpoint but /info wants a valid token for this gateway."""
    other = TokenAuthority()
    revoked = gateway.issue_token()
    gateway.authority.revoked.add(jwt.decode(revoked, options={"verify_signature": False})["jti"])
    refused = {
        "none": None,
        "garbage": "garbage",
        "other serial": gateway.authority.issue("999999999999"),
        "expired": gateway.issue_token(lifetime=-1),
        "other authority": other.issue(gateway.serial),
        "revoked": revoked,
    }
    for why, token in refused.items():
        answer = await fetch(raw_session, gateway, PRODUCTION, token=token)
        assert answer.status == 401, why
        assert b"401" in answer.body
    assert (
        await fetch(raw_session, gateway, PRODUCTION, token=gateway.issue_token())
    ).status == 200
    assert (await fetch(raw_session, gateway, "/info")).status == 200
    basic = await raw_session.get(
        f"{gateway.url}{PRODUCTION}", headers={"Authorization": "Basic abc"}, ssl=False
    )
    assert basic.status == 401
    basic.release()
    # Each bearer token was validated (none and Basic were not even tried).
    assert gateway.stats.jwt_validations == {PRODUCTION: len(refused)}


async def test_check_jwt_opens_a_session(gateway: GatewaySimulator, raw_session: Session) -> None:
    """A valid token gets a sessionId cookie (Secure, HttpOnly); the cookie then suffices."""
    assert (await fetch(raw_session, gateway, "/auth/check_jwt")).status == 401
    assert (await fetch(raw_session, gateway, "/auth/check_jwt", token="x")).status == 401
    answer = await fetch(raw_session, gateway, "/auth/check_jwt", token=gateway.issue_token())
    assert answer.status == 200
    assert b"Valid token" in answer.body
    assert answer.set_cookie is not None
    assert "HttpOnly" in answer.set_cookie
    assert "Secure" in answer.set_cookie
    assert answer.session_id is not None

    for _ in range(3):
        used = await fetch(raw_session, gateway, PRODUCTION, session_id=answer.session_id)
        assert used.status == 200
    assert gateway.stats.jwt_validations == {"/auth/check_jwt": 2}  # x, and the good one


async def test_unknown_or_lapsed_session_is_refused(
    gateway: GatewaySimulator, raw_session: Session
) -> None:
    """A cookie the gateway forgot is refused even with a valid token beside it."""
    token = gateway.issue_token()
    session_id = await open_session(raw_session, gateway)
    unknown = await fetch(raw_session, gateway, PRODUCTION, token=token, session_id="nope")
    assert unknown.status == 401

    gateway.expire_sessions()
    lapsed = await fetch(raw_session, gateway, PRODUCTION, token=token, session_id=session_id)
    assert lapsed.status == 401
    assert gateway.stats.jwt_validations == {"/auth/check_jwt": 1}  # cookies are not tokens
    # Without a cookie the token alone is still accepted (curl, or a client without jar).
    assert (await fetch(raw_session, gateway, PRODUCTION, token=token)).status == 200


async def test_session_idle_expiry(start_gateway: GatewayFactory, raw_session: Session) -> None:
    """A session unused for session_idle seconds lapses; use keeps it alive."""
    simulator = await start_gateway(RICH_CAPTURE, session_idle=600)
    started, passed = time.time(), [0.0]
    simulator.session_time = lambda: started + passed[0]
    session_id = await open_session(raw_session, simulator)
    for _ in range(3):
        passed[0] += 400  # 1200 s in all, never 600 unused
        assert (
            await fetch(raw_session, simulator, PRODUCTION, session_id=session_id)
        ).status == 200
    passed[0] += 601
    assert (await fetch(raw_session, simulator, PRODUCTION, session_id=session_id)).status == 401
    # Forgotten for good, not just this once.
    simulator.session_idle = 600
    assert (await fetch(raw_session, simulator, PRODUCTION, session_id=session_id)).status == 401


async def test_session_ends_with_its_token(gateway: GatewaySimulator, raw_session: Session) -> None:
    """A session lasts no longer than the token that opened it."""
    session_id = await open_session(raw_session, gateway)
    gateway._sessions[session_id].expires_at = time.time() - 1
    assert (await fetch(raw_session, gateway, PRODUCTION, session_id=session_id)).status == 401


# --------------------------------------------------------------------------- stats


async def test_stats(gateway: GatewaySimulator, raw_session: Session) -> None:
    """Requests and validations per path, totals, the most in flight; reset."""
    token = gateway.issue_token()
    await fetch(raw_session, gateway, "/info")
    await fetch(raw_session, gateway, PRODUCTION, token=token)
    await fetch(raw_session, gateway, f"{PRODUCTION}?x=1", token=token)
    stats = gateway.stats.as_dict()
    assert stats == {
        "requests": {"/info": 1, PRODUCTION: 2},
        "jwt_validations": {PRODUCTION: 2},
        "total_requests": 3,
        "total_jwt_validations": 2,
        "max_in_flight": 1,
        "stream_posts": 0,
    }
    assert json.loads(dump_stats(gateway)) == stats
    gateway.stats.reset()
    assert gateway.stats.as_dict()["total_requests"] == 0
    assert gateway.stats.max_in_flight == 0


async def test_in_flight_and_latency(gateway: GatewaySimulator, raw_session: Session) -> None:
    """Concurrent requests are in flight together; latency delays each answer."""
    gateway.latency = 1
    delays: list[float] = []
    gateway.on_delay.append(delays.append)
    started = time.monotonic()
    answers = await asyncio.gather(*(fetch(raw_session, gateway, "/info") for _ in range(3)))
    elapsed = time.monotonic() - started
    assert [a.status for a in answers] == [200] * 3
    assert gateway.stats.max_in_flight == 3
    assert delays == [1, 1, 1]
    # Together, not one after another (3 s): a margin of seconds, for a busy machine.
    assert 1 <= elapsed < 3
    assert gateway.stats.in_flight == 0


async def test_single_worker(gateway: GatewaySimulator, raw_session: Session) -> None:
    """A single worker answers one request after the other, like the real device."""
    gateway.latency = 0.1
    gateway.single_worker = True
    started = time.monotonic()
    await asyncio.gather(*(fetch(raw_session, gateway, "/info") for _ in range(3)))
    assert time.monotonic() - started >= 0.3


# --------------------------------------------------------------------------- faults


async def test_unauthorized_fault(gateway: GatewaySimulator, raw_session: Session) -> None:
    """401 whatever the token, for ``count`` requests."""
    token = gateway.issue_token()
    gateway.add_fault("unauthorized", count=2)
    assert (await fetch(raw_session, gateway, "/info")).status == 401
    assert (await fetch(raw_session, gateway, PRODUCTION, token=token)).status == 401
    assert (await fetch(raw_session, gateway, PRODUCTION, token=token)).status == 200
    assert len(gateway.faults) == 0


async def test_server_error_fault(gateway: GatewaySimulator, raw_session: Session) -> None:
    """A 5xx HTML page, status configurable; only on its path."""
    token = gateway.issue_token()
    gateway.add_fault("server_error", path=PRODUCTION)
    gateway.add_fault("server_error", path="/ivp/meters", status=500)
    assert (await fetch(raw_session, gateway, "/info")).status == 200
    answer = await fetch(raw_session, gateway, f"{PRODUCTION}?any=query", token=token)
    assert answer.status == 503
    assert b"<html>" in answer.body
    assert (await fetch(raw_session, gateway, "/ivp/meters", token=token)).status == 500
    assert (await fetch(raw_session, gateway, PRODUCTION, token=token)).status == 200


async def test_html_and_truncated_faults(gateway: GatewaySimulator, raw_session: Session) -> None:
    """200 with an HTML page, or with half the body."""
    token = gateway.issue_token()
    whole = (FIXTURES / RICH_CAPTURE / "api_v1_production").read_bytes()
    gateway.add_fault("html", path=PRODUCTION)
    html = await fetch(raw_session, gateway, PRODUCTION, token=token)
    assert html.status == 200
    assert html.headers["Content-Type"].startswith("text/html")
    gateway.add_fault("truncated", path=PRODUCTION)
    cut = await fetch(raw_session, gateway, PRODUCTION, token=token)
    assert cut.status == 200
    assert cut.body == whole[: len(whole) // 2]
    # A truncated fault still wants the token.
    gateway.add_fault("truncated", path=PRODUCTION)
    assert (await fetch(raw_session, gateway, PRODUCTION)).status == 401
    assert (await fetch(raw_session, gateway, PRODUCTION, token=token)).body == whole


async def test_timeout_fault(start_gateway: GatewayFactory, raw_session: Session) -> None:
    """The request hangs (hang_seconds), then 504; stopping the simulator ends it at once."""
    simulator = await start_gateway(RICH_CAPTURE, hang_seconds=0.2)
    simulator.add_fault("timeout", count=2, path="/info")
    with pytest.raises(TimeoutError):
        await fetch(raw_session, simulator, "/info", wait=0.1)
    assert (await fetch(raw_session, simulator, "/info")).status == 504

    simulator.hang_seconds = 3600
    simulator.add_fault("timeout", path="/info")
    pending = asyncio.create_task(fetch(raw_session, simulator, "/info"))
    while not simulator.stats.in_flight:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await simulator.stop()
    assert time.monotonic() - started < 1
    try:
        answer = await pending
    except aiohttp.ClientError:
        pass  # the connection closed first
    else:
        assert answer.status == 504


async def test_reset_fault_and_outage(gateway: GatewaySimulator, raw_session: Session) -> None:
    """The connection is dropped without an answer; an outage drops every one."""
    gateway.add_fault("reset", count=None, path="/info")
    with pytest.raises(aiohttp.ClientError):
        await fetch(raw_session, gateway, "/info")
    gateway.faults.clear()
    assert (await fetch(raw_session, gateway, "/info")).status == 200

    gateway.outage = True
    with pytest.raises(aiohttp.ClientError):
        await fetch(raw_session, gateway, "/info")
    # The control API still answers, and ends the outage.
    settings = await fetch(
        raw_session, gateway, "/__simulator/settings", method="POST", json={"outage": False}
    )
    assert settings.status == 200
    assert (await fetch(raw_session, gateway, "/info")).status == 200


# --------------------------------------------------------------------------- lifecycle


async def test_lifecycle_and_properties(loopback: None, authority: TokenAuthority) -> None:
    """Context manager, TLS override, a certificate of one's own, stop twice."""
    certificate = make_certificate("test gateway")
    capture = Capture.load(FIXTURES / "5.0.62")
    async with GatewaySimulator(
        capture, authority=authority, tls=True, certificate=certificate
    ) as simulator:
        assert simulator.url == f"https://127.0.0.1:{simulator.port}"
        assert simulator.address == f"127.0.0.1:{simulator.port}"
        assert simulator.ca_path == certificate.ca_path
        assert not simulator.capture.requires_token
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{simulator.url}/info", ssl=certificate.client_context()) as response,
        ):
            assert response.status == 200
    await simulator.stop()  # already stopped: nothing to do

    by_path = GatewaySimulator(str(FIXTURES / RICH_CAPTURE))
    assert by_path.tls
    assert by_path.serial == Capture.load(FIXTURES / RICH_CAPTURE).serial
    assert isinstance(by_path.authority, TokenAuthority)


async def test_https_certificate_is_verifiable(
    gateway: GatewaySimulator, raw_session: Session
) -> None:
    """The simulator's CA file verifies its certificate (for curl --cacert)."""
    assert gateway.ca_path is not None
    context = ssl.create_default_context(cafile=str(gateway.ca_path))
    async with raw_session.get(f"{gateway.url}/info", ssl=context) as response:
        assert response.status == 200
