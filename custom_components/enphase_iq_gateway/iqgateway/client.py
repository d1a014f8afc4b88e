"""The IQ Gateway client: one ``_request()`` owning transport, and a method per endpoint.

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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import json
import logging
from typing import Any, Final, TypeVar

import aiohttp
from yarl import URL

from .exceptions import (
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
)
from .models import (
    ENDPOINT_FIELDS,
    JSON,
    BatteryControl,
    BatteryPower,
    ConsumptionReport,
    Endpoint,
    EnergyCounters,
    GatewayData,
    GatewayInfo,
    Inverter,
    LiveData,
    MeasurementType,
    MeterConfig,
    MeterReading,
    PdmEnergy,
    ProductionJson,
    RawBody,
    enabled_ct_types,
    expect_dict,
    inverters_from_list,
    legacy_production_from_html,
    meters_from_list,
    readings_from_list,
    reports_from_list,
)

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT: Final = 45.0
SLOW_REQUEST_TIMEOUT: Final = 90.0
RETRY_DELAY: Final = 2.0
SESSION_COOKIE: Final = "sessionId"
SLOW_ENDPOINTS: Final = frozenset({Endpoint.PRODUCTION_JSON, Endpoint.PRODUCTION_HTML})

# What the probe asks, in the order a poll asks it. /production (HTML) is only probed when
# neither JSON production endpoint answers: it exists for firmware 3.x.
PROBED_ENDPOINTS: Final = (
    Endpoint.PRODUCTION,
    Endpoint.INVERTERS,
    Endpoint.METERS,
    Endpoint.METER_READINGS,
    Endpoint.CONSUMPTION_REPORTS,
    Endpoint.PDM_ENERGY,
    Endpoint.LIVEDATA,
    Endpoint.BATTERY_CONTROL,
    Endpoint.BATTERY_POWER,
    Endpoint.PRODUCTION_JSON,
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Which endpoints a gateway answers.

    ``supported`` answered with a body of the right shape. ``retry`` timed out or failed
    with a server error during the probe: they are neither polled nor given up, and a
    later probe asks again. ``empty`` answered, but with nothing measured (every counter
    zero, as ``/api/v1/production`` does when its CT is disabled): they are not polled,
    so no value of theirs can stand in for a real source. Everything else (401/404,
    wrong body) is not supported.
    ``needs_production_json`` says whether ``/production.json`` carries data that no
    cheaper endpoint has on this gateway (it is slow, so it is polled only then);
    ``/ivp/ensemble/power`` is not polled where a storage CT or live data gives the
    battery power.
    """

    supported: frozenset[Endpoint]
    retry: frozenset[Endpoint] = frozenset()
    needs_production_json: bool = False
    empty: frozenset[Endpoint] = frozenset()
    enabled_cts: frozenset[str] = frozenset()
    """Measurement types of the CTs ``/ivp/meters`` reported enabled."""

    def polled(self) -> tuple[Endpoint, ...]:
        """The endpoints a poll asks, in order."""
        order = (*PROBED_ENDPOINTS, Endpoint.PRODUCTION_HTML)
        return tuple(ep for ep in order if ep in self.supported and not self._redundant(ep))

    def _redundant(self, endpoint: Endpoint) -> bool:
        """Supported, but what it has comes from a cheaper or better source here."""
        if endpoint is Endpoint.PRODUCTION_JSON:
            return not self.needs_production_json
        if endpoint is Endpoint.BATTERY_POWER:
            # Battery power: a storage CT or live data measures it for the whole site.
            return (
                MeasurementType.STORAGE in self.enabled_cts or Endpoint.LIVEDATA in self.supported
            )
        return False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, for diagnostics and storage."""
        return {
            "supported": sorted(self.supported),
            "retry": sorted(self.retry),
            "empty": sorted(self.empty),
            "needs_production_json": self.needs_production_json,
            "enabled_cts": sorted(self.enabled_cts),
        }


class IQGateway:
    """Talks to one IQ Gateway over its local REST API."""

    def __init__(
        self,
        host: str,
        session: aiohttp.ClientSession,
        *,
        token: str | None = None,
        scheme: str | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        slow_request_timeout: float = SLOW_REQUEST_TIMEOUT,
        retry_delay: float = RETRY_DELAY,
    ) -> None:
        """Prepare a client; nothing is sent until a method is called.

        ``host`` is a hostname or IP address, with an optional ``:port``. ``scheme`` is
        found by ``detect()`` when not given.
        """
        self.host = host
        self._session = session
        self._token = token
        self.scheme = scheme
        self._request_timeout = request_timeout
        self._slow_request_timeout = slow_request_timeout
        self._retry_delay = retry_delay
        self._lock = asyncio.Lock()
        self._session_open = False
        self._sessions_usable = True
        self._token_accepted = False  # /auth/check_jwt accepted the current token
        self.info: GatewayInfo | None = None
        self.info_raw: RawBody | None = None

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
            self._drop_session()

    def _drop_session(self) -> None:
        self._session_open = False
        self._session.cookie_jar.clear(lambda morsel: morsel.key == SESSION_COOKIE)

    def _has_session_cookie(self) -> bool:
        cookies = self._session.cookie_jar.filter_cookies(URL(self._base_url()))
        return SESSION_COOKIE in cookies

    # ------------------------------------------------------------------ info

    async def detect(self) -> GatewayInfo:
        """Read ``/info``, finding whether the gateway speaks HTTPS or only HTTP.

        Raises IQGatewayUnsupportedError when the host answers but is not an IQ Gateway,
        IQGatewayConnectionError when nothing answers.
        """
        if self.scheme is not None:
            return await self.get_info()
        refused: IQGatewayConnectionError | None = None
        answered: IQGatewayError | None = None
        for scheme in ("https", "http"):
            self.scheme = scheme
            try:
                info = await self.get_info()
            except IQGatewayTimeoutError:
                self.scheme = None
                raise  # something listens but does not answer: no use trying the other
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

    async def get_info(self) -> GatewayInfo:
        """``GET /info``: serial, part number, firmware, metered, token auth."""
        raw = await self._request(Endpoint.INFO, authenticated=False)
        self.info = GatewayInfo.from_xml(raw.body)
        self.info_raw = raw
        return self.info

    async def refresh_info(self) -> GatewayInfo:
        """Read ``/info`` again, following a gateway that moved from HTTP to HTTPS.

        A firmware update to 7 or newer turns token authentication on and closes (or
        redirects) plain HTTP: the scheme found at setup no longer works. Only then is the
        scheme looked for again; a gateway on HTTPS that does not answer is just down.
        """
        try:
            info = await self.get_info()
        except IQGatewayConnectionError:
            if self.scheme != "http":
                raise
            self.scheme = None
            return await self.detect()
        if self.scheme == "http" and info.tokens_required:
            self.scheme = "https"
        return info

    # ------------------------------------------------------------------ auth

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
            await self._send(Endpoint.CHECK_JWT, authenticated=True)
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

    # ------------------------------------------------------------------ endpoints

    async def production(self) -> EnergyCounters:
        """``GET /api/v1/production``: production now, today, 7 days, lifetime."""
        return await self._get(Endpoint.PRODUCTION, parse_production)

    async def inverters(self) -> dict[str, Inverter]:
        """``GET /api/v1/production/inverters``: each microinverter's last report."""
        return await self._get(Endpoint.INVERTERS, parse_inverters)

    async def meters(self) -> tuple[MeterConfig, ...]:
        """``GET /ivp/meters``: which CT meters exist, enabled or not, and their phases."""
        return await self._get(Endpoint.METERS, parse_meters)

    async def meter_readings(self) -> dict[int, MeterReading]:
        """``GET /ivp/meters/readings``: each CT's readings, with one channel per phase."""
        return await self._get(Endpoint.METER_READINGS, parse_readings)

    async def pdm_energy(self) -> PdmEnergy:
        """``GET /ivp/pdm/energy``: production and consumption counters per source."""
        return await self._get(Endpoint.PDM_ENERGY, parse_pdm_energy)

    async def livedata(self) -> LiveData:
        """``GET /ivp/livedata/status``: live power flows, battery and relay state."""
        return await self._get(Endpoint.LIVEDATA, parse_livedata)

    async def battery_control(self) -> BatteryControl:
        """``GET /ivp/ensemble/secctrl``: charge and capacity of all batteries together."""
        return await self._get(Endpoint.BATTERY_CONTROL, parse_battery_control)

    async def battery_power(self) -> BatteryPower:
        """``GET /ivp/ensemble/power``: each IQ Battery's power."""
        return await self._get(Endpoint.BATTERY_POWER, parse_battery_power)

    async def consumption_reports(self) -> dict[str, ConsumptionReport]:
        """``GET /ivp/meters/reports/consumption``: reports keyed by ``reportType``."""
        return await self._get(Endpoint.CONSUMPTION_REPORTS, parse_reports)

    async def production_json(self) -> ProductionJson:
        """``GET /production.json``: inverter, CT and AC battery summaries (slow)."""
        return await self._get(Endpoint.PRODUCTION_JSON, parse_production_json)

    async def legacy_production(self) -> EnergyCounters:
        """``GET /production``: the HTML page firmware 3.x publishes its production on."""
        return await self._get(Endpoint.PRODUCTION_HTML, parse_legacy_production)

    async def _get(
        self,
        endpoint: Endpoint,
        parser: Callable[[RawBody], _T],
        raw: dict[str, RawBody] | None = None,
    ) -> _T:
        """Request one endpoint and parse it; keep the raw body in ``raw`` if given."""
        body = await self._request(endpoint)
        if raw is not None:
            raw[endpoint] = body
        return parser(body)

    # ------------------------------------------------------------------ probe and poll

    async def probe(self) -> ProbeResult:
        """Ask every endpoint once and keep those that answer with the right shape.

        Run at setup (and again when the firmware changes), so that polls ask only for
        what this gateway has. Authentication failures are raised: a probe with a bad
        token would wrongly conclude that nothing is supported.
        """
        supported: set[Endpoint] = set()
        retry: set[Endpoint] = set()
        bodies: dict[Endpoint, Any] = {}
        if self._token is not None:
            await self.check_jwt()  # a refused token is an error, not "nothing supported"
        for endpoint in PROBED_ENDPOINTS:
            outcome = await self._probe_one(endpoint, bodies)
            if outcome is True:
                supported.add(endpoint)
            elif outcome is None:
                retry.add(endpoint)
        empty = {endpoint for endpoint in supported if _reports_nothing(bodies.get(endpoint))}
        supported -= empty
        if not supported & {Endpoint.PRODUCTION, Endpoint.PRODUCTION_JSON}:
            outcome = await self._probe_one(Endpoint.PRODUCTION_HTML, bodies)
            if outcome is True:
                supported.add(Endpoint.PRODUCTION_HTML)
            elif outcome is None:
                retry.add(Endpoint.PRODUCTION_HTML)
        needs = self._needs_production_json(supported, bodies.get(Endpoint.PRODUCTION_JSON))
        meters = bodies.get(Endpoint.METERS) if Endpoint.METERS in supported else None
        return ProbeResult(
            frozenset(supported),
            frozenset(retry),
            needs,
            frozenset(empty),
            enabled_ct_types(meters) if meters is not None else frozenset(),
        )

    async def _probe_one(self, endpoint: Endpoint, bodies: dict[Endpoint, Any]) -> bool | None:
        """True: supported; False: not supported; None: failed for now, ask again later."""
        try:
            bodies[endpoint] = await self._get(endpoint, PARSERS[endpoint])
        except IQGatewayAuthenticationError:
            if self._token is not None and not self._token_accepted:
                raise  # /auth/check_jwt did not accept it: the token itself is refused
            # Refused although the token was accepted (or none is used): the endpoint
            # needs other credentials (installer, digest) and is not for us.
            return False
        except IQGatewayTimeoutError:
            return None
        except IQGatewayConnectionError:
            raise
        except IQGatewayResponseError as err:
            if err.status is not None and err.status >= 500:
                return None
            return False
        return True

    def _needs_production_json(self, supported: set[Endpoint], production_json: Any) -> bool:
        """``/production.json`` is slow: poll it only where it has something unique.

        That is: no other production endpoint answers; or AC Batteries are installed
        (their power is only there); or it reports active CT meters that no meter
        readings endpoint covers.
        """
        if Endpoint.PRODUCTION_JSON not in supported:
            return False
        if Endpoint.PRODUCTION not in supported:
            return True
        if not isinstance(production_json, ProductionJson):
            return False
        if production_json.has_batteries:
            return True
        return Endpoint.METER_READINGS not in supported and any(
            meter.active_count != 0 for meter in production_json.meters.values()
        )

    async def poll(self, probe: ProbeResult, info: GatewayInfo) -> GatewayData:
        """Fetch every endpoint the probe found, in one pass, and parse them.

        A connection failure or timeout ends the poll with that error: the gateway is
        down or overloaded and further requests would only add load. An endpoint that
        answers badly this time (server error, wrong body) is None in the result and the
        rest of the poll goes on. Authentication errors are raised.
        """
        values: dict[str, Any] = {}
        raw: dict[str, RawBody] = {}
        meters: tuple[MeterConfig, ...] | None = None
        for endpoint in probe.polled():
            if endpoint in (Endpoint.METER_READINGS, Endpoint.CONSUMPTION_REPORTS) and (
                Endpoint.METERS in probe.supported
                and (meters is None or not any(m.enabled for m in meters))
            ):
                continue  # no enabled CT: nothing to read
            try:
                body = await self._get(endpoint, PARSERS[endpoint], raw)
            except IQGatewayResponseError as err:
                _LOGGER.debug("%s failed this poll: %s", endpoint, err)
                continue
            values[ENDPOINT_FIELDS[endpoint]] = body
            if endpoint is Endpoint.METERS:
                meters = body
        return GatewayData(
            info=info,
            polled=frozenset(probe.polled()),
            enabled_cts=probe.enabled_cts,  # replaced by this poll's /ivp/meters if it answered
            raw=raw,
            **values,
        )

    # ------------------------------------------------------------------ transport

    def _base_url(self) -> str:
        return f"{self.scheme or 'https'}://{self.host}"

    async def _request(self, endpoint: Endpoint, *, authenticated: bool = True) -> RawBody:
        """GET ``endpoint`` in turn with every other request to this gateway.

        With a token: opens the cookie session first if needed, and after a refusal drops
        the session and tries once more before raising IQGatewayAuthenticationError.
        """
        authenticated = authenticated and self._token is not None
        async with self._lock:
            if not authenticated:
                return await self._send(endpoint, authenticated=False)
            if not self._session_open or not self._has_session_cookie():
                self._session_open = False
                await self._open_session()
            try:
                return await self._send(endpoint, authenticated=True)
            except IQGatewayAuthenticationError:
                # The session may have lapsed on the gateway: reopen it once.
                self._drop_session()
                await self._open_session()
                return await self._send(endpoint, authenticated=True)

    async def _send(self, endpoint: Endpoint, *, authenticated: bool) -> RawBody:
        """One request, with one quick retry on a connection reset or timeout."""
        try:
            return await self._send_once(endpoint, authenticated=authenticated)
        except IQGatewayConnectionError as err:
            if not _is_transient(err, resent=_resends_dropped_requests(self._session)):
                raise
            _LOGGER.debug("Retrying %s once after %s", endpoint, type(err.__cause__).__name__)
            await asyncio.sleep(self._retry_delay)
            return await self._send_once(endpoint, authenticated=authenticated)

    async def _send_once(self, endpoint: Endpoint, *, authenticated: bool) -> RawBody:
        if self.scheme is None:
            raise IQGatewayConnectionError("call detect() first: the gateway's scheme is unknown")
        headers = {"Accept": "application/json" if endpoint is not Endpoint.INFO else "*/*"}
        if authenticated and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        timeout = (
            self._slow_request_timeout if endpoint in SLOW_ENDPOINTS else self._request_timeout
        )
        try:
            async with self._session.get(
                f"{self._base_url()}{endpoint}",
                headers=headers,
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
        return RawBody(status=status, content_type=content_type, body=body)


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


def _reports_nothing(body: object) -> bool:
    """A probe answer with nothing measured: counters all zero, or no battery counted."""
    if isinstance(body, EnergyCounters):
        return body.counts_nothing
    if isinstance(body, BatteryControl):
        return not body.has_batteries
    if isinstance(body, BatteryPower):
        return not body.batteries
    return False


def _decode_json(raw: RawBody, endpoint: Endpoint) -> JSON:
    try:
        return json.loads(raw.body)
    except (ValueError, RecursionError) as err:  # RecursionError: absurdly deep nesting
        kind = "an HTML page" if raw.body.lstrip().startswith("<") else "a body that is not JSON"
        raise IQGatewayResponseError(f"{endpoint} answered with {kind}") from err


def _json_parser[T](endpoint: Endpoint, factory: Callable[[JSON], T]) -> Callable[[RawBody], T]:
    def parse(raw: RawBody) -> T:
        return factory(_decode_json(raw, endpoint))

    return parse


def _object_parser[T](
    endpoint: Endpoint, factory: Callable[[Mapping[str, JSON]], T]
) -> Callable[[RawBody], T]:
    def parse(raw: RawBody) -> T:
        return factory(expect_dict(_decode_json(raw, endpoint), endpoint))

    return parse


def parse_legacy_production(raw: RawBody) -> EnergyCounters:
    """The production table of firmware 3.x's HTML page."""
    return legacy_production_from_html(raw.body)


parse_production = _object_parser(Endpoint.PRODUCTION, EnergyCounters.from_dict)
parse_inverters = _json_parser(Endpoint.INVERTERS, inverters_from_list)
parse_meters = _json_parser(Endpoint.METERS, meters_from_list)
parse_readings = _json_parser(Endpoint.METER_READINGS, readings_from_list)
parse_pdm_energy = _object_parser(Endpoint.PDM_ENERGY, PdmEnergy.from_dict)
parse_livedata = _object_parser(Endpoint.LIVEDATA, LiveData.from_dict)
parse_battery_control = _object_parser(Endpoint.BATTERY_CONTROL, BatteryControl.from_dict)
parse_battery_power = _object_parser(Endpoint.BATTERY_POWER, BatteryPower.from_dict)
parse_reports = _json_parser(Endpoint.CONSUMPTION_REPORTS, reports_from_list)
parse_production_json = _object_parser(Endpoint.PRODUCTION_JSON, ProductionJson.from_dict)

PARSERS: Final[dict[Endpoint, Callable[[RawBody], Any]]] = {
    Endpoint.PRODUCTION: parse_production,
    Endpoint.INVERTERS: parse_inverters,
    Endpoint.METERS: parse_meters,
    Endpoint.METER_READINGS: parse_readings,
    Endpoint.PDM_ENERGY: parse_pdm_energy,
    Endpoint.LIVEDATA: parse_livedata,
    Endpoint.BATTERY_CONTROL: parse_battery_control,
    Endpoint.BATTERY_POWER: parse_battery_power,
    Endpoint.CONSUMPTION_REPORTS: parse_reports,
    Endpoint.PRODUCTION_JSON: parse_production_json,
    Endpoint.PRODUCTION_HTML: parse_legacy_production,
}
