"""The IQ Gateway client: one ``_request()`` owning transport, then probe and poll.

Transport rules, all in this file:

* HTTPS with certificate verification off (the gateway's certificate is self-signed);
  plain HTTP only for legacy gateways that have no HTTPS. The token and the session
  cookie never go over plain HTTP: a client with a token, or whose gateway said it wants
  one, never falls back to it.
* The host is a host name or IP address with an optional port (``gateway_url``): nothing
  else is sent anywhere, least of all a user or password as Basic auth.
* Bodies are read, and inflated, by the client up to MAX_BODY bytes: more is an
  unreadable answer, whatever answers at the gateway's address.
* The token goes in a bearer header. Once per session the client calls
  ``/auth/check_jwt``; the gateway answers with a ``sessionId`` cookie, and while the
  client presents it the gateway does not check the token's signature again. The session
  must carry a cookie jar that accepts IP hosts (``aiohttp.CookieJar(unsafe=True)``).
* Requests to one gateway are strictly serialized, by every client of that host in the
  process (``gateway_lock``): the gateway is a small device that slows down or drops
  requests when several arrive at once.
* Errors are raised outside aiohttp's exception handlers: none has aiohttp's error (which
  holds the request's headers, the token among them) as its cause or context.
* Timeouts are generous (``/production.json`` can take close to a minute); a connection
  reset or a timeout gets one quick retry, never more (aiohttp itself resends a GET once
  when the connection drops before the answer starts: that resend is the retry).
* A 401/403 drops the session cookie and retries once with the same token (the cookie may
  have expired on the gateway); a second refusal raises IQGatewayAuthenticationError.

The client owns what it learns about its gateway: ``/info`` (read again every few hours,
to notice a firmware update), which endpoints answer (the probe), and the latest body of
each. ``poll()`` needs nothing handed to it; ``poll_power()``, the fast power lane, reads
again only the endpoints power values come from and lays them over the last poll's data.

Live data (``/ivp/livedata/status``) is refreshed by the gateway only while its live
stream is on: ``POST /ivp/livedata/stream {"enable": 1}`` switches it on, and it lapses
by itself after about 15 minutes. Where live data is wanted (the caller says so, or a site
value reads it), the client switches the stream on before reading it, and again only when
the last answer says it is off (``connection.sc_stream``) or it would lapse before the
next read, never at every read. Live data whose ``meters.last_update`` is older than two
reading intervals (at least a minute, for clocks that differ a little) is stale: it goes
to ``GatewayData.stale``, where no value reads it. Why it is stale (a refused stream, or
numbers the gateway stopped refreshing) is logged once, and so is its recovery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
import ipaddress
import logging
import re
import time
from typing import Any, Final
import weakref
import zlib

import aiohttp
from yarl import URL

from . import site_values
from .data import GatewayData
from .endpoints import CHECK_JWT, INFO, LIVE_STREAM, LIVEDATA, POLLED, Endpoint, enabled_cts
from .exceptions import (
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
    IQGatewayWrongGatewayError,
)
from .models import JSON, GatewayInfo, LiveData, RawBody
from .scheduler import RETRY_FIRST, Schedule, Verdict, judge

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT: Final = 45.0
SLOW_REQUEST_TIMEOUT: Final = 90.0
RETRY_DELAY: Final = 2.0
SESSION_COOKIE: Final = "sessionId"
INFO_REFRESH: Final = timedelta(hours=6)
"""How often ``/info`` is read again during polls, to notice a firmware update."""
RETRY_PROBE_FIRST: Final = RETRY_FIRST
"""Seconds before an endpoint that failed is asked again (then doubling): see scheduler."""
PROBE_NO_ANSWERS: Final = 2
"""Requests left unanswered (timed out, connection lost) after which a probe or a poll in
which nothing has answered yet asks no more: the gateway is down."""
LIVE_INTERVAL: Final = 300.0
"""Seconds between two reads of live data, unless the caller says otherwise."""
STREAM_LIFETIME: Final = 900.0
"""Seconds a switched-on live stream lasts before it lapses (about 15 minutes)."""
STREAM_RENEW_AHEAD: Final = 1.5
"""The stream is switched on again once less than this many reading intervals are left."""
STREAM_MIN_GAP: Final = 60.0
"""Seconds between two switches at least, whatever the gateway says (one that accepts the
switch but stays off is not asked again at every read)."""
LIVE_MAX_AGE_MIN: Final = 60.0
"""Live data is stale once older than two reading intervals, but never sooner than this."""
STREAM_RETRY: Final = INFO_REFRESH
"""A gateway that refused to switch its stream on is asked again this much later."""
MAX_BODY: Final = 4 * 1024 * 1024
"""The most a body may hold, after decompression: the largest real one is under 100 KB."""
_READ_CHUNK: Final = 64 * 1024
_NO_AIOHTTP_TIMEOUT: Final = aiohttp.ClientTimeout()
"""aiohttp's own timeouts are off: the client's ``timer`` bounds each request instead."""

type Timer = Callable[[float], AbstractAsyncContextManager[object]]
"""``timer(seconds)``: an async context manager that cancels what it holds once that many
seconds have passed, then raises TimeoutError (``asyncio.timeout``)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Which endpoints a gateway answers.

    ``supported`` answered with a body of the right shape. ``retry`` timed out, failed
    with a server error or a garbled body, or was not asked (the gateway stalled) during
    the probe: not polled for yet, but asked again by the polls (see ``scheduler``) and
    polled once it answers.
    ``empty`` answered, but with nothing measured (every counter zero, as
    ``/api/v1/production`` does when its CT is disabled): not polled, so no value of
    theirs can stand in for a real source; ``refused`` refused, during a poll, a token the
    gateway accepts (an endpoint a firmware update made installer-only): not polled. Both
    are asked again by the next probe, with the next ``/info`` reading. Everything else
    (401/404 at the probe, a wrong body) is not supported.
    """

    supported: frozenset[Endpoint[Any]]
    retry: frozenset[Endpoint[Any]] = frozenset()
    empty: frozenset[Endpoint[Any]] = frozenset()
    refused: frozenset[Endpoint[Any]] = frozenset()

    @property
    def settled(self) -> bool:
        """Nothing is left for a probe to ask again (the polls ask ``retry`` themselves)."""
        return not (self.empty or self.refused)

    def as_dict(self) -> dict[str, list[str]]:
        """A JSON-friendly form, for diagnostics."""
        return {
            "supported": sorted(map(str, self.supported)),
            "retry": sorted(map(str, self.retry)),
            "empty": sorted(map(str, self.empty)),
            "refused": sorted(map(str, self.refused)),
        }


@dataclass(slots=True)
class _Verdicts:
    """What a probe learned of the endpoints it asked (see ProbeResult)."""

    found: dict[Endpoint[Any], Any] = field(default_factory=dict)
    retry: set[Endpoint[Any]] = field(default_factory=set)
    empty: set[Endpoint[Any]] = field(default_factory=set)
    unanswered: set[Endpoint[Any]] = field(default_factory=set)  # no answer, or not asked
    no_answer: dict[Endpoint[Any], IQGatewayConnectionError] = field(default_factory=dict)


class IQGateway:
    """Talks to one IQ Gateway over its local REST API."""

    def __init__(
        self,
        host: str,
        session: aiohttp.ClientSession,
        *,
        token: str | None = None,
        serial: str | None = None,
        scheme: str | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        slow_request_timeout: float = SLOW_REQUEST_TIMEOUT,
        retry_delay: float = RETRY_DELAY,
        retry: bool = True,
        clock: Callable[[], float] = time.time,
        live_interval: float = LIVE_INTERVAL,
        timer: Timer = asyncio.timeout,
    ) -> None:
        """Prepare a client; nothing is sent until a method is called.

        ``host`` is a hostname or IP address, with an optional ``:port``. ``serial``, when
        given, is the gateway expected there: ``/info`` naming another raises
        IQGatewayWrongGatewayError. ``scheme`` is found by ``detect()`` when not given.
        ``retry``: give a reset or timed-out request its one quick retry (off where an
        answer is wanted soon, such as a form a user waits on). ``clock`` (UNIX seconds)
        times the slow cadences and the age of live data. ``live_interval``: seconds
        between two reads of live data (by ``poll()`` or ``poll_power()``), which sets
        when it is stale and when the live stream is switched on again. ``timer`` bounds
        each request (connection, answer and body) by its timeout: ``asyncio.timeout``
        unless a test brings a time of its own (see ``Timer``).
        """
        self.host = host
        self.serial = serial
        self.scheme = scheme
        self._session = session
        self._token = token
        self._request_timeout = request_timeout
        self._slow_request_timeout = slow_request_timeout
        self._retry_delay = retry_delay
        self._retry = retry
        self._clock = clock
        self._timer = timer
        self._lock: asyncio.Lock | None = None  # the gateway's, taken at the first request
        self._session_open = False
        self._sessions_usable = True
        self._token_accepted = False  # /auth/check_jwt accepted the current token
        self.info: GatewayInfo | None = None
        self.probe_result: ProbeResult | None = None
        self._probe_due = False  # a probe is to run before the next poll
        self.schedule = Schedule()  # when each failing endpoint is asked again
        self._no_answer: set[Endpoint[Any]] = set()  # got no answer when last asked: asked last
        self._confirmed: set[Endpoint[Any]] = set()  # answered well since the last probe
        self._known: dict[Endpoint[Any], Any] = {}
        self._answered_ever: set[Endpoint[Any]] = set()  # answered well since setup
        self._reading: tuple[Endpoint[Any], float] | None = None  # the read under way
        self._raw: dict[Endpoint[Any], RawBody] = {}
        self._read_at: dict[Endpoint[Any], float] = {}
        self._live_interval = live_interval
        self._stream_switched: float | None = None  # when we last switched the stream on
        self._stream_retry_at: float | None = None  # while refused: when to ask again
        self._stream_refused = False  # a refusal was logged (and its end will be)
        self._stream_lock = asyncio.Lock()  # one switch at a time (a power tick beside a poll)
        self._live_stale = False  # what was last logged about the live data's age

    # ------------------------------------------------------------------ token

    @property
    def token(self) -> str | None:
        """The bearer token in use."""
        return self._token

    def set_token(self, token: str | None) -> None:
        """Use another token from the next request on (the session is reopened)."""
        if token != self._token:
            self._token = token
            self._token_accepted = False
            self._stream_retry_at = None  # the new token may have the right to switch it
            self._drop_session()

    def _drop_session(self) -> None:
        self._session_open = False
        self._session.cookie_jar.clear(lambda morsel: morsel.key == SESSION_COOKIE)

    def _has_session_cookie(self) -> bool:
        cookies = self._session.cookie_jar.filter_cookies(self._base_url())
        return SESSION_COOKIE in cookies

    async def check_jwt(self) -> None:
        """Have the gateway validate the token now and open a cookie session.

        Raises IQGatewayAuthenticationError when the gateway refuses the token.
        """
        async with self._serialized():
            self._drop_session()
            await self._open_session(validate=True)

    async def _open_session(self, *, validate: bool = False) -> None:
        """Validate the token once; the answer carries the ``sessionId`` cookie.

        Where sessions cannot work (no ``/auth/check_jwt`` on this firmware, or a cookie
        jar that drops the cookie) every request just carries the token; ``validate`` asks
        ``/auth/check_jwt`` all the same, to learn whether the token is accepted.
        """
        if not self._sessions_usable and not validate:
            return
        self._token_accepted = False
        try:
            await self._send(CHECK_JWT, authenticated=True)
        except IQGatewayResponseError as err:
            if err.status != 404:
                raise
            self._sessions_usable = False
            return
        self._token_accepted = True
        if not self._has_session_cookie():
            _LOGGER.debug("No %s cookie kept: the token goes with every request", SESSION_COOKIE)
            self._sessions_usable = False
            return
        self._session_open = True

    # ------------------------------------------------------------------ /info

    async def detect(self) -> GatewayInfo:
        """Read ``/info``, finding whether the gateway speaks HTTPS or only HTTP.

        Raises IQGatewayUnsupportedError when the host answers but is not an IQ Gateway,
        IQGatewayConnectionError when nothing answers.
        """
        if self.scheme is not None:
            return await self._read_info()
        refused: IQGatewayConnectionError | None = None
        answered: IQGatewayError | None = None
        # A gateway known to use tokens is never asked over plain HTTP: whatever answers
        # there (claiming old firmware, say) would be sent the token next.
        for scheme in ("https",) if self._uses_tokens else ("https", "http"):
            self.scheme = scheme
            try:
                info = await self._read_info()
            except IQGatewayTimeoutError:
                self.scheme = None
                raise  # something listens but does not answer: no use trying the other
            except IQGatewayWrongGatewayError:
                raise
            except IQGatewayConnectionError as err:
                refused = err
                continue
            except IQGatewayError as err:
                answered = err
                continue
            if scheme == "http" and info.tokens_required:
                # Token firmware serves its API over HTTPS only; port 80 at best redirects.
                self.scheme = "https"
            return info
        self.scheme = None
        if answered is not None:
            raise IQGatewayUnsupportedError(
                "the host answers, but not as an IQ Gateway"
            ) from answered
        assert refused is not None
        raise refused

    @property
    def _uses_tokens(self) -> bool:
        """A token is in hand, or the gateway said it wants one."""
        return self._token is not None or (self.info is not None and self.info.tokens_required)

    async def _read_info(self) -> GatewayInfo:
        info = await self.get(INFO)
        if self.serial is not None and info.serial != self.serial:
            del self._read_at[INFO]  # not ours: read it again at the next poll
            raise IQGatewayWrongGatewayError(expected=self.serial, found=info.serial)
        self.info = info
        return info

    async def _refresh_info(self) -> None:
        """Read ``/info`` again; probe again after a firmware update or a shaky probe.

        A firmware update to 7 or newer turns token authentication on and closes (or
        redirects) plain HTTP: the scheme found at setup no longer works. Only then is the
        scheme looked for again; a gateway on HTTPS that does not answer is just down.
        """
        previous = self.info
        if self.scheme is None:  # lost while looking for it last time
            info = await self.detect()
        else:
            try:
                info = await self._read_info()
            except IQGatewayConnectionError:
                if self.scheme != "http":
                    raise
                self.scheme = None
                info = await self.detect()
        if self.scheme == "http" and info.tokens_required:
            self.scheme = "https"
        if previous is not None and previous.firmware != info.firmware:
            _LOGGER.info(
                "IQ Gateway %s updated its firmware from %s to %s: probing its endpoints again",
                info.serial,
                previous.firmware,
                info.firmware,
            )
        elif self.probe_result is not None and self.probe_result.settled:
            return
        # Probe again: after a firmware update, when an endpoint refused the token at the
        # last probe, or when one answered with nothing measured yet (batteries
        # commissioned later, a CT enabled later): what they start to report appears
        # without a restart. (One that failed is asked by the polls, on its schedule.)
        # Until a probe succeeds, the next poll tries again (the last result stands).
        self._probe_due = True

    # ------------------------------------------------------------------ endpoints

    async def get[T](self, endpoint: Endpoint[T], *, retry_timeout: bool = True) -> T:
        """Request one endpoint and parse its body.

        ``retry_timeout``: a timeout gets the one quick retry other transient failures get.
        """
        raw = await self._request(
            endpoint, authenticated=endpoint is not INFO, retry_timeout=retry_timeout
        )
        body = endpoint.parse(raw)
        self._raw[endpoint] = raw
        self._read_at[endpoint] = self._clock()
        return body

    def raw_bodies(self) -> dict[str, RawBody]:
        """The latest body of every endpoint that answered, by path (for diagnostics)."""
        return {str(endpoint): raw for endpoint, raw in self._raw.items()}

    # ------------------------------------------------------------------ probe and poll

    async def setup(self) -> GatewayInfo:
        """Identify the gateway and find which endpoints it answers."""
        info = await self.detect()
        await self.probe()
        return info

    async def probe(self) -> ProbeResult:
        """Ask every endpoint a poll may need once, and keep those that answer.

        Run at setup (and again after a firmware update), so that polls ask only for what
        this gateway has. Authentication failures are raised: a probe with a bad token
        would wrongly conclude that nothing is supported. What a failure means is the
        scheduler's to say (``scheduler.judge``): what times out, loses its connection,
        fails with a server error or answers with a garbled body is ``retry``, asked
        again by the polls with the scheduler's backoff; after PROBE_NO_ANSWERS requests
        without an answer nothing more is asked, so a stalled gateway costs a few
        requests' time, and the rest is asked again by the next poll too. An endpoint
        polled until now that a probe again could not ask, or that failed, stays polled
        (failing, see ``poll()``). Should nothing answer, the last error
        (IQGatewayTimeoutError, IQGatewayConnectionError, or IQGatewayResponseError) is
        raised and the previous result stands: a busy gateway is not a gateway without
        endpoints.
        """
        if self._token is not None:
            await self.check_jwt()  # a refused token is an error, not "nothing supported"
        elif self.info is not None and self.info.tokens_required:
            # Updated to token firmware since it was set up without one: every endpoint
            # would refuse, which is not "nothing supported" either.
            raise IQGatewayAuthenticationError("the gateway now wants a token")
        now = self._clock()
        verdicts = _Verdicts()
        await self._ask([ep for ep in POLLED if not ep.last_resort], verdicts)
        last_resorts = [ep for ep in POLLED if ep.last_resort and ep.wanted(verdicts.found)]
        if verdicts.unanswered:
            verdicts.unanswered.update(last_resorts)  # asked with what they stand in for
        else:
            await self._ask(last_resorts, verdicts)
        unsure = verdicts.retry | verdicts.unanswered
        if not verdicts.found and unsure:
            if verdicts.no_answer:
                raise list(verdicts.no_answer.values())[-1]
            raise IQGatewayResponseError("the gateway answered no endpoint: asked again later")
        self._confirmed = set(verdicts.found)
        self._answered_ever |= self._confirmed
        kept: set[Endpoint[Any]] = set()
        if self.probe_result is not None:
            kept = set(self.probe_result.supported & unsure & self._known.keys())
            verdicts.found.update((endpoint, self._known[endpoint]) for endpoint in kept)
        self._known = verdicts.found
        self._no_answer = set(verdicts.no_answer)
        # What failed waits for the schedule; what was not asked (the gateway stalled) is
        # asked by the next poll.
        self.schedule.forget(set(POLLED) - verdicts.retry)
        for endpoint in verdicts.retry:
            self.schedule.failed(endpoint, now, answered_ever=endpoint in self._answered_ever)
        self.probe_result = ProbeResult(
            frozenset(verdicts.found),
            frozenset(unsure - kept),
            frozenset(verdicts.empty),
        )
        return self.probe_result

    async def _ask(self, endpoints: Sequence[Endpoint[Any]], verdicts: _Verdicts) -> None:
        """Probe ``endpoints`` in turn, sorting each into ``verdicts`` (``scheduler.judge``).

        One that is refused although the token was accepted (or none is used) needs other
        credentials and is left out. A timeout is not retried (the endpoint is asked again
        later anyway); after PROBE_NO_ANSWERS requests without an answer the rest is left
        unasked.
        """
        for index, endpoint in enumerate(endpoints):
            if len(verdicts.no_answer) >= PROBE_NO_ANSWERS:
                verdicts.unanswered.update(endpoints[index:])
                return
            try:
                body = await self.get(endpoint, retry_timeout=False)
            except IQGatewayError as err:
                verdict = judge(err, token_accepted=self._endpoint_refusals_own())
                if verdict is Verdict.CREDENTIALS:
                    raise  # /auth/check_jwt did not accept it: the token itself is refused
                if verdict is Verdict.FAILING:
                    verdicts.retry.add(endpoint)
                    if isinstance(err, IQGatewayConnectionError):
                        verdicts.no_answer[endpoint] = err
                continue
            if endpoint.reports_nothing(body):
                verdicts.empty.add(endpoint)
            else:
                verdicts.found[endpoint] = body

    def _endpoint_refusals_own(self) -> bool:
        """A refusal now is the endpoint's, not the token's: it was accepted, or none is used."""
        return self._token is None or self._token_accepted

    def polled(self) -> tuple[Endpoint[Any], ...]:
        """The endpoints a poll asks (or reuses, on a slow cadence), in order."""
        if self.probe_result is None:
            return ()
        supported = self.probe_result.supported
        return tuple(ep for ep in POLLED if ep in supported and self._wanted(ep))

    def _wanted(self, endpoint: Endpoint[Any]) -> bool:
        """Whether ``endpoint`` is of use now, judged on the latest answers.

        Live data that is out of date counts as none: what stands in for it where it is
        fresh (the IQ Batteries' power in ``/ivp/ensemble/power``) is read instead, for
        instance where the gateway refuses to switch its live stream on.
        """
        known = self._known
        live: LiveData | None = known.get(LIVEDATA)
        if live is not None and self._is_stale(live, logged=False):
            known = {ep: body for ep, body in known.items() if ep is not LIVEDATA}
        return endpoint.wanted(known)

    async def poll(
        self,
        *,
        live_stream: bool = False,
        skip: Collection[Endpoint[Any]] = (),
        deadline: float | None = None,
    ) -> GatewayData:
        """Read every endpoint this gateway is polled for, in one pass, and parse them.

        The first poll identifies the gateway and probes it; ``/info`` is read again every
        few hours. What a failed request means is ``scheduler.judge``'s to say, as at the
        probe: an endpoint that times out, loses its connection, fails with a server
        error or answers with a garbled body is missing from the result (``failing``),
        the rest of the poll goes on, and it is asked again with the scheduler's backoff
        until it answers. Only when nothing answers is the poll's last error raised: the
        gateway is down or overloaded (after PROBE_NO_ANSWERS requests without an answer
        and none answered, nothing more is asked). An endpoint that refuses a token
        ``/auth/check_jwt`` has just accepted is dropped from the polls until the next
        probe asks again. Other authentication errors are raised.
        ``live_stream``: live data is wanted (live sensors are shown), so the gateway's
        live stream is kept on; it is also where a site value reads live data.
        ``skip``: on-demand endpoints (``Endpoint.on_demand``) the caller shows nothing
        of. They are left out of this poll, as if not polled here; any other endpoint in
        ``skip`` is read all the same (site values may need it).
        ``deadline`` (seconds) bounds the reading of the endpoints: past it, the request
        under way is cancelled (its connection closed, the gateway's lock released) and
        IQGatewayTimeoutError is raised. A setup or probe due first is not counted in it:
        it is bounded by its requests' timeouts (see ``probe()``).
        """
        await self._prepare()
        self._reading = None
        try:
            return await _within(deadline, self._poll(live_stream, skip))
        except IQGatewayTimeoutError:
            self._cut_off()
            raise

    async def _prepare(self) -> None:
        """Identify and probe the gateway when due, before a poll (and outside its deadline).

        A probe stops after PROBE_NO_ANSWERS requests without an answer, so a stalled
        gateway costs a few requests' timeouts here, never one per endpoint.
        """
        if self.info is None or self.probe_result is None:
            await self.setup()
            self._probe_due = False
            return
        if self._due(INFO, INFO_REFRESH):
            try:
                await self._refresh_info()
            except (
                IQGatewayConnectionError,
                IQGatewayResponseError,
                IQGatewayUnsupportedError,
            ) as err:
                if self.scheme is None:
                    raise  # the gateway's scheme is lost: nothing can be read
                # /info failing alone is not the gateway failing (the poll tells that):
                # the serial and firmware stand, and /info is read again in a while.
                _LOGGER.debug(
                    "IQ Gateway %s: /info failed (%s): read again later", self._name(), err
                )
                self._read_at[INFO] = self._clock() - INFO_REFRESH.total_seconds() + RETRY_FIRST
        if self._probe_due:
            await self.probe()
            self._probe_due = False

    async def _poll(self, live_stream: bool, skip: Collection[Endpoint[Any]]) -> GatewayData:
        assert self.info is not None
        assert self.probe_result is not None
        probe, now = self.probe_result, self._clock()
        polled = tuple(ep for ep in self.polled() if not (ep.on_demand and ep in skip))
        # What failed at the probe is asked too, when the schedule says so; what got no
        # answer the last time it was asked is asked last, holding none of the others back.
        order = sorted(
            (
                ep
                for ep in POLLED
                if (ep in polled or ep in probe.retry) and not (ep.on_demand and ep in skip)
            ),
            key=lambda ep: ep in self._no_answer,
        )
        live = self._live_wanted(live_stream)
        bodies: dict[Endpoint[Any], Any] = {}
        read: set[Endpoint[Any]] = set()
        asked: set[Endpoint[Any]] = set()
        refused: dict[Endpoint[Any], IQGatewayAuthenticationError] = {}
        failed: dict[Endpoint[Any], IQGatewayError] = {}
        gone: set[Endpoint[Any]] = set()
        for endpoint in order:
            # What the probe could not tell is asked as the probe asks: whether of use now
            # or not (but for what stands in for others), so that it is known.
            wanted = self._wanted(endpoint)
            if not (wanted or (endpoint in probe.retry and not endpoint.last_resort)):
                continue  # an answer earlier in this poll says it is of no use now
            if endpoint in self._known and not self._due(endpoint, endpoint.refresh):
                bodies[endpoint] = self._known[endpoint]
                continue
            if not self.schedule.due(endpoint, now):
                self._keep_last(endpoint, bodies)  # failing: asked again later
                continue
            no_answers = sum(isinstance(err, IQGatewayConnectionError) for err in failed.values())
            if not read and no_answers >= PROBE_NO_ANSWERS:
                break  # nothing answers: the gateway is down, asking more adds load
            asked.add(endpoint)
            try:
                # A timeout of an endpoint that is failing already is not retried at
                # once: it is asked again later anyway.
                retry = endpoint not in self.schedule.failing
                body = await self._read(endpoint, live=live, retry_timeout=retry)
            except IQGatewayError as err:
                verdict = judge(
                    err,
                    token_accepted=self._token is not None and self._token_accepted,
                    answered_before=endpoint in self._confirmed,
                )
                if verdict is Verdict.CREDENTIALS:
                    raise  # the token itself (or no token) is refused
                if verdict is Verdict.REFUSED and isinstance(err, IQGatewayAuthenticationError):
                    refused[endpoint] = err
                elif verdict is Verdict.FAILING:
                    failed[endpoint] = err
                else:
                    gone.add(endpoint)  # not answered since the probe, and says it is not there
                self._keep_last(endpoint, bodies)
                continue
            read.add(endpoint)
            if wanted:
                bodies[endpoint] = body
        if refused and set(refused) == asked:
            raise next(iter(refused.values()))  # all of them: not a matter of endpoints
        if asked and not read and failed:
            # Nothing answered: the gateway is down (or overloaded), not its endpoints.
            # No endpoint is held to it: all are asked again at the next poll.
            self._no_answer = {
                ep for ep, err in failed.items() if isinstance(err, IQGatewayConnectionError)
            }
            raise list(failed.values())[-1]
        if refused:
            self._drop_refused(frozenset(refused))
        self._judged(now, bodies, read, failed, gone)
        polled = tuple(ep for ep in self.polled() if not (ep.on_demand and ep in skip))
        return self._data(frozenset(polled), bodies, frozenset(read), live=live)

    def _keep_last(self, endpoint: Endpoint[Any], bodies: dict[Endpoint[Any], Any]) -> None:
        """Keep the last answer of what describes the installation through a failure.

        That is what is sticky or read on a slow cadence; anything else has no value until
        it answers again.
        """
        if (endpoint.sticky or endpoint.refresh) and endpoint in self._known:
            bodies[endpoint] = self._known[endpoint]

    def _judged(
        self,
        now: float,
        bodies: dict[Endpoint[Any], Any],
        read: set[Endpoint[Any]],
        failed: Mapping[Endpoint[Any], IQGatewayError],
        gone: set[Endpoint[Any]],
    ) -> None:
        """Record what this poll learned of each endpoint it asked (something answered).

        A failing endpoint waits for the schedule; one that answers again is polled again,
        and one that failed at the probe joins the polled ones (or, measuring nothing,
        the empty ones, asked again at the next probe).
        """
        assert self.probe_result is not None
        probe = self.probe_result
        for endpoint, err in failed.items():
            if endpoint not in self.schedule.failing:
                _LOGGER.info(
                    "IQ Gateway %s: %s failed (%s): its values are unavailable until it "
                    "answers again (asked again at the next polls)",
                    self._name(),
                    endpoint,
                    err,
                )
            else:
                _LOGGER.debug("%s failed again: %s", endpoint, err)
            self.schedule.failed(endpoint, now, answered_ever=endpoint in self._answered_ever)
        self._no_answer = (self._no_answer - read) | {
            ep for ep, err in failed.items() if isinstance(err, IQGatewayConnectionError)
        }
        self._confirmed |= read
        self._answered_ever |= read
        found: set[Endpoint[Any]] = set()
        empty: set[Endpoint[Any]] = set()
        for endpoint in read:
            if self.schedule.answered(endpoint) and endpoint in probe.supported:
                _LOGGER.info("IQ Gateway %s: %s answers again", self._name(), endpoint)
            if endpoint in probe.retry:
                if endpoint.reports_nothing(self._known[endpoint]):
                    empty.add(endpoint)
                    bodies.pop(endpoint, None)
                    self._known.pop(endpoint, None)
                else:
                    found.add(endpoint)
        self.schedule.forget(gone)
        for endpoint in gone:
            self._known.pop(endpoint, None)
            bodies.pop(endpoint, None)
        if found or empty or gone:
            self.probe_result = ProbeResult(
                (probe.supported - gone) | found,
                probe.retry - found - empty - gone,
                probe.empty | empty,
                probe.refused,
            )

    def _drop_refused(self, refused: frozenset[Endpoint[Any]]) -> None:
        """Stop polling endpoints that refuse a token the gateway accepts.

        A firmware update may make an endpoint installer-only. Like the probe, the poll
        then does without it; unlike the probe's, the verdict is not final: the next probe
        (with the next ``/info`` reading) asks again.
        """
        assert self.probe_result is not None
        _LOGGER.info(
            "The IQ Gateway accepts the token but %s refuse%s it: polled without until the "
            "next probe",
            ", ".join(sorted(map(str, refused))),
            "s" if len(refused) == 1 else "",
        )
        probe = self.probe_result
        self.probe_result = ProbeResult(
            probe.supported - refused, probe.retry, probe.empty, probe.refused | refused
        )

    async def poll_power(
        self, previous: GatewayData, *, live_stream: bool = False, deadline: float | None = None
    ) -> GatewayData:
        """The fast power lane: read again only what power values come from.

        That is each polled endpoint marked ``power`` (CT readings, the IQ Batteries'
        power, and live data where it is wanted: see ``poll()``), laid over ``previous``
        (the last poll's data), so everything else stays as the last poll read it. Nothing
        is read before the first poll. Failures are judged as ``poll()`` judges them: a
        failing endpoint is unavailable and asked again by the main poll only, the
        others go on (whether the gateway is down is the main poll's to tell); a refused
        token is raised. ``deadline`` bounds it as it does a poll.
        """
        self._reading = None
        try:
            return await _within(deadline, self._poll_power(previous, live_stream))
        except IQGatewayTimeoutError:
            self._cut_off()
            raise

    def _cut_off(self) -> None:
        """A deadline ended the read under way: that endpoint is failing, like a timeout.

        Else the next poll (or tick) would wait on it again, and with a deadline shorter
        than its timeout (a short interval, the power lane) every one would end the same
        way, while the other endpoints answer.
        """
        if (reading := self._reading) is None:
            return  # not a read that was cut off (nothing answered: the gateway is down)
        self._reading = None
        endpoint, started = reading
        if endpoint not in self.schedule.failing:
            _LOGGER.info(
                "IQ Gateway %s: %s did not answer before the poll's deadline: its values are "
                "unavailable until it answers again",
                self._name(),
                endpoint,
            )
        self._no_answer.add(endpoint)
        self.schedule.failed(endpoint, started, answered_ever=endpoint in self._answered_ever)

    async def _poll_power(self, previous: GatewayData, live_stream: bool) -> GatewayData:
        if self.info is None or self.probe_result is None:
            return previous
        now = self._clock()
        live = self._live_wanted(live_stream)
        bodies = {**previous.stale, **previous.bodies}
        read: set[Endpoint[Any]] = set()
        failed: dict[Endpoint[Any], IQGatewayError] = {}
        for endpoint in self.polled():
            if not endpoint.power or (endpoint is LIVEDATA and not live):
                continue
            if endpoint in self.schedule.failing:
                # Unavailable until it answers again; the main poll asks it (a tick that
                # waited on it would hold every power value back).
                bodies.pop(endpoint, None)
                continue
            try:
                bodies[endpoint] = await self._read(endpoint, live=live)
                read.add(endpoint)
            except IQGatewayError as err:
                verdict = judge(
                    err,
                    token_accepted=self._token is not None and self._token_accepted,
                    answered_before=True,  # polled: it answered the probe or a poll
                )
                if verdict is not Verdict.FAILING:
                    raise  # a refusal: the next main poll judges it
                _LOGGER.debug("%s failed this power update: %s", endpoint, err)
                bodies.pop(endpoint, None)
                failed[endpoint] = err
        if not read and not failed:
            return previous
        # A failing endpoint is unavailable, the others go on; whether the gateway is
        # down is the main poll's to tell (the lane follows it).
        self._judged(now, bodies, read, failed, set())
        return self._data(previous.polled | read, bodies, frozenset(read), live=live)

    async def _read(
        self, endpoint: Endpoint[Any], *, live: bool, retry_timeout: bool = True
    ) -> Any:
        """Read one endpoint for a poll, keeping the live stream on before live data."""
        if endpoint is LIVEDATA and live:
            await self._keep_live_stream()
        # Left set if the read is cancelled: a deadline's _cut_off() reads it.
        self._reading = (endpoint, self._clock())
        try:
            body = self._known[endpoint] = await self.get(endpoint, retry_timeout=retry_timeout)
        except IQGatewayError:
            self._reading = None
            raise
        self._reading = None
        return body

    def _data(
        self,
        polled: frozenset[Endpoint[Any]],
        bodies: dict[Endpoint[Any], Any],
        read: frozenset[Endpoint[Any]],
        *,
        live: bool,
    ) -> GatewayData:
        """The result of a poll, with live data set aside where it is stale."""
        assert self.info is not None
        stale: dict[Endpoint[Any], Any] = {}
        if (body := bodies.get(LIVEDATA)) is not None and self._is_stale(body, logged=live):
            stale[LIVEDATA] = bodies.pop(LIVEDATA)
        failing = self.schedule.failing
        if self.probe_result is not None:
            failing |= self.probe_result.retry
        return GatewayData(
            info=self.info,
            polled=polled,
            bodies=bodies,
            enabled_cts=enabled_cts(self._known),
            read=read,
            stale=stale,
            failing=frozenset(failing - bodies.keys() - stale.keys()),
        )

    def _due(self, endpoint: Endpoint[Any], every: timedelta | None) -> bool:
        """Whether ``endpoint`` is to be read now (``every`` None: at every poll)."""
        read_at = self._read_at.get(endpoint)
        if every is None or read_at is None:
            return True
        return self._clock() - read_at >= every.total_seconds()

    # ------------------------------------------------------------------ live data

    def _live_wanted(self, live_stream: bool) -> bool:
        """Live data is wanted: the caller shows it, or a site value reads it."""
        if live_stream:
            return True
        if LIVEDATA not in self._known or self.info is None:
            return False
        known = GatewayData(
            info=self.info,
            polled=frozenset(self.polled()),
            bodies=self._known,
            enabled_cts=enabled_cts(self._known),
        )
        return site_values.reads_live_data(known)

    async def _keep_live_stream(self) -> None:
        """Switch the live stream on where it is off or would lapse before the next read.

        A refusal (some firmware lets only installer tokens switch it on) or an error
        answer is logged once and asked again after STREAM_RETRY (or with a new token);
        live data then stays as fresh as the gateway keeps it by itself. While one read
        switches it on, another (a power tick beside a poll) waits for that switch rather
        than sending its own, and sends it only if that one was cut short.
        """
        async with self._stream_lock:
            await self._switch_stream_when_due()

    async def _switch_stream_when_due(self) -> None:
        now = self._clock()
        if self._stream_retry_at is not None and now < self._stream_retry_at:
            return
        switched = self._stream_switched
        if switched is not None and now - switched < STREAM_MIN_GAP:
            return
        last: LiveData | None = self._known.get(LIVEDATA)
        left = switched + STREAM_LIFETIME - now if switched is not None else 0.0
        if last is not None and last.streaming and left > STREAM_RENEW_AHEAD * self._live_interval:
            return
        body: dict[str, JSON] = {"enable": 1}
        try:
            await self._request(LIVE_STREAM, authenticated=True, json=body)
        except (IQGatewayAuthenticationError, IQGatewayResponseError) as err:
            if isinstance(err, IQGatewayAuthenticationError) and not self._token_accepted:
                raise  # the token itself is refused, not just the switch
            if not self._stream_refused:
                self._stream_refused = True
                _LOGGER.warning(
                    "IQ Gateway %s refused to switch its live stream on (%s): live values "
                    "are unavailable while its live data is out of date. Some firmware lets "
                    "only installer tokens switch it on",
                    self._name(),
                    err,
                )
            self._stream_retry_at = now + STREAM_RETRY.total_seconds()
            return
        if self._stream_refused:
            self._stream_refused = False
            _LOGGER.info("IQ Gateway %s switched its live stream on", self._name())
        self._stream_retry_at = None
        self._stream_switched = now

    def _is_stale(self, live: LiveData, *, logged: bool) -> bool:
        """Whether live data is older than two reading intervals (the change is logged)."""
        if live.last_update is None:
            return False  # no time given: nothing says it is old
        age = self._clock() - live.last_update.timestamp()
        stale = age > max(2 * self._live_interval, LIVE_MAX_AGE_MIN)
        if logged and stale != self._live_stale:
            self._live_stale = stale
            if stale and not self._stream_refused:  # else the refusal said why
                _LOGGER.info(
                    "Live data of IQ Gateway %s is %.0f s old: its live values are "
                    "unavailable until the gateway refreshes it",
                    self._name(),
                    age,
                )
            elif not stale:
                _LOGGER.info("Live data of IQ Gateway %s is fresh again", self._name())
        return stale

    def _name(self) -> str:
        return self.info.serial if self.info is not None else self.host

    # ------------------------------------------------------------------ transport

    def _base_url(self) -> URL:
        return gateway_url(self.scheme or "https", self.host)

    def _serialized(self) -> asyncio.Lock:
        """The lock every request to this gateway takes, whichever client sends it."""
        if self._lock is None:
            self._lock = gateway_lock(self.host, self.serial)
        return self._lock

    async def _request(
        self,
        endpoint: Endpoint[Any],
        *,
        authenticated: bool,
        json: Mapping[str, JSON] | None = None,
        retry_timeout: bool = True,
    ) -> RawBody:
        """GET ``endpoint`` (POST ``json`` to it) in turn with every other request to it.

        With a token: opens the cookie session first if needed, and after a refusal drops
        the session and tries once more before raising IQGatewayAuthenticationError.
        """
        authenticated = authenticated and self._token is not None
        send = partial(self._send, endpoint, json=json, retry_timeout=retry_timeout)
        async with self._serialized():
            if not authenticated:
                return await send(authenticated=False)
            if not self._session_open or not self._has_session_cookie():
                self._session_open = False
                await self._open_session()
            try:
                return await send(authenticated=True)
            except IQGatewayAuthenticationError:
                pass
            # The session may have lapsed on the gateway: reopen it once.
            self._drop_session()
            await self._open_session()
            return await send(authenticated=True)

    async def _send(
        self,
        endpoint: Endpoint[Any],
        *,
        authenticated: bool,
        json: Mapping[str, JSON] | None = None,
        retry_timeout: bool = True,
    ) -> RawBody:
        """One request, with one quick retry on a connection reset (or a timeout)."""
        try:
            return await self._send_once(endpoint, authenticated=authenticated, json=json)
        except IQGatewayConnectionError as err:
            timeout = isinstance(err, IQGatewayTimeoutError)
            if not self._retry or not err.transient or (timeout and not retry_timeout):
                raise
            _LOGGER.debug("Retrying %s once after: %s", endpoint, err)
        await asyncio.sleep(self._retry_delay)
        return await self._send_once(endpoint, authenticated=authenticated, json=json)

    async def _send_once(
        self,
        endpoint: Endpoint[Any],
        *,
        authenticated: bool,
        json: Mapping[str, JSON] | None = None,
    ) -> RawBody:
        """One GET (POST of ``json``); its body read, and inflated, up to MAX_BODY bytes.

        The token and the session cookie never go over plain HTTP. Errors are raised
        after aiohttp's have been handled, so that none carries the request's headers.
        """
        if self.scheme is None:
            raise IQGatewayConnectionError("call detect() first: the gateway's scheme is unknown")
        url = gateway_url(self.scheme, self.host, endpoint.path)
        headers = {
            "Accept": "*/*" if endpoint is INFO else "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        if url.scheme != "https":
            if authenticated and self._token:
                raise IQGatewayConnectionError(f"{endpoint}: the token only goes over HTTPS")
            self._drop_session()  # nor does the session cookie
        elif authenticated and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        timeout = self._slow_request_timeout if endpoint.slow else self._request_timeout
        failure: IQGatewayConnectionError | None = None
        try:
            async with (
                self._timer(timeout),
                self._session.request(
                    "GET" if json is None else "POST",
                    url,
                    headers=headers,
                    json=json,
                    ssl=False,
                    allow_redirects=False,
                    auto_decompress=False,  # inflated here, within MAX_BODY
                    timeout=_NO_AIOHTTP_TIMEOUT,
                ) as response,
            ):
                status = response.status
                content_type = response.headers.get("Content-Type")
                encoding = response.headers.get("Content-Encoding", "")
                data = await _read_body(response.content, endpoint)
        except TimeoutError:
            failure = IQGatewayTimeoutError(f"{endpoint} timed out after {timeout:.0f} s")
        except aiohttp.ClientError as err:
            # aiohttp resends only GETs by itself (see _resends_dropped_requests).
            resent = json is None and _resends_dropped_requests(self._session)
            failure = IQGatewayConnectionError(
                f"{endpoint}: cannot talk to the gateway ({type(err).__name__})",
                transient=_is_transient(err, resent=resent),
            )
        if failure is not None:
            raise failure  # outside the handler: aiohttp's error is neither cause nor context
        body = _inflate(data, encoding, endpoint).decode("utf-8", errors="replace")
        if status in (401, 403):
            raise IQGatewayAuthenticationError(
                f"{endpoint} refused the token (HTTP {status})", status=status
            )
        if status != 200:
            raise IQGatewayResponseError(f"{endpoint} answered HTTP {status}", status=status)
        return RawBody(path=endpoint.path, status=status, content_type=content_type, body=body)


async def _within[T](deadline: float | None, work: Awaitable[T]) -> T:
    """``work``, cancelled past ``deadline`` seconds (None: no limit) as a timeout."""
    if deadline is None:
        return await work
    try:
        async with asyncio.timeout(deadline):
            return await work
    except TimeoutError:
        pass
    raise IQGatewayTimeoutError(f"the poll did not end within {deadline:.0f} s")


_LOCKS: weakref.WeakValueDictionary[tuple[asyncio.AbstractEventLoop, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def gateway_lock(host: str, serial: str | None = None) -> asyncio.Lock:
    """The one lock of a gateway, shared by every client of it in this event loop.

    A config flow reading ``/info`` or proving a token makes a client of its own while the
    entry's client polls: both take this lock, so the gateway sees one request at a time.
    A gateway is known by its host and, once known, its serial: a client that knows the
    serial shares the lock of any other that knows it, however it spells the host. The
    lock of a host that another serial holds is not taken (addresses change hands).
    """
    loop = asyncio.get_running_loop()
    host_key, serial_key = (loop, host.strip().lower()), (loop, f"serial:{serial}")
    lock = _LOCKS.get(serial_key) if serial else None
    if lock is None and (by_host := _LOCKS.get(host_key)) is not None:
        held_by_another = any(
            key[0] is loop and key[1].startswith("serial:") and found is by_host
            for key, found in _LOCKS.items()
        )
        if not (serial and held_by_another):
            lock = by_host
    if lock is None:
        lock = asyncio.Lock()
    _LOCKS[host_key] = lock
    if serial:
        _LOCKS[serial_key] = lock
    return lock


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)


def gateway_url(scheme: str, host: str, path: str = "") -> URL:
    """The URL of ``path`` on the gateway at ``host``.

    ``host`` is a host name, or an IPv4 or IPv6 address (bare, or in brackets), each with
    an optional ``:port``. Anything else (a user or password, which would be sent as Basic
    auth, a path, query or fragment, a label IDNA refuses) raises IQGatewayConnectionError,
    whose message does not repeat the host string (it may hold a password).
    """
    text = host.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    with suppress(ValueError):
        ipaddress.ip_address(bare)
        return URL.build(scheme=scheme, host=bare, path=path)
    url: URL | None = None
    if text and not any(char in text for char in "@/?#\\%"):
        try:
            parsed = URL(f"{scheme}://{text}")
            name, port = parsed.raw_host or "", parsed.explicit_port
            if is_ip_address(name) or (
                len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))
            ):
                url = URL.build(scheme=scheme, host=name, port=port, path=path)
        except (ValueError, UnicodeError, TypeError):
            url = None
    if url is None:
        raise IQGatewayConnectionError("the gateway's host is not a host name or address")
    return url


def is_ip_address(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (without brackets or port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def _read_body(content: aiohttp.StreamReader, endpoint: Endpoint[Any]) -> bytes:
    """The body as sent, refused past MAX_BODY bytes (nothing more is read)."""
    data = bytearray()
    async for chunk in content.iter_chunked(_READ_CHUNK):
        data += chunk
        if len(data) > MAX_BODY:
            raise _too_large(endpoint)
    return bytes(data)


def _inflate(data: bytes, encoding: str, endpoint: Endpoint[Any]) -> bytes:
    """The body decompressed, never beyond MAX_BODY bytes (a gzip bomb stops there).

    Only what was asked for is accepted: gzip or deflate (with a zlib header or, as some
    servers send it, without).
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise IQGatewayResponseError(f"{endpoint} answered in an encoding it was not asked for")
    for wbits in (47, -15) if encoding == "deflate" else (47,):  # 47: a gzip or zlib header
        inflater = zlib.decompressobj(wbits)
        try:
            body = inflater.decompress(data, MAX_BODY + 1)
        except zlib.error:
            continue
        if len(body) > MAX_BODY or inflater.unconsumed_tail:
            raise _too_large(endpoint)
        return body
    raise IQGatewayResponseError(
        f"{endpoint} answered with a body that does not decompress", garbled=True
    )


def _too_large(endpoint: Endpoint[Any]) -> IQGatewayResponseError:
    return IQGatewayResponseError(f"{endpoint} answered with more than {MAX_BODY} bytes")


def _is_transient(err: aiohttp.ClientError, *, resent: bool) -> bool:
    """A reset mid-request is worth one retry; a refused connection is not.

    ``resent``: the session has already sent the request a second time when the connection
    dropped before the answer began, so that failure has had its one retry.
    """
    if isinstance(err, aiohttp.ClientConnectorError):
        return False
    if isinstance(err, aiohttp.ClientPayloadError):
        return True  # the body was cut off: aiohttp never resends that
    return not resent and isinstance(err, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)


def _resends_dropped_requests(session: aiohttp.ClientSession) -> bool:
    """Whether aiohttp resends a GET once itself when the connection drops (3.10 and later).

    Retrying on top of that would send a request up to four times to a struggling gateway.
    The flag is private to aiohttp: read, never changed (the session may be shared).
    """
    return bool(getattr(session, "_retry_connection", False))
