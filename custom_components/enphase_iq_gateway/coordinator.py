"""The polling coordinator: the one place where errors become Home Assistant's.

The client and the token manager raise their own errors; ``_call`` turns each into
``UpdateFailed`` (try again at the next poll) or ``ConfigEntryAuthFailed`` (only the user
can fix it: reauthentication). Setup identifies the gateway and probes its endpoints; each
poll keeps the token fresh, then lets the client read what the probe found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import connections
from .const import (
    CONF_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    LOGGER,
    MANUFACTURER,
    POLL_DEADLINE_FRACTION,
)
from .iqgateway import (
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
from .token_manager import TokenError, TokenManager

type IQGatewayConfigEntry = ConfigEntry[IQGatewayCoordinator]


class IQGatewayCoordinator(DataUpdateCoordinator[GatewayData]):
    """Polls one IQ Gateway; holds its client and token manager."""

    config_entry: IQGatewayConfigEntry

    def __init__(self, hass: HomeAssistant, entry: IQGatewayConfigEntry) -> None:
        """Poll every ``scan_interval`` seconds (five minutes unless the options say else).

        Every poll reaches the entities, changed or not: lifetime counters confirm a dip
        over several polls, and the last-poll sensor moves. An entity writes its state
        only when what it shows changed.
        """
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"IQ Gateway {entry.unique_id}",
            update_interval=timedelta(
                seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ),
            always_update=True,
        )
        self.client = IQGateway(
            entry.data[CONF_HOST],
            connections.gateway_session(hass),
            token=entry.data.get(CONF_TOKEN),
            serial=entry.unique_id,
            clock=lambda: dt_util.utcnow().timestamp(),
        )
        self.tokens = TokenManager(
            hass, entry, self.client, connections.cloud_client(connections.cloud_session(hass))
        )
        self.last_poll: datetime | None = None
        self.stitched: set[str] = set()
        """The sensors whose lifetime counter is stitched (see ``counters.py``)."""
        self.gateway_device_id = ""

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
        """What tells this gateway's devices apart from another gateway's.

        Nothing while it is the only one (entity ids stay as they always were), else the
        last four digits of its serial number.
        """
        entries = self.hass.config_entries.async_entries(DOMAIN)
        return f" {str(self.config_entry.unique_id)[-4:]}" if len(entries) > 1 else ""

    async def _async_update_data(self) -> GatewayData:
        """One poll, abandoned once it has run a share of the interval.

        A gateway that answers every request just under its timeout would otherwise make
        one poll last many minutes.
        """
        previous = self.client.info
        assert self.update_interval is not None
        deadline = self.update_interval.total_seconds() * POLL_DEADLINE_FRACTION
        data = await self._call(lambda: self.client.poll(deadline=deadline))
        if self.client.polled() and not data.answered:
            # Every endpoint failed (an overloaded gateway answers 503 to all): that is
            # an unavailable gateway, not a successful poll with nothing in it.
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bad_response",
                translation_placeholders={"host": self.client.host},
            )
        if previous is not None and previous.firmware != data.info.firmware:
            dr.async_get(self.hass).async_update_device(
                self.gateway_device_id, sw_version=data.info.firmware
            )
        self.last_poll = dt_util.utcnow()
        return data

    async def _call[T](self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a client call with a fresh token, translating every error.

        A token the gateway refuses gets its grace, or one renewal and one retry.
        """
        try:
            await self.tokens.async_check()
            try:
                result = await call()
            except IQGatewayAuthenticationError:
                await self.tokens.async_handle_rejected()
                try:
                    result = await call()
                except IQGatewayAuthenticationError as err:
                    raise TokenError("token_rejected", reauth=True) from err
            self.tokens.token_accepted()
        except TokenError as err:
            error = ConfigEntryAuthFailed if err.reauth else UpdateFailed
            raise error(
                translation_domain=DOMAIN,
                translation_key=err.key,
                translation_placeholders=err.placeholders,
            ) from err
        except IQGatewayWrongGatewayError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="wrong_gateway",
                translation_placeholders={
                    "host": self.client.host,
                    "found": err.found,
                    "expected": err.expected,
                },
            ) from err
        except IQGatewayError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key(err),
                translation_placeholders={"host": self.client.host},
            ) from err
        return result


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
