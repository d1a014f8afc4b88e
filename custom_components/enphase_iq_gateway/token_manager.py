"""Keeps the gateway token valid for good.

* With Enlighten credentials stored, the token is renewed before it expires (see const.py
  for the margins), the new one is saved in the config entry, and a failed renewal keeps
  the still-valid token and is retried later without bothering the user. When the gateway
  refuses a token, one renewal is tried before reauthentication is asked for. When the
  account itself is refused, a reauth flow is started while the old token still works.
* A pasted token cannot be renewed: a repair issue warns 30 days before it expires, and
  reauthentication is asked for once it has.
* Neither can the token of an account with two-step sign-in: every sign-in needs a new
  one-time code, so its owner. It is treated like a pasted token, except that its repair
  issue is fixable: the repair flow (repairs.py) signs in with password and code and
  stores the new token. Such an entry stores its e-mail address, not its password: a
  password that cannot renew anything unattended would only be a secret kept for nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING

from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import (
    CONF_SERIAL,
    CONF_TWO_STEP,
    DOMAIN,
    ISSUE_TOKEN_EXPIRING,
    ISSUE_TOKEN_EXPIRING_TWO_STEP,
    LOGGER,
    PASTED_TOKEN_WARNING,
    RENEW_LIFETIME_FRACTION,
    RENEW_MARGIN_MAX,
    RENEW_RETRY_INTERVAL,
)
from .iqgateway import (
    EnlightenClient,
    EnlightenError,
    EnlightenInvalidResponseError,
    EnlightenUnavailableError,
    InvalidTokenError,
    IQGateway,
    TokenInfo,
    parse_token,
)
from .iqgateway.auth import ROLE_INSTALLER, ROLE_OWNER

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


# What the cloud may answer that says nothing about the account: try again later.
_CLOUD_HICCUPS = (EnlightenUnavailableError, EnlightenInvalidResponseError)

# Lifetimes Entrez gives, for tokens that do not say when they were issued.
_ROLE_LIFETIMES = {ROLE_OWNER: timedelta(days=365), ROLE_INSTALLER: timedelta(hours=12)}


class TokenError(Exception):
    """Why no usable token is at hand; the coordinator turns it into Home Assistant's error.

    ``key`` names the translated message; ``reauth`` says only the user can fix it (a new
    sign-in), else a later poll tries again.
    """

    def __init__(self, key: str, *, reauth: bool, **placeholders: str) -> None:
        """Keep the message's key and placeholders."""
        super().__init__(key)
        self.key = key
        self.reauth = reauth
        self.placeholders = placeholders


def renewal_margin(info: TokenInfo) -> timedelta:
    """How long before expiry a renewable token is renewed.

    A third of the token's lifetime, capped at RENEW_MARGIN_MAX: 30 days for one-year
    owner tokens, 4 hours for 12-hour installer tokens. A token without an issue time is
    taken to live as long as its role's tokens do (an installer token must not look due
    for renewal all its life, which would ask the cloud at every poll).
    """
    lifetime = info.lifetime or _ROLE_LIFETIMES.get(
        info.role or "", RENEW_MARGIN_MAX * RENEW_LIFETIME_FRACTION
    )
    return min(RENEW_MARGIN_MAX, lifetime / RENEW_LIFETIME_FRACTION)


def expiry_issue_id(entry_id: str) -> str:
    """The repair issue that warns of a pasted token's expiry."""
    return f"{ISSUE_TOKEN_EXPIRING}_{entry_id}"


class TokenManager:
    """The token of one config entry: renewal, refusal handling, expiry warnings."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: IQGateway,
        cloud: EnlightenClient,
    ) -> None:
        """Read the stored token (None for firmware without token authentication)."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._cloud = cloud
        self._next_attempt: datetime | None = None
        self._account_refused = False
        token = entry.data.get(CONF_TOKEN)
        self.token_info: TokenInfo | None = None
        if token:
            try:
                self.token_info = parse_token(token)
            except InvalidTokenError:
                self.token_info = None  # renewed below if possible, else reauth
        self._stored_token: str | None = token

    @property
    def can_renew(self) -> bool:
        """Credentials are stored, so a new token can be fetched."""
        return bool(self._entry.data.get(CONF_USERNAME) and self._entry.data.get(CONF_PASSWORD))

    @property
    def two_step(self) -> bool:
        """The account signs in in two steps: renewal is a repair flow with a new code."""
        return bool(self._entry.data.get(CONF_TWO_STEP))

    @property
    def expires_at(self) -> datetime | None:
        """When the current token expires."""
        return self.token_info.expires_at if self.token_info else None

    @property
    def renew_at(self) -> datetime | None:
        """When a renewable token is due for renewal (None: not renewable or no token)."""
        if self.token_info is None or not self.can_renew:
            return None
        return self.token_info.expires_at - renewal_margin(self.token_info)

    async def async_check(self) -> None:
        """Before each poll: renew when due, warn about a pasted token, reauth on expiry."""
        if self._stored_token is None:
            return  # legacy firmware: no token at all
        now = dt_util.utcnow()
        if self.can_renew and (
            self.token_info is None or (self.renew_at is not None and now >= self.renew_at)
        ):
            await self._async_renew_when_due(now)
        self._update_expiry_issue(now)
        if self.token_info is not None and not self.token_info.is_expired(now):
            return
        if self.can_renew and not self._account_refused:
            # Renewal failed for a reason that may pass (the cloud is down): try again
            # at the next poll rather than asking the user for what they already gave.
            raise TokenError("token_renewal_pending", reauth=False)
        if self.token_info is None:
            raise TokenError("token_invalid", reauth=True)
        raise TokenError(
            "token_expired", reauth=True, expired=self.token_info.expires_at.isoformat()
        )

    async def async_handle_rejected(self) -> None:
        """The gateway refused the token twice: renew once, or ask for reauthentication.

        Returns when a new token is in place. Raises TokenError: for reauthentication
        when no new token can be had (none stored, or the account is refused), and to try
        later when the cloud cannot be reached (the refusal may be the gateway's).
        """
        if not self.can_renew:
            raise TokenError("token_rejected", reauth=True)
        try:
            await self._async_renew()
        except _CLOUD_HICCUPS as err:
            raise TokenError("renewal_cloud_unavailable", reauth=False) from err
        except EnlightenError as err:
            raise TokenError("renewal_refused", reauth=True) from err

    async def _async_renew_when_due(self, now: datetime) -> None:
        if self._next_attempt is not None and now < self._next_attempt:
            return
        try:
            await self._async_renew()
        except _CLOUD_HICCUPS as err:
            # Warn once; the retries of a long cloud outage are not worth a line each.
            LOGGER.log(
                logging.WARNING if self._next_attempt is None else logging.DEBUG,
                "Could not renew the IQ Gateway token, the current one stays in use until %s; "
                "retrying every %s: %s",
                self.expires_at,
                RENEW_RETRY_INTERVAL,
                err,
            )
            self._next_attempt = now + RENEW_RETRY_INTERVAL
        except EnlightenError as err:
            # The account itself is refused: only the user can fix that. Ask now, while
            # the current token still works, rather than when it has expired.
            self._next_attempt = now + RENEW_RETRY_INTERVAL
            if not self._account_refused:
                self._account_refused = True
                LOGGER.warning("The Enphase cloud refused to renew the IQ Gateway token: %s", err)
                self._entry.async_start_reauth(self._hass)

    async def _async_renew(self) -> None:
        """Fetch a new token with the stored credentials and put it to use."""
        data = self._entry.data
        info = await self._cloud.fetch_token(
            data[CONF_USERNAME], data[CONF_PASSWORD], data[CONF_SERIAL]
        )
        self.token_info = info
        self._stored_token = info.token
        self._next_attempt = None
        self._account_refused = False
        self._client.set_token(info.token)
        self._hass.config_entries.async_update_entry(
            self._entry, data={**self._entry.data, CONF_TOKEN: info.token}
        )
        LOGGER.info("Renewed the IQ Gateway token; the new one expires %s", info.expires_at)

    def _update_expiry_issue(self, now: datetime) -> None:
        """Raise (or clear) the repair issue for a token nearing expiry that is not renewed.

        Renewable tokens need no warning: an issue left from a pasted token goes once the
        entry signs in with an account. A two-step account's issue is fixable: its repair
        flow signs in again.
        """
        issue_id = expiry_issue_id(self._entry.entry_id)
        if (
            self.can_renew
            or self.token_info is None
            or self.token_info.expires_in(now) > PASTED_TOKEN_WARNING
        ):
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=self.two_step,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_TOKEN_EXPIRING_TWO_STEP
            if self.two_step
            else ISSUE_TOKEN_EXPIRING,
            data={"entry_id": self._entry.entry_id} if self.two_step else None,
            translation_placeholders={
                "title": self._entry.title,
                "expires": dt_util.as_local(self.token_info.expires_at).strftime("%Y-%m-%d %H:%M"),
            },
            learn_more_url=f"/config/integrations/integration/{DOMAIN}",
        )
