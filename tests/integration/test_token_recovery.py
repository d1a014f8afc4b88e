"""A refused token, a refused password, a cloud that says no for a while: back by itself.

A gateway that refuses tokens while Home Assistant starts waits in setup retries; a
password Enphase refused is tried once, ever (not again after a move or a restart); what
the cloud says for a moment (403, 429, a temporary block, an outage of hours) is retried,
never taken for a refused password; the log tells each refusal once; nothing kept in
memory shows a secret. Frozen clock, simulated gateway and cloud, as in
test_token_lifecycle.py.
"""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import (
    CONF_POWER_INTERVAL,
    CONF_REFUSED_CREDENTIALS,
    CONF_SERIAL,
    DOMAIN,
    RENEW_RETRY_INTERVAL,
)
from custom_components.enphase_iq_gateway.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.enphase_iq_gateway.token_manager import (
    AUTH_MEMORY,
    credentials_fingerprint,
    failing_issue_id,
    fingerprint_matches,
    refused_issue_id,
)
from simulator import CloudSimulator, GatewaySimulator
from tests.conftest import GatewayFactory

from .conftest import (
    FROZEN_TIME,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    credentials_entry,
    fire,
    flow_step,
    issued_at,
    reauth_flows,
    setup_entry,
    token_entry,
)

pytestmark = [
    pytest.mark.freeze_time(FROZEN_TIME),
    pytest.mark.usefixtures("no_usage_reports", "cloud_client"),
]

POLL = timedelta(minutes=5)
DAY = 24 * 3600
YEAR = 365 * DAY
OURS = "custom_components.enphase_iq_gateway"


async def _polls(hass: HomeAssistant, freezer: FrozenDateTimeFactory, count: int) -> None:
    for _ in range(count):
        await fire(hass, freezer, POLL)


def _entry(how: str, gateway: GatewaySimulator, token: str) -> MockConfigEntry:
    return (
        credentials_entry(gateway, token) if how == "credentials" else token_entry(gateway, token)
    )


def _refuse_tokens(gateway: GatewaySimulator) -> None:
    """The gateway refuses every token (it has just restarted); /info still answers."""
    gateway.add_fault("unauthorized", count=None, path="/auth/check_jwt")
    gateway.expire_sessions()


def _ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the integration logged (its coordinator logs under its name too)."""
    return [r for r in caplog.records if r.name.startswith(OURS)]


def _issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


# --------------------------------------------------------------------------- at startup


@pytest.mark.usefixtures("owner_account")
@pytest.mark.parametrize("how", ["token", "credentials"])
async def test_refusing_at_startup_waits_for_the_gateway(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    how: str,
) -> None:
    """Home Assistant starts while the gateway refuses every token (a power cut): it waits.

    Setup is retried (5, 10, 20, 40 ... s apart), none of which uses up the refusal's
    grace: no reauthentication, and the entry loads by itself once the gateway accepts.
    """
    _refuse_tokens(gateway)
    entry = await setup_entry(hass, _entry(how, gateway, gateway.issue_token()))
    for _ in range(12):  # two minutes of setup retries
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert "Retrying at the next polls" in str(entry.reason)
        await fire(hass, freezer, timedelta(seconds=10))
    assert gateway.stats.requests["/info"] >= 5  # five setups, at least
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not reauth_flows(hass)
    # With an account, one new token was fetched at the first refusal: no more.
    assert cloud.stats["login"] == (1 if how == "credentials" else 0)

    gateway.faults.clear()
    await fire(hass, freezer, timedelta(seconds=90))
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.last_update_success
    assert not reauth_flows(hass)
    assert _issue(hass, refused_issue_id(entry.entry_id)) is None
    assert cloud.stats["login"] == (1 if how == "credentials" else 0)


async def test_refusing_at_startup_for_good_ends_in_reauthentication(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """Beyond the grace a refusal at setup is final: reauthentication, and setup stops.

    (Home Assistant waits up to 80 s between two setup attempts, 2025.8+ up to 10 minutes.)
    """
    _refuse_tokens(gateway)
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    for _ in range(14):
        await fire(hass, freezer, timedelta(minutes=1))
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not reauth_flows(hass)
    for _ in range(8):
        await fire(hass, freezer, timedelta(minutes=1))
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass)) == 1
    assert "Settings → System → Repairs" in str(entry.reason)  # where to sign in


# --------------------------------------------------------------------------- the log


@pytest.mark.parametrize("power", [0, 10], ids=["main-poll", "power-lane"])
async def test_a_refusal_tells_its_story_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    caplog: pytest.LogCaptureFixture,
    power: int,
) -> None:
    """A warning when a poll first fails for it, info when it ends, no error meanwhile.

    A repair issue says what is going on while it lasts. A refusal for good ends in one
    error line, which says that polling has stopped and where to sign in.
    """
    caplog.set_level(logging.INFO, logger=OURS)
    entry = token_entry(gateway, gateway.issue_token())
    entry = await setup_entry(
        hass,
        MockConfigEntry(
            domain=DOMAIN,
            unique_id=entry.unique_id,
            title=entry.title,
            data=dict(entry.data),
            options={CONF_POWER_INTERVAL: power},
        ),
    )
    coordinator = entry.runtime_data
    issue_id = refused_issue_id(entry.entry_id)
    caplog.clear()
    gateway.add_fault("unauthorized", count=None)
    if power:  # the lane's ticks are refused first: they leave the verdict to the poll
        for _ in range(5):
            await fire(hass, freezer, timedelta(seconds=power))
        assert not coordinator.power.last_update_success
        assert not [r for r in _ours(caplog) if r.levelno >= logging.WARNING]
        await fire(hass, freezer, POLL - timedelta(seconds=5 * power))
    else:
        await fire(hass, freezer, POLL)
    since = dt_util.utcnow()
    assert not coordinator.last_update_success
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert not issue.is_fixable
    assert issue.translation_placeholders == {
        "title": entry.title,
        "since": dt_util.as_local(since).strftime("%Y-%m-%d %H:%M %Z"),  # with its time zone
        "minutes": "15",
    }
    await fire(hass, freezer, POLL)
    assert _issue(hass, issue_id) is not None
    gateway.faults.clear()
    await fire(hass, freezer, POLL)
    assert coordinator.last_update_success
    assert _issue(hass, issue_id) is None
    told = [(r.levelno, r.getMessage()) for r in _ours(caplog) if r.levelno >= logging.WARNING]
    assert len(told) == 1, told
    assert told[0][0] == logging.WARNING
    assert "refused the token; retrying at the next polls" in told[0][1]
    assert "The IQ Gateway accepts the token again" in caplog.text

    caplog.clear()
    gateway.add_fault("unauthorized", count=None)
    await _polls(hass, freezer, 4)
    assert len(reauth_flows(hass)) == 1
    assert _issue(hass, issue_id) is None  # not retrying any more: the reauth card says it
    errors = [r.getMessage() for r in _ours(caplog) if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "keeps refusing the token" in errors[0]
    assert "Settings → System → Repairs" in errors[0]
    assert errors[0].endswith("(polling has stopped)")
    assert "Authentication failed while fetching" not in caplog.text


# --------------------------------------------------------------------------- refused password


async def test_refused_password_is_tried_once_ever(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start_gateway: GatewayFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Not again after the gateway moves to another address, nor after a restart.

    The entry keeps a salted fingerprint of the refused credentials (not them); signing
    in again with a password that works drops it.
    """
    cloud.add_account(OWNER_EMAIL, "a new password", {gateway.serial})
    due = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))
    entry = await setup_entry(hass, credentials_entry(gateway, due))
    assert entry.state is ConfigEntryState.LOADED
    assert cloud.stats["login"] == 1
    fingerprint = entry.data[CONF_REFUSED_CREDENTIALS]
    salt, _, digest = fingerprint.partition(":")
    assert len(salt) == 32
    assert len(digest) == 64
    assert OWNER_PASSWORD not in fingerprint
    assert OWNER_EMAIL not in fingerprint
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert fingerprint not in str(diagnostics)
    [flow] = reauth_flows(hass)
    hass.config_entries.flow.async_abort(flow["flow_id"])  # the user closes it

    # The gateway moves (discovery or Reconfigure store only the new host).
    moved = await start_gateway()
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: moved.address})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await _polls(hass, freezer, 6)
    assert moved.stats.requests["/api/v1/production"] >= 6  # polled at the new address
    assert entry.runtime_data.last_update_success
    assert cloud.stats["login"] == 1

    # Home Assistant restarts: nothing kept in memory survives it.
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.data.pop(AUTH_MEMORY)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await _polls(hass, freezer, 6)
    assert entry.runtime_data.last_update_success
    assert cloud.stats["login"] == 1
    [flow] = reauth_flows(hass)  # asked again: the refusal is remembered

    # The owner signs in again with the password that works.
    result = await flow_step(hass, dict(flow), {"next_step_id": "credentials"})
    result = await flow_step(
        hass,
        result,
        {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: "a new password", CONF_SERIAL: gateway.serial},
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert CONF_REFUSED_CREDENTIALS not in entry.data
    assert entry.data[CONF_PASSWORD] == "a new password"
    assert entry.runtime_data.last_update_success


@pytest.mark.usefixtures("owner_account")
async def test_the_same_password_given_again_is_tried_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """A password refused while the account was locked, signed in with again: renewed."""
    due = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))
    cloud.accounts[OWNER_EMAIL].password = "changed for a while"
    entry = await setup_entry(hass, credentials_entry(gateway, due))
    assert CONF_REFUSED_CREDENTIALS in entry.data
    cloud.accounts[OWNER_EMAIL].password = OWNER_PASSWORD
    [flow] = reauth_flows(hass)
    result = await flow_step(hass, dict(flow), {"next_step_id": "credentials"})
    result = await flow_step(
        hass,
        result,
        {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: OWNER_PASSWORD, CONF_SERIAL: gateway.serial},
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert CONF_REFUSED_CREDENTIALS not in entry.data
    assert entry.data[CONF_PASSWORD] == OWNER_PASSWORD
    assert entry.data[CONF_TOKEN] != due


def test_fingerprint_tells_only_whether_the_credentials_match() -> None:
    """Salted: two fingerprints of the same credentials differ; anything else matches none."""
    first = credentials_fingerprint(OWNER_EMAIL, OWNER_PASSWORD)
    assert first != credentials_fingerprint(OWNER_EMAIL, OWNER_PASSWORD)
    assert fingerprint_matches(first, OWNER_EMAIL, OWNER_PASSWORD)
    assert not fingerprint_matches(first, OWNER_EMAIL, "another password")
    assert not fingerprint_matches(first, "other@example.com", OWNER_PASSWORD)
    for stored in (None, "", "not hex:00", 42):
        assert not fingerprint_matches(stored, OWNER_EMAIL, OWNER_PASSWORD)


# --------------------------------------------------------------------------- memory


async def test_sign_in_memory_shows_no_secret(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """What the integration keeps in hass.data has no password, e-mail or token in its repr."""
    cloud.add_account(OWNER_EMAIL, "a new password", {gateway.serial})
    due = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))
    entry = await setup_entry(hass, credentials_entry(gateway, due))
    await fire(hass, freezer, RENEW_RETRY_INTERVAL)
    memory = hass.data[AUTH_MEMORY][entry.entry_id]
    assert memory.token == due  # it does hold the token
    assert memory.last_login is not None
    shown = repr(hass.data[AUTH_MEMORY]) + repr(entry.runtime_data.tokens)
    for secret in (OWNER_PASSWORD, OWNER_EMAIL, due, due.rsplit(".", 1)[1]):
        assert secret not in shown


# --------------------------------------------------------------------------- the cloud


@pytest.mark.usefixtures("owner_account")
@pytest.mark.parametrize("answer", ["403", "429", "blocked"])
async def test_cloud_refusing_for_a_moment_is_no_refused_password(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    answer: str,
) -> None:
    """403, 429 or a blocked account: no reauthentication, the renewal is tried again."""

    def refusing(on: bool) -> None:
        if answer == "blocked":
            cloud.accounts[OWNER_EMAIL].blocked = on
        else:
            cloud.login_status = int(answer) if on else None

    refusing(True)
    due = gateway.issue_token(issued_at=issued_at(YEAR - 10 * DAY))
    entry = await setup_entry(hass, credentials_entry(gateway, due))
    assert entry.state is ConfigEntryState.LOADED
    assert cloud.stats["login"] == 1
    await fire(hass, freezer, RENEW_RETRY_INTERVAL)
    assert cloud.stats["login"] == 2  # tried again
    assert not reauth_flows(hass)
    assert CONF_REFUSED_CREDENTIALS not in entry.data
    assert entry.runtime_data.last_update_success

    refusing(False)
    await fire(hass, freezer, RENEW_RETRY_INTERVAL)
    assert cloud.stats["issued"] == 1
    assert entry.data[CONF_TOKEN] != due
    assert not reauth_flows(hass)


@pytest.mark.usefixtures("owner_account")
async def test_expired_token_and_the_cloud_down_for_hours_never_asks(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Renewal is retried every 15 minutes for as long as it takes, never asking the user.

    After an hour a repair issue says so. Asking would stop the retries, and nothing the
    user can do brings the cloud back.
    """
    cloud.outage = True
    expired = gateway.issue_token(issued_at=issued_at(YEAR + 60))
    entry = await setup_entry(hass, credentials_entry(gateway, expired))
    issue_id = failing_issue_id(entry.entry_id)
    await _polls(hass, freezer, 6)  # half an hour: three renewals at most have failed
    assert _issue(hass, issue_id) is None
    await _polls(hass, freezer, 30)  # three hours
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not reauth_flows(hass)
    assert _issue(hass, issue_id) is not None
    # Setup attempts come 80 s (2025.8+: up to 10 minutes) apart; sign-ins at most every
    # 15 minutes.
    assert 6 <= cloud.stats["login"] <= 13

    cloud.outage = False
    await _polls(hass, freezer, 6)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_TOKEN] != expired
    assert _issue(hass, issue_id) is None
