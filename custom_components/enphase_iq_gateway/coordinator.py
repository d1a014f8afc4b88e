"""The polling coordinator: the one place where errors become Home Assistant's.

The client and the token manager raise their own errors; ``_call`` turns each into
``UpdateFailed`` (try again at the next poll) or ``ConfigEntryAuthFailed`` (only the user
can fix it: reauthentication, or a repair issue where that cannot start). Token errors are
logged by the token manager, once, not again by Home Assistant (``told_in_log``). Setup
identifies the gateway and probes its endpoints; each poll keeps the token fresh, then
lets the client read what the probe found.

With the "Power update interval" option on, a second, small coordinator (``PowerLane``)
refreshes only what power sensors show, between two polls; only power sensors listen to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import connections
from .const import (
    CONF_POWER_INTERVAL,
    CONF_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    LOGGER,
    MANUFACTURER,
    POLL_DEADLINE_FRACTION,
)
from .iqgateway import (
    Endpoint,
    GatewayData,
    GatewayInfo,
    IQGateway,
    IQGatewayAuthenticationError,
    IQGatewayConnectionError,
    IQGatewayError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    IQGatewayUnsupportedError,
    IQGatewayWrongGatewayError,
)
from .iqgateway.client import SLOW_REQUEST_TIMEOUT
from .token_manager import TokenError, TokenManager, async_request_sign_in

type IQGatewayConfigEntry = ConfigEntry[IQGatewayCoordinator]
type Lane = IQGatewayCoordinator | PowerLane
"""What an entity listens to: the main poll, or (power sensors) the fast power lane."""


class IQGatewayCoordinator(DataUpdateCoordinator[GatewayData]):
    """Polls one IQ Gateway; holds its client and token manager."""

    config_entry: IQGatewayConfigEntry

    def __init__(self, hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
        """Poll every ``scan_interval`` seconds (five minutes unless the options say else).

        Every poll reaches the entities, changed or not: lifetime counters confirm a dip
        over several polls, and the last-poll sensor moves. An entity writes its state
        only when what it shows changed.
        """
        interval = entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
        power_interval = entry.options.get(CONF_POWER_INTERVAL, 0)
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"IQ Gateway {entry.unique_id}",
            update_interval=timedelta(seconds=interval),
            always_update=True,
        )
        self.client = IQGateway(
            entry.data[CONF_HOST],
            connections.gateway_session(hass),
            token=entry.data.get(CONF_TOKEN),
            serial=entry.unique_id,
            clock=lambda: dt_util.utcnow().timestamp(),
            live_interval=power_interval or interval,
        )
        self.tokens = TokenManager(
            hass, entry, self.client, connections.cloud_client(connections.cloud_session(hass))
        )
        self.last_poll: datetime | None = None
        self.stitched: set[str] = set()
        """The sensors whose lifetime counter is stitched (see ``counters.py``)."""
        self.gateway_device_id = ""
        self.polling = False  # a poll is under way
        self._live_device_id: str | None = None
        self.power = PowerLane(hass, self, power_interval) if power_interval else None
        self._answered: set[Endpoint[Any]] = set()
        self._reauth_logged = False

    async def _async_setup(self) -> None:
        """Identify the gateway, register its device and find which endpoints it answers."""
        info = await self._call(self.client.setup)
        device = gateway_device_info(info, self.name_suffix)
        device["configuration_url"] = f"{self.client.scheme}://{self.client.host}/"
        self.gateway_device_id = (
            dr.async_get(self.hass)
            .async_get_or_create(config_entry_id=self.config_entry.entry_id, **device)
            .id
        )
        LOGGER.debug(
            "IQ Gateway %s (firmware %s, %s): polls %s",
            info.serial,
            info.firmware,
            self.client.scheme,
            ", ".join(map(str, self.client.polled())),
        )

    @property
    def name_suffix(self) -> str:
        """What tells this gateway's devices apart from another gateway's (``name_suffix``)."""
        return name_suffix(self.hass, self.config_entry)

    def live_data_shown(self) -> bool:
        """Whether an entity of the "Live data" device is enabled: live data is wanted.

        Read from the entity registry, so that it is known at the first poll after a
        restart (enabling such an entity reloads the entry, which polls afresh).
        """
        if self._live_device_id is None:
            identifier = (DOMAIN, live_device_id(str(self.config_entry.unique_id)))
            for device in dr.async_entries_for_config_entry(
                dr.async_get(self.hass), self.config_entry.entry_id
            ):
                if identifier in device.identifiers:
                    self._live_device_id = device.id
                    break
            else:
                return False  # no live data device (yet)
        return bool(er.async_entries_for_device(er.async_get(self.hass), self._live_device_id))

    def _unshown(self) -> frozenset[Endpoint[Any]]:
        """The on-demand endpoints no entity shows: the poll skips them.

        Entities that show some have them as their coordinator context (a set of
        endpoints), and only entities added to Home Assistant listen (a disabled entity is
        never added). An endpoint is skipped only once a poll has had its answer: until
        then, the entities that would show it have not been created.
        """
        shown: set[Endpoint[Any]] = set().union(*self.async_contexts())
        return frozenset(ep for ep in self._answered if ep.on_demand and ep not in shown)

    async def _async_update_data(self) -> GatewayData:
        """One poll."""
        self.polling = True
        try:
            return await self._poll()
        except (UpdateFailed, ConfigEntryAuthFailed) as err:
            told_in_log(self, err)
            raise
        finally:
            self.polling = False

    @property
    def shown_host(self) -> str:
        """The gateway's host as messages show it: never a user or password before an @.

        An address stored by an older version may carry them; the client refuses it.
        """
        return self.client.host.rpartition("@")[2]

    @property
    def poll_deadline(self) -> float:
        """How long a poll may run: a share of the interval.

        A gateway that answers every request just under its timeout would otherwise make
        one poll last many minutes.
        """
        assert self.update_interval is not None
        share = self.update_interval.total_seconds() * POLL_DEADLINE_FRACTION
        return max(share, SLOW_REQUEST_TIMEOUT)  # never shorter than the slowest request

    async def _poll(self) -> GatewayData:
        previous = self.client.info
        live = self.live_data_shown()
        skip = self._unshown()
        data = await self._call(
            lambda: self.client.poll(live_stream=live, skip=skip, deadline=self.poll_deadline)
        )
        self._answered |= set(data.bodies)
        if self.client.polled() and not data.answered:
            # Nothing answered (the client raises when every endpoint it asked failed;
            # here, every one was waiting to be asked again): an unavailable gateway, not
            # a successful poll with nothing in it. One failing endpoint fails only its
            # own entities (see iqgateway/scheduler.py).
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bad_response",
                translation_placeholders={"host": self.shown_host},
            )
        if previous is not None and previous.firmware != data.info.firmware:
            dr.async_get(self.hass).async_update_device(
                self.gateway_device_id, sw_version=data.info.firmware
            )
        self.last_poll = dt_util.utcnow()
        return data

    async def poll_power(self, base: GatewayData, interval: timedelta) -> GatewayData:
        """For the power lane: ``base`` with the power readings read again.

        A tick has the same share of the lane's ``interval`` as a poll of the main one.
        """
        live = self.live_data_shown()
        deadline = interval.total_seconds() * POLL_DEADLINE_FRACTION
        return await self._call(
            lambda: self.client.poll_power(base, live_stream=live, deadline=deadline),
            judge_refusal=False,
        )

    async def _call[T](self, call: Callable[[], Awaitable[T]], *, judge_refusal: bool = True) -> T:
        """Run a client call with a fresh token, translating every error.

        A token the gateway refuses is renewed and the call tried once more, or it gets
        its grace (see token_manager.py). Only the main poll and setup judge a refusal
        (``judge_refusal``): a refused power-lane tick just fails, and the next main poll
        decides. Only polls count as polls: setup attempts count by time.
        """
        setup = self.config_entry.state is ConfigEntryState.SETUP_IN_PROGRESS
        try:
            await self.tokens.async_check()
            try:
                result = await call()
            except IQGatewayAuthenticationError:
                if not judge_refusal:
                    raise TokenError("token_refused_retrying", reauth=False) from None
                await self.tokens.async_handle_rejected(poll=not setup)
                try:
                    result = await call()  # with the new token
                except IQGatewayAuthenticationError as err:
                    raise self.tokens.new_token_refused(poll=not setup) from err
            self.tokens.token_accepted()
        except TokenError as err:
            raise self._token_failure(err, setup=setup) from err
        except IQGatewayWrongGatewayError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="wrong_gateway",
                translation_placeholders={
                    "host": self.shown_host,
                    "found": err.found,
                    "expected": err.expected,
                },
            ) from err
        except IQGatewayError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key(err),
                translation_placeholders={"host": self.shown_host},
            ) from err
        return result

    def _token_failure(self, err: TokenError, *, setup: bool) -> HomeAssistantError:
        """Home Assistant's error for a token error; a reauthentication is asked for.

        Where Home Assistant cannot start the reauthentication (a flow of the entry is
        open), a repair issue asks instead. The switch to reauthentication is logged here,
        once: Home Assistant does not log it when the poll before failed too (the
        refusal's grace), and at setup it logs it itself.
        """
        if not err.reauth:
            return UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=err.key,
                translation_placeholders=err.placeholders,
            )
        failure = ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders=err.placeholders,
        )
        async_request_sign_in(self.hass, self.config_entry, start=False)
        if not setup and not self._reauth_logged:
            self._reauth_logged = True
            # Home Assistant drops a translated message's final full stop: no sentence after it.
            LOGGER.error("%s: %s (polling has stopped)", self.config_entry.title, failure)
        return failure


class PowerLane(DataUpdateCoordinator[GatewayData]):
    """The fast power lane: the last poll's data, with power readings read again.

    Only power sensors listen to it. Every ``seconds`` it has the client read what power
    values come from (``IQGateway.poll_power``: CT readings, live data where it is wanted),
    in turn with every other request to the gateway; everything else stays as the main
    poll read it, so energy counters change only with the main poll. After each main poll
    it takes that poll's data. A tick that would overlap a main poll is skipped, not
    queued; while the main poll fails, the lane fails with it and reads nothing. One
    failing endpoint fails neither: only its own sensors are unavailable.
    """

    config_entry: IQGatewayConfigEntry

    def __init__(self, hass: HomeAssistant, main: IQGatewayCoordinator, seconds: int) -> None:
        """A lane beside ``main``; ``async_follow_main()`` starts it."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=main.config_entry,
            name=f"{main.name} power",
            update_interval=timedelta(seconds=seconds),
            always_update=False,  # an unchanged reading reaches no entity
        )
        self.main = main

    @callback
    def async_follow_main(self) -> CALLBACK_TYPE:
        """Start from the main poll's data and follow every main poll from now on."""
        self._main_polled()
        return self.main.async_add_listener(self._main_polled)

    @callback
    def _main_polled(self) -> None:
        main = self.main
        if main.last_update_success:
            self.async_set_updated_data(main.data)
        elif self.last_update_success:
            # Unavailable with the main poll, without logging its error a second time.
            self.last_update_success = False
            self.last_exception = main.last_exception
            self.async_update_listeners()

    async def _async_update_data(self) -> GatewayData:
        """One tick: fresh power readings laid over the latest data."""
        main, base = self.main, self.data
        if not main.last_update_success:
            # The gateway is down or refuses the token: no requests until a poll succeeds.
            err = main.last_exception
            if isinstance(err, HomeAssistantError) and err.translation_key:
                key, placeholders = err.translation_key, err.translation_placeholders
            else:
                key, placeholders = "unexpected_error", {"host": main.shown_host}
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders=placeholders,
            ) from err
        if main.polling:
            return base  # skipped: the main poll is reading everything now
        assert self.update_interval is not None
        try:
            data = await main.poll_power(base, self.update_interval)
        except (UpdateFailed, ConfigEntryAuthFailed) as err:
            told_in_log(self, err)  # a refused tick: the next main poll judges and tells
            raise
        # A main poll that ended meanwhile has newer data than this tick was built on.
        return data if self.data is base else self.data


def name_suffix(hass: HomeAssistant, entry: ConfigEntry, *, leaving: str | None = None) -> str:
    """What tells a gateway's devices apart from another gateway's.

    Nothing while it is the only one (entity ids stay as they always were), else the last
    four digits of its serial number. Ignored and disabled entries poll nothing and do not
    count, nor does the entry ``leaving`` (being removed).
    """
    entries = [
        other
        for other in hass.config_entries.async_entries(
            DOMAIN, include_ignore=False, include_disabled=False
        )
        if other.entry_id != leaving
    ]
    return f" {str(entry.unique_id)[-4:]}" if len(entries) > 1 else ""


def told_in_log(coordinator: DataUpdateCoordinator[Any], err: HomeAssistantError) -> None:
    """Keep Home Assistant from logging a token error: ours are told once, our way.

    Its coordinator logs a failed refresh at error level unless the refresh before failed
    too; a gateway that refuses the token for a moment after a restart is no error. The
    token manager logs each refusal once (and the coordinator the switch to
    reauthentication), so the refresh is marked failed before Home Assistant looks.
    """
    if isinstance(err.__cause__, TokenError):
        coordinator.last_update_success = False


def live_device_id(gateway_serial: str) -> str:
    """The device identifier of the gateway's live data."""
    return f"{gateway_serial}_live"


def error_key(err: IQGatewayError) -> str:
    """The translation key of the message shown for a client error."""
    if isinstance(err, IQGatewayTimeoutError):
        return "timeout"
    if isinstance(err, IQGatewayConnectionError):
        return "cannot_connect"
    if isinstance(err, IQGatewayUnsupportedError):
        return "not_a_gateway"
    if isinstance(err, IQGatewayResponseError):
        return "bad_response"
    return "unexpected_error"


def gateway_model(info: GatewayInfo) -> str:
    """A model name from what /info says: metered gateways measure with CTs."""
    if info.metered:
        return "IQ Gateway Metered"
    if info.metered is False:
        return "IQ Gateway Standard"
    return "IQ Gateway"


def gateway_device_info(info: GatewayInfo, suffix: str = "") -> DeviceInfo:
    """The gateway device, registered before the platforms load."""
    part = info.part_number
    return DeviceInfo(
        identifiers={(DOMAIN, info.serial)},
        manufacturer=MANUFACTURER,
        translation_key="gateway",
        translation_placeholders={"suffix": suffix},
        model=gateway_model(info),
        model_id=part.rsplit("-r", 1)[0] if part else None,
        serial_number=info.serial,
        sw_version=info.firmware,
        hw_version=part,
    )
