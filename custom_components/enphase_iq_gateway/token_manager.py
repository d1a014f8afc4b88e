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
* No login storms (``AuthMemory``, kept across the entry's reloads): at most one cloud
  sign-in per RENEW_RETRY_INTERVAL whatever asks for it; none at all with credentials the
  cloud has refused, until the user changes them; and after MAX_FAILED_RENEWALS failed
  renewals while no token works, the user is asked.
* A refusal is not a verdict at once: a token that is not expired and was accepted before
  is tried again at the following polls for REFUSAL_GRACE or REFUSAL_POLLS polls (a gateway
  that just restarted refuses tokens for a moment), the sensors unavailable meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_SERIAL,
    CONF_TWO_STEP,
    DOMAIN,
    ISSUE_TOKEN_EXPIRING,
    ISSUE_TOKEN_EXPIRING_TWO_STEP,
    LOGGER,
    MAX_FAILED_RENEWALS,
    PASTED_TOKEN_WARNING,
    REFUSAL_GRACE,
    REFUSAL_POLLS,
    RENEW_LIFETIME_FRACTION,
    RENEW_MARGIN_MAX,
    RENEW_RETRY_INTERVAL,
)
from .iqgateway import (
    EnlightenClient,
    EnlightenCodeRequiredError,
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


@dataclass(slots=True)
class AuthMemory:
    """What one entry remembers across its reloads: a setup retry builds a new manager.

    ``last_login``: the last cloud sign-in attempt, whoever made it. ``refused_data``: the
    entry's data when the cloud refused its credentials (no sign-in is tried again until
    the user changes it). ``token``: the token the two counts below are about.
    ``refused_since``: when the gateway began refusing it, ``refusals``: at how many polls
    in a row. ``failed_renewals``: renewals that failed in a row while no working token
    was at hand.
    """

    last_login: datetime | None = None
    refused_data: dict[str, Any] | None = None
    token: str | None = None
    refused_since: datetime | None = None
    refusals: int = 0
    failed_renewals: int = 0


AUTH_MEMORY: HassKey[dict[str, AuthMemory]] = HassKey(f"{DOMAIN}_auth_memory")


def auth_memory(hass: HomeAssistant, entry_id: str) -> AuthMemory:
    """The memory of one entry (made at its first use)."""
    return hass.data.setdefault(AUTH_MEMORY, {}).setdefault(entry_id, AuthMemory())


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
        self._memory = auth_memory(hass, entry.entry_id)
        self._warned = False
        token = entry.data.get(CONF_TOKEN)
        if self._memory.token != token:  # a new token: its refusals start afresh
            self._memory.token, self._memory.refused_since = token, None
            self._memory.refusals = self._memory.failed_renewals = 0
        # A stored token was accepted before: the flow proved it, or polls used it.
        self._accepted_token: str | None = token
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
    def credentials_refused(self) -> bool:
        """The cloud refused the stored credentials, and the user has not changed them."""
        return self._memory.refused_data == dict(self._entry.data)

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
        usable = self.token_info is not None and not self.token_info.is_expired(now)
        if self.can_renew and (not usable or (self.renew_at is not None and now >= self.renew_at)):
            await self._async_renew_when_due(now, usable=usable)
        self._update_expiry_issue(now)
        if self.token_info is not None and not self.token_info.is_expired(now):
            return
        if self.can_renew and not self.credentials_refused:
            self._raise_when_given_up()
            # Renewal failed for a reason that may pass (the cloud is down): try again
            # at a later poll rather than asking the user for what they already gave.
            raise TokenError("token_renewal_pending", reauth=False)
        if self.token_info is None:
            raise TokenError("token_invalid", reauth=True)
        raise TokenError(
            "token_expired", reauth=True, expired=self.token_info.expires_at.isoformat()
        )

    async def async_handle_rejected(self) -> None:
        """The gateway refused the token twice: wait, renew once, or ask for reauthentication.

        Returns when a new token is in place. Raises TokenError: to try again at the next
        polls while a token accepted before is in its grace (the gateway may have just
        restarted) or a sign-in was made too recently; for reauthentication when no new
        token can be had (none stored, the account is refused, or the cloud failed too
        often); and to try later when the cloud cannot be reached.
        """
        now = dt_util.utcnow()
        memory = self._memory
        if memory.refused_since is None:
            memory.refused_since = now
        memory.refusals += 1
        if self._in_grace(now) or (
            self.can_renew and not self.credentials_refused and self._login_too_soon(now)
        ):
            raise TokenError("token_refused_retrying", reauth=False)
        if not self.can_renew:
            raise TokenError("token_rejected", reauth=True)
        if self.credentials_refused:
            raise TokenError("renewal_refused", reauth=True)
        try:
            await self._async_renew(now)
        except _CLOUD_HICCUPS as err:
            memory.failed_renewals += 1
            self._raise_when_given_up()
            raise TokenError("renewal_cloud_unavailable", reauth=False) from err
        except EnlightenError as err:
            self._credentials_refused(err)
            raise TokenError("renewal_refused", reauth=True) from err

    def token_accepted(self) -> None:
        """A call with the current token succeeded: refusals of it are forgotten."""
        self._accepted_token = self._client.token
        self._memory.refused_since = None
        self._memory.refusals = self._memory.failed_renewals = 0

    def _in_grace(self, now: datetime) -> bool:
        """A refused token that is not expired and was accepted before is tried again."""
        since = self._memory.refused_since
        return (
            since is not None
            and now - since < REFUSAL_GRACE
            and self._memory.refusals < REFUSAL_POLLS
            and self.token_info is not None
            and not self.token_info.is_expired(now)
            and self._client.token == self._accepted_token
        )

    def _login_too_soon(self, now: datetime) -> bool:
        """At most one cloud sign-in per RENEW_RETRY_INTERVAL, whatever asks for it."""
        last = self._memory.last_login
        return last is not None and now - last < RENEW_RETRY_INTERVAL

    def _raise_when_given_up(self) -> None:
        """Ask the user once renewals have failed too often while no token works."""
        if self._memory.failed_renewals >= MAX_FAILED_RENEWALS:
            raise TokenError(
                "renewal_gave_up", reauth=True, attempts=str(self._memory.failed_renewals)
            )

    def _credentials_refused(self, err: EnlightenError) -> None:
        """Remember the refusal: no sign-in with these credentials until they change."""
        self._memory.refused_data = dict(self._entry.data)
        if isinstance(err, EnlightenCodeRequiredError):
            reason = "the account now signs in with a one-time code"
        else:
            reason = "the stored account was refused"
        LOGGER.warning(
            "Could not renew the IQ Gateway token (%s: %s): no further sign-in is tried "
            "until you sign in again",
            reason,
            err,
        )

    async def _async_renew_when_due(self, now: datetime, *, usable: bool) -> None:
        if self.credentials_refused or self._login_too_soon(now):
            return
        try:
            await self._async_renew(now)
        except _CLOUD_HICCUPS as err:
            if not usable:
                self._memory.failed_renewals += 1
            # Warn once; the retries of a long cloud outage are not worth a line each.
            LOGGER.log(
                logging.DEBUG if self._warned else logging.WARNING,
                "Could not renew the IQ Gateway token, the current one stays in use until %s; "
                "retrying every %s: %s",
                self.expires_at,
                RENEW_RETRY_INTERVAL,
                err,
            )
            self._warned = True
        except EnlightenError as err:
            # The account itself is refused: only the user can fix that. Ask now, while
            # the current token still works, rather than when it has expired.
            self._credentials_refused(err)
            self._entry.async_start_reauth(self._hass)

    async def _async_renew(self, now: datetime) -> None:
        """Fetch a new token with the stored credentials and put it to use."""
        data = self._entry.data
        self._memory.last_login = now
        info = await self._cloud.fetch_token(
            data[CONF_USERNAME], data[CONF_PASSWORD], data[CONF_SERIAL]
        )
        self.token_info = info
        self._stored_token = info.token
        self._warned = False
        self._client.set_token(info.token)
        self._hass.config_entries.async_update_entry(
            self._entry, data={**self._entry.data, CONF_TOKEN: info.token}
        )
        self._memory.token, self._memory.refused_since = info.token, None
        self._memory.refusals = 0
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
