"""Keeps the gateway token valid for good.

Renewal
* With Enlighten credentials stored, the token is renewed before it expires (see const.py
  for the margins), the new one is saved in the config entry, and a failed renewal keeps
  the still-valid token and is retried later without bothering the user.
* A pasted token cannot be renewed: a repair issue warns 30 days before it expires, and
  reauthentication is asked for once it has.
* Neither can the token of an account with two-step sign-in: every sign-in needs a new
  one-time code, so its owner. It is treated like a pasted token, except that its repair
  issue is fixable: the repair flow (repairs.py) signs in with password and code and
  stores the new token. Such an entry stores its e-mail address, not its password: a
  password that cannot renew anything unattended would only be a secret kept for nothing.

A refused token (the gateway answers 401/403 twice: the client has already opened a new
session once). The rule:
1. With a password to sign in with, a refused token is renewed at once and the call tried
   again with the new token: a revoked token costs no failed poll.
2. Otherwise (no password, a sign-in less than RENEW_RETRY_INTERVAL ago, the cloud failing,
   or the new token refused too: a gateway that has just restarted refuses every token for
   a minute or two) the refusal has a grace: REFUSAL_GRACE from its first refusal, or
   REFUSAL_POLLS polls refused in a row, whichever ends first. The grace belongs to the
   refusal, not to a token: a token fetched meanwhile does not start it afresh. Only polls
   count as polls: setup attempts (Home Assistant retries a failed setup 5, 10, 20 s ...
   apart) and power-lane ticks count by time only. Inside the grace a refusal is "try
   again later" (UpdateFailed, at setup ConfigEntryNotReady), never reauthentication.
3. After the grace, reauthentication when no new token can help: none can be had (a pasted
   or two-step token, refused credentials), or one fetched during the refusal is refused
   too. While only the old token has been refused and no new one could be fetched yet (the
   cloud failing), the renewal is retried: a cloud outage ends by itself.
So a gateway restart costs at most one sign-in and no reauthentication; a gateway that
refuses every token for good ends in reauthentication after the grace, with one sign-in.

The cloud's answers
* Only an explicit refusal of the account stops sign-ins: wrong credentials, an account
  that now needs a one-time code (or a second step this client cannot take), a gateway that
  is not on the account. The entry then keeps a salted fingerprint of the refused e-mail
  and password (HMAC-SHA256, never the credentials themselves, nothing reversible), so the
  refused password is tried once, ever: not again after a restart or a new host, until
  the user signs in again (the flows drop the fingerprint). The user is asked at once,
  while the current token still works.
* Anything else (unreachable, 5xx, 403/429, a page, a temporary block) is retried after
  RENEW_RETRY_INTERVAL. While no token works, MAX_FAILED_RENEWALS failures in a row raise
  a repair issue that says so; the renewal goes on.
* No login storms (``AuthMemory``, kept across the entry's reloads): at most one cloud
  sign-in per RENEW_RETRY_INTERVAL, whatever asks for it.

Asking the user: reauthentication; but Home Assistant starts none while another flow of
the entry is in progress (a Reconfigure dialog left open, which it does not show), so then
a fixable repair issue takes its place (``async_request_sign_in``): its flow signs in
again or takes a pasted token.

What the user sees: while a refusal lasts, a repair issue says so (it goes by itself). The
log tells each refusal once: a warning when a poll first fails for it, an info line when
the token is accepted again, an error (the coordinator's) when it ends in
reauthentication. "Renewed" is logged only once the gateway has accepted the new token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
import hashlib
import hmac
import logging
import secrets
from typing import TYPE_CHECKING

from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_RECONFIGURE
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_REFUSED_CREDENTIALS,
    CONF_SERIAL,
    CONF_TWO_STEP,
    DOMAIN,
    ISSUE_RENEWAL_FAILING,
    ISSUE_SIGN_IN_AGAIN,
    ISSUE_TOKEN_EXPIRING,
    ISSUE_TOKEN_EXPIRING_TWO_STEP,
    ISSUE_TOKEN_REFUSED,
    LOGGER,
    MAX_FAILED_RENEWALS,
    PASTED_TOKEN_WARNING,
    REFUSAL_GRACE,
    REFUSAL_POLLS,
    RENEW_LIFETIME_FRACTION,
    RENEW_MARGIN_MAX,
    RENEW_RETRY_INTERVAL,
)
from .helpers import local_time
from .iqgateway import (
    EnlightenClient,
    EnlightenCodeRequiredError,
    EnlightenError,
    EnlightenInvalidCredentialsError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
    InvalidTokenError,
    IQGateway,
    TokenInfo,
    parse_token,
)
from .iqgateway.auth import ENTREZ_URL, ROLE_INSTALLER, ROLE_OWNER

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


# What the cloud answers that says the account itself cannot get a token: the user must
# act. Everything else it may answer (or not) is tried again later.
_ACCOUNT_REFUSALS = (
    EnlightenInvalidCredentialsError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
)

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


def refused_issue_id(entry_id: str) -> str:
    """The repair issue shown while the gateway refuses the token."""
    return f"{ISSUE_TOKEN_REFUSED}_{entry_id}"


def failing_issue_id(entry_id: str) -> str:
    """The repair issue shown while no new token can be had from the cloud."""
    return f"{ISSUE_RENEWAL_FAILING}_{entry_id}"


def sign_in_issue_id(entry_id: str) -> str:
    """The fixable repair issue that stands in for a reauthentication that cannot start."""
    return f"{ISSUE_SIGN_IN_AGAIN}_{entry_id}"


def issue_ids(entry_id: str) -> tuple[str, ...]:
    """Every repair issue about an entry's token."""
    return (
        expiry_issue_id(entry_id),
        refused_issue_id(entry_id),
        failing_issue_id(entry_id),
        sign_in_issue_id(entry_id),
    )


def credentials_fingerprint(username: str, password: str, salt: str | None = None) -> str:
    """A salted fingerprint of an e-mail address and password: ``salt:hmac``.

    It tells whether the stored credentials are the ones the cloud refused, and nothing
    else: an HMAC-SHA256 keyed with a random salt cannot be turned back into either.
    """
    salt = salt if salt is not None else secrets.token_hex(16)
    digest = hmac.new(
        bytes.fromhex(salt), f"{username}\n{password}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{salt}:{digest}"


def fingerprint_matches(fingerprint: object, username: str, password: str) -> bool:
    """Whether ``fingerprint`` was made from these credentials."""
    if not isinstance(fingerprint, str):
        return False
    salt = fingerprint.partition(":")[0]
    try:
        expected = credentials_fingerprint(username, password, salt)
    except ValueError:  # not a fingerprint of ours
        return False
    return hmac.compare_digest(expected, fingerprint)


@dataclass(slots=True)
class AuthMemory:
    """What one entry remembers across its reloads: a setup retry builds a new manager.

    ``last_login``: the last cloud sign-in attempt, whoever made it. ``token``: the token
    the counts below are about (never shown in ``repr``). ``refused_since``: when the
    gateway began refusing tokens, ``refusals``: at how many polls in a row. ``fresh``: the
    token in use was fetched from the cloud and the gateway has not accepted it yet.
    ``failed_renewals``: renewals that failed in a row while no token worked. ``failed``:
    the refusal made a call fail; ``told``: and the log has said so; ``cloud_told``: a
    failed renewal was logged at warning level, while the token worked (True) or not
    (False); the next ones are at debug level until that changes.
    """

    last_login: datetime | None = None
    token: str | None = field(default=None, repr=False)
    refused_since: datetime | None = None
    refusals: int = 0
    fresh: bool = False
    failed_renewals: int = 0
    failed: bool = False
    told: bool = False
    cloud_told: bool | None = None


AUTH_MEMORY: HassKey[dict[str, AuthMemory]] = HassKey(f"{DOMAIN}_auth_memory")


def auth_memory(hass: HomeAssistant, entry_id: str) -> AuthMemory:
    """The memory of one entry (made at its first use)."""
    return hass.data.setdefault(AUTH_MEMORY, {}).setdefault(entry_id, AuthMemory())


@callback
def async_request_sign_in(hass: HomeAssistant, entry: ConfigEntry, *, start: bool) -> None:
    """Ask the user to sign in again: a reauthentication, or a repair issue in its place.

    ``start``: start the reauthentication here (else Home Assistant does, for the
    ConfigEntryAuthFailed about to be raised). It starts none while a reauthentication or
    reconfigure flow of the entry is in progress. An open reauthentication is shown to the
    user; a reconfigure flow is not (one left open when the browser closed blocks every
    reauthentication until a restart): then a fixable repair issue asks instead.
    """
    sources = {
        flow["context"].get("source")
        for flow in hass.config_entries.flow.async_progress_by_handler(
            entry.domain, include_uninitialized=True, match_context={"entry_id": entry.entry_id}
        )
    }
    if SOURCE_REAUTH in sources:
        return
    if SOURCE_RECONFIGURE not in sources:
        if start:
            entry.async_start_reauth(hass)
        return
    if ir.async_get(hass).async_get_issue(DOMAIN, sign_in_issue_id(entry.entry_id)) is None:
        LOGGER.warning(
            "%s needs a new sign-in, but a Reconfigure dialog of it is open: a repair "
            "(Settings -> System -> Repairs) asks instead",
            entry.title,
        )
    ir.async_create_issue(
        hass,
        DOMAIN,
        sign_in_issue_id(entry.entry_id),
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_SIGN_IN_AGAIN,
        translation_placeholders={"title": entry.title},
        data={"entry_id": entry.entry_id},
    )


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
        self._asked = False  # the user was asked to sign in for refused credentials
        token = entry.data.get(CONF_TOKEN)
        if self._memory.token != token:  # a new token (the user's): its refusals start afresh
            last_login = self._memory.last_login
            self._memory = hass.data[AUTH_MEMORY][entry.entry_id] = AuthMemory(
                last_login=last_login, token=token
            )
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
        data = self._entry.data
        return self.can_renew and fingerprint_matches(
            data.get(CONF_REFUSED_CREDENTIALS), data[CONF_USERNAME], data[CONF_PASSWORD]
        )

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
        """Before each call: renew when due, warn about a pasted token, reauth on expiry."""
        if self._stored_token is None:
            return  # legacy firmware: no token at all
        now = dt_util.utcnow()
        usable = self.token_info is not None and not self.token_info.is_expired(now)
        due = self.renew_at is not None and now >= self.renew_at
        if self.credentials_refused:
            if not self._asked:  # also after a restart: the refusal is stored
                self._asked = True
                async_request_sign_in(self._hass, self._entry, start=True)
        elif self.can_renew and (not usable or due) and not self._login_too_soon(now):
            await self._async_try_renew(now, usable=usable)
        self._update_expiry_issue(now)
        if self.token_info is not None and not self.token_info.is_expired(now):
            return
        if self.can_renew and not self.credentials_refused:
            # Renewal failed for a reason that may pass (the cloud is down): try again
            # later rather than asking the user for what they already gave.
            self._note_failing_renewals()
            raise TokenError("token_renewal_pending", reauth=False)
        if self.token_info is None:
            raise TokenError("token_invalid", reauth=True)
        raise TokenError(
            "token_expired", reauth=True, expired=self.token_info.expires_at.isoformat()
        )

    async def async_handle_rejected(self, *, poll: bool) -> None:
        """The gateway refused the token: renew it now where possible, else judge.

        Returns when a new token is in place: the call is to be tried again with it (and
        ``new_token_refused`` judges should it be refused too). Raises TokenError otherwise
        (see the module's rule). ``poll``: a poll's call (False: setup's), which counts.
        """
        now = dt_util.utcnow()
        memory = self._memory
        if memory.refused_since is None:
            memory.refused_since = now
        if poll:
            memory.refusals += 1
        # A token fetched since the last one was accepted: the gateway refuses any token
        # now, and another sign-in would not change that.
        if (
            not memory.fresh
            and self.can_renew
            and not self.credentials_refused
            and not self._login_too_soon(now)
        ):
            LOGGER.debug("The IQ Gateway refused the token: fetching a new one")
            if await self._async_try_renew(now, usable=False):
                return
        raise self._refusal(now, poll=poll)

    def new_token_refused(self, *, poll: bool) -> TokenError:
        """The token just fetched for a refused one is refused too: what that means."""
        return self._refusal(dt_util.utcnow(), poll=poll)

    def token_accepted(self) -> None:
        """A call with the current token succeeded: refusals of it are over."""
        memory = self._memory
        if memory.fresh:
            memory.fresh = False
            LOGGER.info("Renewed the IQ Gateway token; the new one expires %s", self.expires_at)
        if memory.failed:
            LOGGER.info("The IQ Gateway accepts the token again")
        memory.refused_since = None
        memory.refusals = memory.failed_renewals = 0
        memory.failed = memory.told = False
        entry_id = self._entry.entry_id
        ir.async_delete_issue(self._hass, DOMAIN, refused_issue_id(entry_id))
        ir.async_delete_issue(self._hass, DOMAIN, failing_issue_id(entry_id))
        if not self.credentials_refused:
            ir.async_delete_issue(self._hass, DOMAIN, sign_in_issue_id(entry_id))

    def _refusal(self, now: datetime, *, poll: bool) -> TokenError:
        """What a refusal that no new token cured means now."""
        memory = self._memory
        memory.failed = True
        if self._in_grace(now):
            if poll and not memory.told:  # at setup, Home Assistant's own line says it
                memory.told = True
                LOGGER.warning(
                    "The IQ Gateway refused the token%s; retrying at the next polls (a "
                    "gateway that has just restarted refuses tokens for a few minutes)",
                    " (a new one too)" if memory.fresh else "",
                )
            self._raise_refused_issue()
            return TokenError("token_refused_retrying", reauth=False)
        if self.can_renew and not self.credentials_refused and not memory.fresh:
            # Only the old token was refused, and no new one could be fetched yet: the
            # renewal is tried again (the cloud may come back), the user is not asked.
            self._raise_refused_issue()
            self._note_failing_renewals()
            key = (
                "renewal_cloud_unavailable" if memory.failed_renewals else "token_refused_retrying"
            )
            return TokenError(key, reauth=False)
        ir.async_delete_issue(self._hass, DOMAIN, refused_issue_id(self._entry.entry_id))
        if self.credentials_refused:
            return TokenError("renewal_refused", reauth=True)
        return TokenError("token_rejected", reauth=True)

    def _in_grace(self, now: datetime) -> bool:
        """Whether a refusal is still to be retried rather than judged."""
        since = self._memory.refused_since
        return (
            since is not None
            and now - since < REFUSAL_GRACE
            and self._memory.refusals < REFUSAL_POLLS
        )

    def _login_too_soon(self, now: datetime) -> bool:
        """At most one cloud sign-in per RENEW_RETRY_INTERVAL, whatever asks for it."""
        last = self._memory.last_login
        return last is not None and now - last < RENEW_RETRY_INTERVAL

    def _raise_refused_issue(self) -> None:
        """Say in Repairs that the gateway refuses the token, and since when."""
        since = self._memory.refused_since
        assert since is not None
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            refused_issue_id(self._entry.entry_id),
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_TOKEN_REFUSED,
            translation_placeholders={
                "title": self._entry.title,
                "since": local_time(since),
                "minutes": str(int(REFUSAL_GRACE.total_seconds() // 60)),
            },
        )

    def _note_failing_renewals(self) -> None:
        """Say in Repairs when renewals have failed for long while no token works."""
        if self._memory.failed_renewals < MAX_FAILED_RENEWALS:
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            failing_issue_id(self._entry.entry_id),
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_RENEWAL_FAILING,
            translation_placeholders={
                "title": self._entry.title,
                "interval": str(int(RENEW_RETRY_INTERVAL.total_seconds() // 60)),
            },
        )

    async def _async_try_renew(self, now: datetime, *, usable: bool) -> bool:
        """Fetch a new token and put it to use; whether that worked.

        An explicit refusal of the account is remembered (no sign-in with these
        credentials again) and the user asked. Anything else is retried later; it counts
        as a failed renewal while no token works (``usable``: the current one does).
        """
        memory = self._memory
        try:
            await self._async_renew(now)
        except _ACCOUNT_REFUSALS as err:
            self._credentials_refused(err)
            return False
        except EnlightenError as err:
            if not usable:
                memory.failed_renewals += 1
            # Warn once (and again once the token stopped working); the retries of a long
            # cloud outage are not worth a line each.
            level = logging.DEBUG if memory.cloud_told is usable else logging.WARNING
            memory.cloud_told = usable
            if usable:
                LOGGER.log(
                    level,
                    "Could not renew the IQ Gateway token, the current one stays in use "
                    "until %s; retrying every %s: %s",
                    self.expires_at,
                    RENEW_RETRY_INTERVAL,
                    err,
                )
            else:
                LOGGER.log(
                    level,
                    "No IQ Gateway token works, and Enphase's cloud could not give a new one; "
                    "retrying every %s: %s",
                    RENEW_RETRY_INTERVAL,
                    err,
                )
            return False
        return True

    def _credentials_refused(self, err: EnlightenError) -> None:
        """Remember the refusal in the entry, and ask the user now.

        No sign-in with these credentials is tried again until they change, across
        restarts and host changes.
        """
        data = self._entry.data
        fingerprint = credentials_fingerprint(data[CONF_USERNAME], data[CONF_PASSWORD])
        self._hass.config_entries.async_update_entry(
            self._entry, data={**data, CONF_REFUSED_CREDENTIALS: fingerprint}
        )
        if isinstance(err, EnlightenCodeRequiredError):
            reason = "the account now signs in with a one-time code"
        elif isinstance(err, EnlightenSerialNotOnAccountError):
            reason = "the gateway is not on the stored account"
        else:
            reason = "the stored account was refused"
        LOGGER.warning(
            "Could not renew the IQ Gateway token (%s: %s): no further sign-in is tried "
            "until you sign in again",
            reason,
            err,
        )
        self._asked = True
        async_request_sign_in(self._hass, self._entry, start=True)

    async def _async_renew(self, now: datetime) -> None:
        """Fetch a new token with the stored credentials and put it to use."""
        data = self._entry.data
        memory = self._memory
        memory.last_login = now
        info = await self._cloud.fetch_token(
            data[CONF_USERNAME], data[CONF_PASSWORD], data[CONF_SERIAL]
        )
        self.token_info = info
        self._stored_token = info.token
        memory.token, memory.fresh, memory.cloud_told = info.token, True, None
        self._client.set_token(info.token)
        self._hass.config_entries.async_update_entry(
            self._entry, data={**self._entry.data, CONF_TOKEN: info.token}
        )
        LOGGER.debug("Got a new IQ Gateway token from Enphase (it expires %s)", info.expires_at)

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
                "expires": local_time(self.token_info.expires_at),
                # Where a pasted token comes from (the two-step repair signs in instead).
                **({} if self.two_step else {"entrez_url": ENTREZ_URL}),
            },
            learn_more_url=f"/config/integrations/integration/{DOMAIN}",
        )
