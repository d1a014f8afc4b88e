"""The IQ Gateway client: one ``_request()`` owning transport, then probe and poll.

Transport rules, all in this file:

* HTTPS with certificate verification off (the gateway's certificate is self-signed);
  plain HTTP only for legacy gateways that have no HTTPS.
* The token goes in a bearer header. Once per session the client calls
  ``/auth/check_jwt``; the gateway answers with a ``sessionId`` cookie, and while the
  client presents it the gateway does not check the token's signature again. The session
  must carry a cookie jar that accepts IP hosts (``aiohttp.CookieJar(unsafe=True)``).
* Requests to one gateway are strictly serialized: the gateway is a small device that
  slows down or drops requests when several arrive at once.
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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
import logging
import time
from typing import Any, Final

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

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT: Final = 45.0
SLOW_REQUEST_TIMEOUT: Final = 90.0
RETRY_DELAY: Final = 2.0
SESSION_COOKIE: Final = "sessionId"
INFO_REFRESH: Final = timedelta(hours=6)
"""How often ``/info`` is read again during polls, to notice a firmware update."""
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


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Which endpoints a gateway answers.

    ``supported`` answered with a body of the right shape. ``retry`` timed out or failed
    with a server error during the probe: they are neither polled nor given up, and a
    later probe asks again. ``empty`` answered, but with nothing measured (every counter
    zero, as ``/api/v1/production`` does when its CT is disabled): they are not polled,
    so no value of theirs can stand in for a real source, and a later probe asks again.
    Everything else (401/404, wrong body) is not supported.
    """

    supported: frozenset[Endpoint[Any]]
    retry: frozenset[Endpoint[Any]] = frozenset()
    empty: frozenset[Endpoint[Any]] = frozenset()

    @property
    def settled(self) -> bool:
        """Nothing is left to ask again."""
        return not self.retry and not self.empty

    def as_dict(self) -> dict[str, list[str]]:
        """A JSON-friendly form, for diagnostics."""
        return {
            "supported": sorted(map(str, self.supported)),
            "retry": sorted(map(str, self.retry)),
            "empty": sorted(map(str, self.empty)),
        }


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
    ) -> None:
        """Prepare a client; nothing is sent until a method is called.

        ``host`` is a hostname or IP address, with an optional ``:port``. ``serial``, when
        given, is the gateway expected there: ``/info`` naming another raises
        IQGatewayWrongGatewayError. ``scheme`` is found by ``detect()`` when not given.
        ``retry``: give a reset or timed-out request its one quick retry (off where an
        answer is wanted soon, such as a form a user waits on). ``clock`` (UNIX seconds)
        times the slow cadences and the age of live data. ``live_interval``: seconds
        between two reads of live data (by ``poll()`` or ``poll_power()``), which sets
        when it is stale and when the live stream is switched on again.
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
        self._lock = asyncio.Lock()
        self._session_open = False
        self._sessions_usable = True
        self._token_accepted = False  # /auth/check_jwt accepted the current token
        self.info: GatewayInfo | None = None
        self.probe_result: ProbeResult | None = None
        self._known: dict[Endpoint[Any], Any] = {}
        self._raw: dict[Endpoint[Any], RawBody] = {}
        self._read_at: dict[Endpoint[Any], float] = {}
        self._live_interval = live_interval
        self._stream_switched: float | None = None  # when we last switched the stream on
        self._stream_retry_at: float | None = None  # while refused: when to ask again
        self._stream_refused = False  # a refusal was logged (and its end will be)
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
        cookies = self._session.cookie_jar.filter_cookies(URL(self._base_url()))
        return SESSION_COOKIE in cookies

    async def check_jwt(self) -> None:
        """Have the gateway validate the token now and open a cookie session.

        Raises IQGatewayAuthenticationError when the gateway refuses the token.
        """
        async with self._lock:
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
        for scheme in ("https", "http"):
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
            self.probe_result = None  # should the probe fail, the next poll probes again
        elif self.probe_result is not None and self.probe_result.settled:
            return
        # Probe again: after a firmware update, when an endpoint failed during the last
        # probe, or when one answered with nothing measured yet (batteries commissioned
        # later, a CT enabled later): what they start to report appears without a restart.
        await self.probe()

    # ------------------------------------------------------------------ endpoints

    async def get[T](self, endpoint: Endpoint[T]) -> T:
        """Request one endpoint and parse its body."""
        raw = await self._request(endpoint, authenticated=endpoint is not INFO)
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
        would wrongly conclude that nothing is supported.
        """
        if self._token is not None:
            await self.check_jwt()  # a refused token is an error, not "nothing supported"
        elif self.info is not None and self.info.tokens_required:
            # Updated to token firmware since it was set up without one: every endpoint
            # would refuse, which is not "nothing supported" either.
            raise IQGatewayAuthenticationError("the gateway now wants a token")
        found: dict[Endpoint[Any], Any] = {}
        retry: set[Endpoint[Any]] = set()
        empty: set[Endpoint[Any]] = set()
        for endpoint in POLLED:
            if endpoint.last_resort and not endpoint.wanted(found):
                continue
            try:
                body = await self.get(endpoint)
            except IQGatewayAuthenticationError:
                if self._token is not None and not self._token_accepted:
                    raise  # /auth/check_jwt did not accept it: the token itself is refused
                # Refused although the token was accepted (or none is used): the endpoint
                # needs other credentials (installer, digest) and is not for us.
                continue
            except IQGatewayTimeoutError:
                retry.add(endpoint)
                continue
            except IQGatewayConnectionError:
                raise
            except IQGatewayResponseError as err:
                if err.status is not None and err.status >= 500:
                    retry.add(endpoint)
                continue
            if endpoint.reports_nothing(body):
                empty.add(endpoint)
            else:
                found[endpoint] = body
        self._known = found
        self.probe_result = ProbeResult(frozenset(found), frozenset(retry), frozenset(empty))
        return self.probe_result

    def polled(self) -> tuple[Endpoint[Any], ...]:
        """The endpoints a poll asks (or reuses, on a slow cadence), in order."""
        if self.probe_result is None:
            return ()
        supported = self.probe_result.supported
        return tuple(ep for ep in POLLED if ep in supported and ep.wanted(self._known))

    async def poll(
        self, *, live_stream: bool = False, skip: Collection[Endpoint[Any]] = ()
    ) -> GatewayData:
        """Read every endpoint this gateway is polled for, in one pass, and parse them.

        The first poll identifies the gateway and probes it; ``/info`` is read again every
        few hours. A connection failure or timeout ends the poll with that error: the
        gateway is down or overloaded and further requests would only add load. An
        endpoint that answers badly this time (server error, wrong body) is missing from
        the result and the rest of the poll goes on. Authentication errors are raised.
        ``live_stream``: live data is wanted (live sensors are shown), so the gateway's
        live stream is kept on; it is also where a site value reads live data.
        ``skip``: on-demand endpoints (``Endpoint.on_demand``) the caller shows nothing
        of. They are left out of this poll, as if not polled here; any other endpoint in
        ``skip`` is read all the same (site values may need it).
        """
        if self.info is None or self.probe_result is None:
            await self.setup()
        elif self._due(INFO, INFO_REFRESH):
            await self._refresh_info()
        assert self.info is not None
        polled = tuple(ep for ep in self.polled() if not (ep.on_demand and ep in skip))
        live = self._live_wanted(live_stream)
        bodies: dict[Endpoint[Any], Any] = {}
        read: set[Endpoint[Any]] = set()
        for endpoint in polled:
            if not endpoint.wanted(self._known):
                continue  # an answer earlier in this poll says it is of no use now
            if endpoint in self._known and not self._due(endpoint, endpoint.refresh):
                bodies[endpoint] = self._known[endpoint]
                continue
            try:
                bodies[endpoint] = await self._read(endpoint, live=live)
                read.add(endpoint)
            except IQGatewayResponseError as err:
                _LOGGER.debug("%s failed this poll: %s", endpoint, err)
                if (endpoint.sticky or endpoint.refresh) and endpoint in self._known:
                    bodies[endpoint] = self._known[endpoint]
        return self._data(frozenset(polled), bodies, frozenset(read), live=live)

    async def poll_power(self, previous: GatewayData, *, live_stream: bool = False) -> GatewayData:
        """The fast power lane: read again only what power values come from.

        That is each polled endpoint marked ``power`` (CT readings, the IQ Batteries'
        power, and live data where it is wanted: see ``poll()``), laid over ``previous``
        (the last poll's data), so everything else stays as the last poll read it. Nothing
        is read before the first poll. Errors are raised as ``poll()`` raises them; an
        endpoint that answers badly keeps its previous body.
        """
        if self.info is None or self.probe_result is None:
            return previous
        live = self._live_wanted(live_stream)
        bodies = {**previous.stale, **previous.bodies}
        read: set[Endpoint[Any]] = set()
        for endpoint in self.polled():
            if not endpoint.power or (endpoint is LIVEDATA and not live):
                continue
            try:
                bodies[endpoint] = await self._read(endpoint, live=live)
                read.add(endpoint)
            except IQGatewayResponseError as err:
                _LOGGER.debug("%s failed this power update: %s", endpoint, err)
        if not read:
            return previous
        return self._data(previous.polled, bodies, frozenset(read), live=live)

    async def _read(self, endpoint: Endpoint[Any], *, live: bool) -> Any:
        """Read one endpoint for a poll, keeping the live stream on before live data."""
        if endpoint is LIVEDATA and live:
            await self._keep_live_stream()
        body = self._known[endpoint] = await self.get(endpoint)
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
        return GatewayData(
            info=self.info,
            polled=polled,
            bodies=bodies,
            enabled_cts=enabled_cts(self._known),
            read=read,
            stale=stale,
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
        live data then stays as fresh as the gateway keeps it by itself.
        """
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

    def _base_url(self) -> str:
        return f"{self.scheme or 'https'}://{self.host}"

    async def _request(
        self,
        endpoint: Endpoint[Any],
        *,
        authenticated: bool,
        json: Mapping[str, JSON] | None = None,
    ) -> RawBody:
        """GET ``endpoint`` (POST ``json`` to it) in turn with every other request to it.

        With a token: opens the cookie session first if needed, and after a refusal drops
        the session and tries once more before raising IQGatewayAuthenticationError.
        """
        authenticated = authenticated and self._token is not None
        async with self._lock:
            if not authenticated:
                return await self._send(endpoint, authenticated=False, json=json)
            if not self._session_open or not self._has_session_cookie():
                self._session_open = False
                await self._open_session()
            try:
                return await self._send(endpoint, authenticated=True, json=json)
            except IQGatewayAuthenticationError:
                # The session may have lapsed on the gateway: reopen it once.
                self._drop_session()
                await self._open_session()
                return await self._send(endpoint, authenticated=True, json=json)

    async def _send(
        self,
        endpoint: Endpoint[Any],
        *,
        authenticated: bool,
        json: Mapping[str, JSON] | None = None,
    ) -> RawBody:
        """One request, with one quick retry on a connection reset or timeout."""
        try:
            return await self._send_once(endpoint, authenticated=authenticated, json=json)
        except IQGatewayConnectionError as err:
            # aiohttp resends only GETs by itself (see _resends_dropped_requests).
            resent = json is None and _resends_dropped_requests(self._session)
            if not self._retry or not _is_transient(err, resent=resent):
                raise
            _LOGGER.debug("Retrying %s once after %s", endpoint, type(err.__cause__).__name__)
            await asyncio.sleep(self._retry_delay)
            return await self._send_once(endpoint, authenticated=authenticated, json=json)

    async def _send_once(
        self,
        endpoint: Endpoint[Any],
        *,
        authenticated: bool,
        json: Mapping[str, JSON] | None = None,
    ) -> RawBody:
        if self.scheme is None:
            raise IQGatewayConnectionError("call detect() first: the gateway's scheme is unknown")
        headers = {"Accept": "*/*" if endpoint is INFO else "application/json"}
        if authenticated and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        timeout = self._slow_request_timeout if endpoint.slow else self._request_timeout
        try:
            async with self._session.request(
                "GET" if json is None else "POST",
                f"{self._base_url()}{endpoint.path}",
                headers=headers,
                json=json,
                ssl=False,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                body = (await response.read()).decode("utf-8", errors="replace")
                status = response.status
                content_type = response.headers.get("Content-Type")
        except TimeoutError as err:
            raise IQGatewayTimeoutError(f"{endpoint} timed out after {timeout:.0f} s") from err
        except aiohttp.ClientError as err:
            raise IQGatewayConnectionError(
                f"{endpoint}: cannot talk to the gateway ({type(err).__name__})"
            ) from err
        if status in (401, 403):
            raise IQGatewayAuthenticationError(
                f"{endpoint} refused the token (HTTP {status})", status=status
            )
        if status != 200:
            raise IQGatewayResponseError(f"{endpoint} answered HTTP {status}", status=status)
        return RawBody(path=endpoint.path, status=status, content_type=content_type, body=body)


def _is_transient(err: IQGatewayConnectionError, *, resent: bool) -> bool:
    """A reset mid-request or a timeout is worth one retry; a refused connection is not.

    ``resent``: the session has already sent the request a second time when the connection
    dropped before the answer began, so that failure has had its one retry.
    """
    if isinstance(err, IQGatewayTimeoutError):
        return True
    cause = err.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return False
    if isinstance(cause, aiohttp.ClientPayloadError):
        return True  # the body was cut off: aiohttp never resends that
    return not resent and isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)


def _resends_dropped_requests(session: aiohttp.ClientSession) -> bool:
    """Whether aiohttp resends a GET once itself when the connection drops (3.10 and later).

    Retrying on top of that would send a request up to four times to a struggling gateway.
    The flag is private to aiohttp: read, never changed (the session may be shared).
    """
    return bool(getattr(session, "_retry_connection", False))
