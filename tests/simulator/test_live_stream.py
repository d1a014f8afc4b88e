"""The gateway's live stream: POST /ivp/livedata/stream, lapsing, frozen live data."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from simulator import Clock, GatewaySimulator
from tests.conftest import FIXTURES, RICH_CAPTURE, GatewayFactory

from .conftest import Answer, fetch

START = 1_700_000_000.0
STATUS = "/ivp/livedata/status"
STREAM = "/ivp/livedata/stream"
Session = aiohttp.ClientSession
CAPTURED = json.loads((FIXTURES / RICH_CAPTURE / "ivp_livedata_status").read_text())


@pytest.fixture
async def live(start_gateway: GatewayFactory) -> GatewaySimulator:
    """The rich capture on a frozen clock, numbers moving, the live stream off."""
    return await start_gateway(
        RICH_CAPTURE, clock=Clock(start=START), moving=True, live_stream=False
    )


async def switch(
    session: Session, gateway: GatewaySimulator, enable: Any = 1, **kwargs: Any
) -> Answer:
    """POST the stream switch with an owner token (unless told otherwise)."""
    kwargs.setdefault("token", gateway.issue_token())
    return await fetch(session, gateway, STREAM, method="POST", json={"enable": enable}, **kwargs)


async def status(session: Session, gateway: GatewaySimulator) -> Any:
    """The live-data body."""
    answer = await fetch(session, gateway, STATUS, token=gateway.issue_token())
    assert answer.status == 200
    return answer.json()


def pv(body: Any) -> int:
    """The PV power in the body (mW)."""
    return int(body["meters"]["pv"]["agg_p_mw"])


async def test_off_until_switched_on(live: GatewaySimulator, raw_session: Session) -> None:
    """Before any POST: captured numbers, captured last_update, sc_stream disabled."""
    live.clock.advance(600)
    body = await status(raw_session, live)
    assert body["connection"]["sc_stream"] == "disabled"
    assert body["meters"] == CAPTURED["meters"]
    assert body["connection"]["mqtt_state"] == CAPTURED["connection"]["mqtt_state"]
    assert not live.live_stream_on


async def test_as_captured_until_a_client_switches(
    start_gateway: GatewayFactory, raw_session: Session
) -> None:
    """By default the captured body is served as it is, until the first switch."""
    gateway = await start_gateway(RICH_CAPTURE, clock=Clock(start=START), moving=True)
    gateway.clock.advance(600)
    answer = await fetch(raw_session, gateway, STATUS, token=gateway.issue_token())
    assert answer.body == (FIXTURES / RICH_CAPTURE / "ivp_livedata_status").read_bytes()
    await switch(raw_session, gateway, 0)
    body = await status(raw_session, gateway)
    assert body["connection"]["sc_stream"] == "disabled"
    assert body["meters"] == CAPTURED["meters"]


async def test_on_from_the_start(start_gateway: GatewayFactory, raw_session: Session) -> None:
    """live_stream=True: on at once, lapsing after the timeout without any POST."""
    gateway = await start_gateway(
        RICH_CAPTURE, clock=Clock(start=START), live_stream=True, stream_timeout=60
    )
    assert gateway.live_stream_on
    assert (await status(raw_session, gateway))["meters"]["last_update"] == START
    gateway.clock.advance(61)
    body = await status(raw_session, gateway)
    assert body["connection"]["sc_stream"] == "disabled"
    assert body["meters"]["last_update"] == START + 60
    assert gateway.stats.stream_posts == 0


async def test_numbers_move_only_while_the_stream_is_on(
    live: GatewaySimulator, raw_session: Session
) -> None:
    """On: last_update is now and the powers move; lapsed: frozen at the lapse."""
    live.stream_timeout = 120
    answer = await switch(raw_session, live)
    assert (answer.status, answer.json()) == (200, {"sc_stream": "enabled"})
    assert live.stats.stream_posts == 1
    seen = []
    for _ in range(3):
        live.clock.advance(30)
        body = await status(raw_session, live)
        assert body["connection"]["sc_stream"] == "enabled"
        assert body["meters"]["last_update"] == live.clock.now()
        factor = live.site.wave.factor(live.site.elapsed())
        for source in ("pv", "grid", "load", "storage"):
            for name, value in CAPTURED["meters"][source].items():
                assert body["meters"][source][name] == round(value * factor)
        assert body["meters"]["soc"] == CAPTURED["meters"]["soc"]  # not a power
        seen.append(pv(body))
    assert len(set(seen)) == 3
    live.clock.advance(60)  # 150 s after the POST: lapsed at 120 s
    lapsed = await status(raw_session, live)
    assert lapsed["connection"]["sc_stream"] == "disabled"
    assert lapsed["meters"]["last_update"] == START + 120
    assert pv(lapsed) == round(CAPTURED["meters"]["pv"]["agg_p_mw"] * live.site.wave.factor(120))
    live.clock.advance(600)
    assert await status(raw_session, live) == lapsed  # frozen, however long
    # On again: fresh numbers, and the lapse counts from the new POST.
    await switch(raw_session, live)
    again = await status(raw_session, live)
    assert again["meters"]["last_update"] == live.clock.now()
    assert live.live_stream_on
    assert live.stats.stream_posts == 2


async def test_switching_off(live: GatewaySimulator, raw_session: Session) -> None:
    """{"enable": 0} ends the stream at once; on a stream never on it changes nothing."""
    answer = await switch(raw_session, live, 0)
    assert answer.json() == {"sc_stream": "disabled"}
    assert (await status(raw_session, live))["meters"] == CAPTURED["meters"]
    await switch(raw_session, live, 1)
    live.clock.advance(10)
    assert (await switch(raw_session, live, 0)).json() == {"sc_stream": "disabled"}
    live.clock.advance(100)
    body = await status(raw_session, live)
    assert body["connection"]["sc_stream"] == "disabled"
    assert body["meters"]["last_update"] == START + 10


async def test_still_site_stream_refreshes_the_time_only(
    start_gateway: GatewayFactory, raw_session: Session
) -> None:
    """Numbers not moving: the stream still makes last_update current."""
    gateway = await start_gateway(RICH_CAPTURE, clock=Clock(start=START))
    gateway.switch_live_stream(True)
    gateway.clock.advance(42)
    body = await status(raw_session, gateway)
    assert body["meters"]["last_update"] == START + 42
    assert body["meters"]["pv"] == CAPTURED["meters"]["pv"]


@pytest.mark.parametrize("refusal", [401, 403])
async def test_owner_tokens_can_be_refused(
    live: GatewaySimulator, raw_session: Session, refusal: int
) -> None:
    """With stream_owner_refusal, owners get that status; installers switch it on."""
    live.stream_owner_refusal = refusal
    refused = await switch(raw_session, live)
    assert refused.status == refusal
    assert not live.live_stream_on
    installer = live.issue_token("installer")
    assert (await switch(raw_session, live, token=installer)).status == 200
    assert live.live_stream_on
    # A cookie session remembers the role of the token that opened it.
    check = await fetch(raw_session, live, "/auth/check_jwt", token=live.issue_token())
    owner_cookie = await switch(raw_session, live, token=None, session_id=check.session_id)
    assert owner_cookie.status == refusal
    check = await fetch(raw_session, live, "/auth/check_jwt", token=installer)
    assert (await switch(raw_session, live, token=None, session_id=check.session_id)).status == 200
    assert live.stats.stream_posts == 4


async def test_the_stream_wants_a_token(live: GatewaySimulator, raw_session: Session) -> None:
    """No token, or a bad one: 401 like any other endpoint."""
    assert (await switch(raw_session, live, token=None)).status == 401
    assert (await switch(raw_session, live, token="nonsense")).status == 401
    assert not live.live_stream_on


@pytest.mark.parametrize(
    "body", [{"enable": 2}, {"enable": True}, {"enable": "1"}, {"on": 1}, [1], "x"]
)
async def test_bad_stream_requests(live: GatewaySimulator, raw_session: Session, body: Any) -> None:
    """A body without enable 0 or 1: 400, nothing switched."""
    answer = await fetch(
        raw_session, live, STREAM, method="POST", json=body, token=live.issue_token()
    )
    assert answer.status == 400
    assert not live.live_stream_on


async def test_not_json(live: GatewaySimulator, raw_session: Session) -> None:
    """A body that is not JSON at all: 400."""
    answer = await fetch(
        raw_session, live, STREAM, method="POST", data=b"enable=1", token=live.issue_token()
    )
    assert answer.status == 400


async def test_methods(live: GatewaySimulator, raw_session: Session) -> None:
    """The stream takes POST only; every other path GET only."""
    token = live.issue_token()
    assert (await fetch(raw_session, live, STREAM, token=token)).status == 405
    assert (await fetch(raw_session, live, STATUS, method="POST", token=token)).status == 405
    assert (await fetch(raw_session, live, "/ivp/meters", method="PUT", token=token)).status == 405
    assert live.stats.stream_posts == 0


async def test_no_live_data_no_stream(start_gateway: GatewayFactory, raw_session: Session) -> None:
    """A gateway without /ivp/livedata/status has no stream either: 404."""
    gateway = await start_gateway("7.6.175_with_cts")
    answer = await switch(raw_session, gateway)
    assert answer.status == 404
    assert gateway.stats.stream_posts == 1


async def test_faults_apply_to_the_stream(live: GatewaySimulator, raw_session: Session) -> None:
    """A fault for the stream path answers instead of the switch."""
    live.add_fault("server_error", path=STREAM)
    assert (await switch(raw_session, live)).status == 503
    assert not live.live_stream_on
    assert (await switch(raw_session, live)).status == 200
