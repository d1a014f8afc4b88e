"""The polling coordinator: the one place where client errors become Home Assistant's.

Setup (``_async_setup``): read ``/info`` (finding HTTPS or HTTP), make sure the gateway at
the stored host is the configured one, and probe which endpoints it answers. Each poll:
keep the token fresh, re-read ``/info`` a few times a day (a firmware update, or an endpoint
that failed or had nothing to report at the last probe, re-probes the endpoints without a
restart), then fetch what the probe found in one serialized pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    INFO_REFRESH_INTERVAL,
    LOGGER,
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
    ProbeResult,
)
from .token_manager import TokenManager

_T = TypeVar("_T")


@dataclass(slots=True)
class IQGatewayRuntimeData:
    """What a loaded entry holds: the client, its coordinator and its token manager."""

    client: IQGateway
    coordinator: IQGatewayCoordinator
    tokens: TokenManager
    gateway_device_id: str


type IQGatewayConfigEntry = ConfigEntry[IQGatewayRuntimeData]


class IQGatewayCoordinator(DataUpdateCoordinator[GatewayData]):
    """Polls one IQ Gateway."""

    config_entry: IQGatewayConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IQGatewayConfigEntry,
        client: IQGateway,
        tokens: TokenManager,
    ) -> None:
        """Poll every ``scan_interval`` seconds (five minutes unless the options say else)."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"IQ Gateway {entry.unique_id}",
            update_interval=timedelta(
                seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ),
            always_update=False,
        )
        self.client = client
        self.tokens = tokens
        self.info: GatewayInfo | None = None
        self.probe: ProbeResult | None = None
        self.last_poll: datetime | None = None
        # Polls are counted and announced even when their data equals the last poll's
        # (always_update=False then notifies no entity): the last-poll sensor and the
        # lifetime counters' dip confirmation count polls, not changes.
        self.poll_count = 0
        self._poll_listeners: list[CALLBACK_TYPE] = []
        self._announce_poll = False
        self._info_read_at: datetime | None = None

    async def _async_setup(self) -> None:
        """Identify the gateway and find which endpoints it answers."""
        await self.tokens.async_check()
        self.info = await self._call(self.client.detect)
        self._info_read_at = dt_util.utcnow()
        self._check_serial(self.info)
        self.probe = await self._call(self.client.probe)
        LOGGER.debug(
            "IQ Gateway %s (firmware %s, %s): polls %s",
            self.info.serial,
            self.info.firmware,
            self.client.scheme,
            ", ".join(self.probe.polled()),
        )

    async def _async_update_data(self) -> GatewayData:
        """One poll."""
        await self.tokens.async_check()
        await self._refresh_info_when_due()
        assert self.info is not None
        assert self.probe is not None
        probe, info = self.probe, self.info
        data = await self._call(lambda: self.client.poll(probe, info))
        if probe.polled() and not data.answered:
            # Every endpoint failed (an overloaded gateway answers 503 to all): that is
            # an unavailable gateway, not a successful poll with nothing in it.
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bad_response",
                translation_placeholders={"host": self.client.host},
            )
        self.last_poll = dt_util.utcnow()
        self.poll_count += 1
        self._announce_poll = True
        return data

    @callback
    def async_add_poll_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` after every successful poll; returns its remover."""
        self._poll_listeners.append(listener)
        return lambda: self._poll_listeners.remove(listener)

    @callback
    def _async_refresh_finished(self) -> None:
        """After each refresh (data in place, before listeners): announce a poll."""
        super()._async_refresh_finished()
        if self._announce_poll and self.last_update_success:
            for listener in list(self._poll_listeners):
                listener()
        self._announce_poll = False

    async def _refresh_info_when_due(self) -> None:
        """Re-read /info now and then; re-probe after a firmware update or a shaky probe."""
        now = dt_util.utcnow()
        if self._info_read_at is not None and now - self._info_read_at < INFO_REFRESH_INTERVAL:
            return
        info = await self._call(self.client.refresh_info)
        self._info_read_at = now
        self._check_serial(info)
        previous = self.info
        self.info = info
        if previous is not None and previous.firmware != info.firmware:
            LOGGER.info(
                "IQ Gateway %s updated its firmware from %s to %s: probing its endpoints again",
                info.serial,
                previous.firmware,
                info.firmware,
            )
            dr.async_get(self.hass).async_update_device(
                self.config_entry.runtime_data.gateway_device_id, sw_version=info.firmware
            )
        elif self.probe is not None and not self.probe.retry and not self.probe.empty:
            return
        # Re-probe: after a firmware update, when an endpoint failed during the last probe,
        # or when one answered with nothing measured yet (batteries commissioned later, a
        # CT enabled later): what they start to report appears without a restart.
        self.probe = await self._call(self.client.probe)

    def _check_serial(self, info: GatewayInfo) -> None:
        if info.serial != self.config_entry.unique_id:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="wrong_gateway",
                translation_placeholders={
                    "host": self.client.host,
                    "found": info.serial,
                    "expected": str(self.config_entry.unique_id),
                },
            )

    async def _call(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run a client call, translating its errors; a refused token gets one renewal."""
        try:
            try:
                return await call()
            except IQGatewayAuthenticationError:
                await self.tokens.async_handle_rejected()
            try:
                return await call()
            except IQGatewayAuthenticationError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="token_rejected"
                ) from err
        except IQGatewayError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=_error_key(err),
                translation_placeholders={"host": self.client.host},
            ) from err


def _error_key(err: IQGatewayError) -> str:
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
