"""The token's life: renewal ahead of expiry, refusals, pasted tokens, and what is never logged.

The clock is frozen (the simulators read the same frozen clock, so the tokens they issue and
check agree with it) and moved with ``fire``; nothing sleeps for real. Polls happen when
Home Assistant's scheduler runs the coordinator, as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
import jwt
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.enphase_iq_gateway.const import (
    CONF_SERIAL,
    DOMAIN,
    REFUSAL_GRACE,
    RENEW_RETRY_INTERVAL,
)
from custom_components.enphase_iq_gateway.iqgateway import ENTREZ_URL, TokenInfo, parse_token
from custom_components.enphase_iq_gateway.iqgateway.endpoints import POLLED
from custom_components.enphase_iq_gateway.token_manager import expiry_issue_id, renewal_margin
from simulator import CloudSimulator, GatewaySimulator

from .conftest import (
    FROZEN_TIME,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    credentials_entry,
    fire,
    issued_at,
    reauth_flows,
    run_clock,
    setup_entry,
    token_entry,
)

pytestmark = [pytest.mark.freeze_time(FROZEN_TIME), pytest.mark.usefixtures("no_usage_reports")]

POLL = timedelta(minutes=5)
DAY = 24 * 3600
YEAR = 365 * DAY
TOKEN_SENSOR = "sensor.iq_gateway_token_expires"


async def polls(hass: HomeAssistant, freezer: FrozenDateTimeFactory, count: int) -> None:
    """Let ``count`` polls happen, each to its end."""
    for _ in range(count):
        await fire(hass, freezer, POLL)


def _token(entry: MockConfigEntry) -> TokenInfo:
    return parse_token(entry.data[CONF_TOKEN])


def _expiry_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, expiry_issue_id(entry.entry_id))


# --------------------------------------------------------------------------- renewal


def test_renewal_margins() -> None:
    """Owner tokens are renewed 30 days ahead, installer tokens 4 hours ahead."""
    now = datetime(2026, 6, 21, tzinfo=UTC)

    def info(role: str | None, lifetime: timedelta, issued: bool = True) -> TokenInfo:
        return TokenInfo("t", "1", role, now if issued else None, now + lifetime)

    assert renewal_margin(info("owner", timedelta(days=365))) == timedelta(days=30)
    assert renewal_margin(info("installer", timedelta(hours=12))) == timedelta(hours=4)
    # Without an issue time the role says how long the token lives.
    assert renewal_margin(info("installer", timedelta(hours=12), issued=False)) == timedelta(
        hours=4
    )
    assert renewal_margin(info("owner", timedelta(days=365), issued=False)) == timedelta(days=30)
    assert renewal_margin(info(None, timedelta(days=365), issued=False)) == timedelta(days=30)


@pytest.mark.usefixtures("cloud_client")
@pytest.mark.parametrize(
    "case",  # role, lifetime and renewal margin (s)
    [("owner", YEAR, 30 * DAY), ("installer", 12 * 3600, 4 * 3600)],
    ids=["owner-30-days", "installer-4-hours"],
)
async def test_renewed_ahead_of_expiry_without_reload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    case: tuple[str, int, int],
) -> None:
    """Just outside the margin nothing happens; the poll inside it renews and saves the token."""
    role, lifetime, margin = case
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, role=role)
    # Three minutes before the margin starts: setup keeps it, the next poll renews it.
    old = gateway.issue_token(role, issued_at=issued_at(lifetime - margin - 180))
    entry = await setup_entry(hass, credentials_entry(gateway, old))
    assert entry.state is ConfigEntryState.LOADED
    assert cloud.stats["issued"] == 0
    runtime = entry.runtime_data
    assert hass.states.get(TOKEN_SENSOR).state == _token(entry).expires_at.isoformat()

    await fire(hass, freezer, POLL)
    assert cloud.stats["issued"] == 1
    new = _token(entry)
    assert new.token != old
    assert new.role == role
    assert new.expires_at == dt_util.utcnow().replace(microsecond=0) + timedelta(seconds=lifetime)
    assert entry.runtime_data is runtime  # not reloaded
    assert entry.state is ConfigEntryState.LOADED
    assert runtime.client.token == new.token
    assert runtime.last_update_success
    assert hass.states.get(TOKEN_SENSOR).state == new.expires_at.isoformat()
    assert not reauth_flows(hass)

    await fire(hass, freezer, POLL)
    assert cloud.stats["issued"] == 1  # fresh now: not renewed again


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_cloud_outage_keeps_the_token_and_retries_after_15_minutes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A renewal that cannot reach the cloud keeps polling with the old token, quietly."""
    caplog.set_level(logging.DEBUG, logger="custom_components.enphase_iq_gateway")
    old = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))  # due
    cloud.outage = True
    entry = await setup_entry(hass, credentials_entry(gateway, old))
    assert entry.state is ConfigEntryState.LOADED  # the old token still works
    assert cloud.stats["login"] == 1
    coordinator = entry.runtime_data

    for _ in range(2):  # +5 and +10 minutes: too early to try again
        await fire(hass, freezer, POLL)
        assert cloud.stats["login"] == 1
        assert coordinator.last_update_success
    await fire(hass, freezer, RENEW_RETRY_INTERVAL - 2 * POLL)  # +15 minutes: again
    assert cloud.stats["login"] == 2
    assert entry.data[CONF_TOKEN] == old
    assert coordinator.last_update_success
    assert not reauth_flows(hass)
    assert _expiry_issue(hass, entry) is None
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    warnings = [r for r in ours if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # once, not at every attempt
    assert "stays in use" in warnings[0].getMessage()
    assert len([r for r in ours if "stays in use" in r.getMessage()]) == 2  # then at debug

    cloud.outage = False
    await fire(hass, freezer, RENEW_RETRY_INTERVAL)
    assert cloud.stats["issued"] == 1
    assert entry.data[CONF_TOKEN] != old
    assert entry.runtime_data is coordinator


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_cloud_answering_no_token_is_not_an_account_refusal(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """A maintenance page instead of a token is retried later, not turned into a reauth."""
    cloud.token_body_override = "<html><body>Scheduled maintenance</body></html>"
    old = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))
    entry = await setup_entry(hass, credentials_entry(gateway, old))
    assert entry.state is ConfigEntryState.LOADED
    assert cloud.stats["tokens"] == 1
    assert not reauth_flows(hass)

    cloud.token_body_override = None
    await fire(hass, freezer, RENEW_RETRY_INTERVAL)
    assert entry.data[CONF_TOKEN] != old
    assert not reauth_flows(hass)


@pytest.mark.usefixtures("cloud_client")
async def test_account_refused_asks_while_the_token_still_works(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A changed password: reauthentication is asked for now, and polling goes on meanwhile.

    The refused password is never tried again (96 failed logins a day could lock the
    account), until the user signs in again with the new one.
    """
    cloud.add_account(OWNER_EMAIL, "a new password", {gateway.serial})
    old = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))
    entry = await setup_entry(hass, credentials_entry(gateway, old))
    assert entry.state is ConfigEntryState.LOADED
    [flow] = reauth_flows(hass)
    assert "the stored account was refused" in caplog.text
    await run_clock(hass, freezer, timedelta(hours=3), POLL)
    assert cloud.stats["login"] == 1
    assert len(reauth_flows(hass)) == 1  # asked once
    assert entry.runtime_data.last_update_success
    assert entry.data[CONF_TOKEN] == old

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "credentials"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: "a new password", CONF_SERIAL: gateway.serial},
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_PASSWORD] == "a new password"
    assert entry.runtime_data.last_update_success
    assert cloud.stats["login"] == 2  # the flow's own sign-in


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_expired_while_the_cloud_is_down_waits_for_the_cloud(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """An expired renewable token and no cloud: not ready (no reauth) until the cloud is back."""
    cloud.outage = True
    entry = await setup_entry(
        hass, credentials_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR + 60)))
    )
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "could not be reached to renew it" in str(entry.reason)
    assert not reauth_flows(hass)

    cloud.outage = False
    await fire(hass, freezer, RENEW_RETRY_INTERVAL)  # setup is retried, the renewal too
    assert entry.state is ConfigEntryState.LOADED
    assert not _token(entry).is_expired(dt_util.utcnow())


# --------------------------------------------------------------------------- refusals


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize(
    ("how", "refusals", "available", "checks", "reads"),
    [
        # One refusal: the client's new session cures it, for any entry.
        ("token", 1, True, 1, 2),
        ("credentials", 1, True, 1, 2),
        # Two: a pasted token has its grace, this poll is unavailable.
        ("token", 2, False, 1, 1),
    ],
    ids=["cookie-retry-token", "cookie-retry-credentials", "grace"],
)
async def test_a_refusal_is_retried_not_a_verdict(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    *,
    how: str,
    refusals: int,
    available: bool,
    checks: int,
    reads: int,
) -> None:
    """401: the client retries with a new session; a second refusal is not final either.

    A token accepted before gets its grace: that poll is unavailable, the next one (the
    gateway had just restarted) goes on as before. No sign-in, no reauthentication.
    """
    token = gateway.issue_token()
    make = credentials_entry if how == "credentials" else token_entry
    entry = await setup_entry(hass, make(gateway, token))
    coordinator = entry.runtime_data
    gateway.stats.reset()
    gateway.add_fault("unauthorized", count=refusals)

    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success is available
    if not available:
        assert coordinator.last_exception.translation_key == "token_refused_retrying"
    assert gateway.stats.requests["/auth/check_jwt"] == checks
    assert gateway.stats.requests["/api/v1/production"] == reads
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert sum(cloud.stats.values()) == 0
    assert not reauth_flows(hass)
    assert entry.data[CONF_TOKEN] == token
    assert entry.runtime_data is coordinator


@pytest.mark.usefixtures("cloud_client")
async def test_refused_pasted_token_asks_once_the_refusal_persists(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Without an account to renew with, a refusal that lasts 15 minutes means reauth."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    gateway.add_fault("unauthorized", count=None)
    for _ in range(3):  # +5, +10, +15 minutes... the refusal began at +5
        await fire(hass, freezer, POLL)
        assert not coordinator.last_update_success
        assert coordinator.last_exception.translation_key == "token_refused_retrying"
        assert not reauth_flows(hass)
    await fire(hass, freezer, POLL)  # +20: refused for 15 minutes
    assert len(reauth_flows(hass)) == 1
    assert coordinator.last_exception.translation_key == "token_rejected"
    assert sum(cloud.stats.values()) == 0
    requests = sum(gateway.stats.requests.values())
    await fire(hass, freezer, timedelta(hours=1))
    assert sum(gateway.stats.requests.values()) == requests  # polling stopped: reauth


def _revoke(gateway: GatewaySimulator, token: str) -> None:
    """Enphase revokes ``token``: the gateway refuses it from now on."""
    gateway.authority.revoked.add(jwt.decode(token, options={"verify_signature": False})["jti"])
    gateway.expire_sessions()


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_revoked_token_is_renewed_in_the_same_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """A revoked token with a password stored: renewed at once, no poll fails.

    Still at most one sign-in per 15 minutes: the new token revoked too right after waits
    for the next sign-in, in the refusal's grace.
    """
    old = gateway.issue_token()
    entry = await setup_entry(hass, credentials_entry(gateway, old))
    coordinator = entry.runtime_data
    _revoke(gateway, old)

    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert cloud.stats["login"] == cloud.stats["issued"] == 1
    new = entry.data[CONF_TOKEN]
    assert new != old
    assert coordinator.client.token == new
    assert entry.runtime_data is coordinator  # not reloaded

    _revoke(gateway, new)  # five minutes after the sign-in
    for _ in range(2):  # +10, +15 minutes: too soon to sign in again
        await fire(hass, freezer, POLL)
        assert not coordinator.last_update_success
        assert coordinator.last_exception.translation_key == "token_refused_retrying"
        assert cloud.stats["login"] == 1
    await fire(hass, freezer, POLL)  # +20: 15 minutes after the sign-in
    assert coordinator.last_update_success
    assert cloud.stats["login"] == cloud.stats["issued"] == 2
    assert not reauth_flows(hass)


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("lasts", ["restart", "for-good"])
async def test_gateway_refusing_every_token_costs_one_sign_in(
    *,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
    lasts: str,
) -> None:
    """A gateway that refuses every token (it has just restarted): the new one too.

    One sign-in, then the refusal's grace holds for the new token: the gateway that comes
    back accepts it; one that refuses for good ends in reauthentication after the grace,
    without another sign-in. "Renewed" is logged only once the gateway took the token.
    """
    caplog.set_level(logging.INFO, logger="custom_components.enphase_iq_gateway")
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    gateway.add_fault("unauthorized", count=None)
    await fire(hass, freezer, POLL)
    assert cloud.stats["issued"] == 1
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "token_refused_retrying"
    assert "Renewed" not in caplog.text
    if lasts == "restart":
        gateway.faults.clear()
        await fire(hass, freezer, POLL)
        assert coordinator.last_update_success
        assert coordinator.client.token == entry.data[CONF_TOKEN]
        assert "Renewed the IQ Gateway token" in caplog.text
        await polls(hass, freezer, 12)
        assert cloud.stats["login"] == 1
        assert not reauth_flows(hass)
        return
    await polls(hass, freezer, 2)
    assert not reauth_flows(hass)
    await polls(hass, freezer, 1)  # refused for 15 minutes
    assert len(reauth_flows(hass)) == 1
    assert coordinator.last_exception.translation_key == "token_rejected"
    assert cloud.stats["login"] == 1
    assert "Renewed" not in caplog.text


@pytest.mark.usefixtures("cloud_client")
async def test_refused_and_the_account_refused_asks(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Refused by the gateway for good, and the cloud refuses the account: asked at once.

    The refusal keeps its grace (the gateway may just have restarted); after it, polling
    stops for reauthentication. The refused password is not tried again.
    """
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial})
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    cloud.add_account(OWNER_EMAIL, "changed meanwhile", {gateway.serial})
    gateway.add_fault("unauthorized", count=None)
    await fire(hass, freezer, POLL)
    assert cloud.stats["login"] == 1
    assert len(reauth_flows(hass)) == 1  # asked now
    assert entry.runtime_data.last_exception.translation_key == "token_refused_retrying"
    await fire(hass, freezer, REFUSAL_GRACE)
    assert len(reauth_flows(hass)) == 1
    assert entry.runtime_data.last_exception.translation_key == "renewal_refused"
    assert cloud.stats["login"] == 1
    assert cloud.stats["issued"] == 0
    assert not entry.runtime_data.last_update_success
    await fire(hass, freezer, timedelta(hours=2))
    assert cloud.stats["login"] == 1


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_refused_while_the_cloud_is_down_retries(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Refused, and no new token to be had: the poll fails, reauth is not asked for."""
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    cloud.outage = True
    gateway.add_fault("unauthorized", count=2)
    await fire(hass, freezer, POLL)
    coordinator = entry.runtime_data
    assert not coordinator.last_update_success
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert not reauth_flows(hass)
    cloud.outage = False
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success


# --------------------------------------------------------------------------- not refusals


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("kind", ["server_error", "html", "truncated"])
async def test_server_errors_and_garbage_are_no_auth_failure(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    kind: str,
) -> None:
    """5xx or unreadable answers from every endpoint: unavailable, never reauth or renewal."""
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    gateway.add_fault(kind, count=None)
    await fire(hass, freezer, POLL)
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "bad_response"
    assert not reauth_flows(hass)
    assert sum(cloud.stats.values()) == 0

    gateway.faults.clear()
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize(
    "case",  # fault, how many, how long the clock runs and in which steps, the error shown
    [
        # 45 s twice, for each of the two endpoints asked before the poll gives up
        ("timeout", 2, timedelta(minutes=4), timedelta(seconds=10), "timeout"),
        # aiohttp itself resends once on a reset kept-alive connection: reset them all.
        ("reset", None, timedelta(seconds=10), timedelta(seconds=1), "cannot_connect"),
    ],
    ids=["timeout", "reset"],
)
async def test_timeouts_and_resets_are_no_auth_failure(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    case: tuple[str, int | None, timedelta, timedelta, str],
) -> None:
    """Every request hangs (or is dropped) again after one retry: the poll fails, no reauth.

    The gateway is down; one endpoint alone fails only itself (test_endpoint_failures.py).
    """
    kind, count, total, step, key = case
    gateway.hang_seconds = 120
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    coordinator = entry.runtime_data
    gateway.stats.reset()
    for endpoint in POLLED:
        gateway.add_fault(kind, count=count, path=endpoint.path)

    freezer.tick(POLL)
    async_fire_time_changed(hass)  # the poll starts and its first request hangs
    await run_clock(hass, freezer, total, step)  # the request, 2 s, the retry; twice
    await hass.async_block_till_done()
    assert 2 <= gateway.stats.requests["/api/v1/production"] <= 4
    assert 2 <= gateway.stats.requests["/api/v1/production/inverters"] <= 4
    assert gateway.stats.requests["/ivp/meters"] == 0  # nothing answers: the poll ended
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == key
    assert not reauth_flows(hass)
    assert sum(cloud.stats.values()) == 0

    gateway.faults.clear()
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success


# --------------------------------------------------------------------------- pasted tokens


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("how", ["token", "credentials"])
async def test_pasted_token_warns_30_days_ahead_and_asks_at_expiry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    how: str,
) -> None:
    """A repair issue 30 days before expiry, reauth at expiry; signing in again clears both."""
    token = gateway.issue_token(issued_at=issued_at(YEAR - 30 * DAY - 180))
    entry = await setup_entry(hass, token_entry(gateway, token))
    assert _expiry_issue(hass, entry) is None
    assert entry.runtime_data.tokens.renew_at is None  # a pasted token is not renewed

    await fire(hass, freezer, POLL)
    issue = _expiry_issue(hass, entry)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "token_expiring"
    assert issue.translation_placeholders == {
        "title": entry.title,
        "expires": dt_util.as_local(parse_token(token).expires_at).strftime("%Y-%m-%d %H:%M"),
        "entrez_url": ENTREZ_URL,
    }
    assert not reauth_flows(hass)

    await fire(hass, freezer, timedelta(days=30))
    [flow] = reauth_flows(hass)
    assert not entry.runtime_data.last_update_success
    assert entry.runtime_data.last_exception.translation_key == "token_expired"

    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {"next_step_id": how})
    user_input = (
        {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
        if how == "token"
        else {
            CONF_USERNAME: OWNER_EMAIL,
            CONF_PASSWORD: OWNER_PASSWORD,
            CONF_SERIAL: gateway.serial,
        }
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.last_update_success
    assert _expiry_issue(hass, entry) is None


async def test_removing_the_entry_removes_its_issue(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """The repair issue does not outlive its entry."""
    entry = await setup_entry(
        hass, token_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY)))
    )
    assert _expiry_issue(hass, entry) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert _expiry_issue(hass, entry) is None


async def test_expired_pasted_token_at_setup_asks_for_reauth(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Setup with an expired pasted token fails with reauthentication, not a retry loop."""
    entry = await setup_entry(
        hass, token_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR + 1)))
    )
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass)) == 1
    assert gateway.stats.requests["/info"] == 0  # found out before asking the gateway


async def test_unreadable_stored_token_asks_for_reauth(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """A stored token that is no token: reauthentication."""
    entry = await setup_entry(hass, token_entry(gateway, "garbage"))
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass)) == 1


# --------------------------------------------------------------------------- secrets


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_secrets_never_logged(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sign in, set up, renew by date and after a refusal, fail a renewal, all at DEBUG."""
    caplog.set_level(logging.DEBUG)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: gateway.address}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "credentials"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: "wrong", CONF_SERIAL: gateway.serial},
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: OWNER_PASSWORD, CONF_SERIAL: gateway.serial},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    tokens = {entry.data[CONF_TOKEN]}
    sessions = set(gateway._sessions)

    def revoke() -> None:
        claims = jwt.decode(entry.data[CONF_TOKEN], options={"verify_signature": False})
        gateway.authority.revoked.add(claims["jti"])
        gateway.expire_sessions()

    await fire(hass, freezer, timedelta(days=340))  # due: renewed
    tokens.add(entry.data[CONF_TOKEN])
    revoke()  # refused for good: renewed again after the grace
    await run_clock(hass, freezer, REFUSAL_GRACE + POLL, POLL)
    tokens.add(entry.data[CONF_TOKEN])
    await fire(hass, freezer, POLL)
    sessions |= set(gateway._sessions)
    cloud.outage = True
    revoke()  # refused, and the cloud is down
    await run_clock(hass, freezer, REFUSAL_GRACE + POLL, POLL)
    sessions |= set(gateway._sessions)
    assert len(tokens) == 3
    assert cloud.stats["issued"] == 3

    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in caplog.records
    )
    assert "Renewed the IQ Gateway token" in logged  # the log was captured
    secrets = {OWNER_PASSWORD, OWNER_EMAIL, *sessions, *cloud._sessions}
    secrets |= {token.rsplit(".", 1)[1] for token in tokens}  # a token's signature, alone too
    secrets |= tokens
    leaked = {secret for secret in secrets if secret in logged}
    assert not leaked
