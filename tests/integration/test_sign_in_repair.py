"""Always a way back in: the repair that stands in for a reauthentication that cannot start.

Home Assistant starts no reauthentication while another flow of the entry is in progress,
and it does not show reconfigure flows: a Reconfigure dialog left open (the owner went to
Enphase's token site in the same tab, or closed the browser) would leave a gateway that
refuses its token dead with nothing to click. A fixable repair issue asks instead; its
flow signs in (with the one-time code where the account asks for one) or takes a pasted
token, and ends the reconfigure flows that were left open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway.const import (
    CONF_CODE,
    CONF_NEW_CODE,
    CONF_REFUSED_CREDENTIALS,
    CONF_TWO_STEP,
    DOMAIN,
)
from custom_components.enphase_iq_gateway.iqgateway import ENTREZ_URL, EnlightenClient, parse_token
from custom_components.enphase_iq_gateway.token_manager import sign_in_issue_id
from simulator import CloudSimulator, GatewaySimulator

from .conftest import (
    FROZEN_TIME,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    assert_translated,
    credentials_entry,
    fire,
    issued_at,
    reauth_flows,
    setup_entry,
    suggested,
    token_entry,
    two_step_entry,
)

pytestmark = [
    pytest.mark.freeze_time(FROZEN_TIME),
    pytest.mark.usefixtures("no_usage_reports", "cloud_client"),
]

POLL = timedelta(minutes=5)
YEAR = 365 * 24 * 3600
OTHER_SERIAL = "122212345678"
FIX_FLOW = "issues.sign_in_again.fix_flow"

Result = dict[str, Any]


async def _leave_reconfigure_open(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """Open the entry's Reconfigure dialog and walk away from it: its flow id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    return str(result["flow_id"])


def _open_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    return [
        flow["context"]["source"]
        for flow in hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, include_uninitialized=True, match_context={"entry_id": entry.entry_id}
        )
    ]


def _issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, sign_in_issue_id(entry.entry_id))


async def _refused_for_good(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """The gateway refuses every token from now on; the refusal's grace runs out."""
    gateway.add_fault("unauthorized", count=None, path="/auth/check_jwt")
    gateway.expire_sessions()
    for _ in range(4):
        await fire(hass, freezer, POLL)


async def _fix(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    """Open the issue's repair flow, as its Fix button does."""
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = dict(
        await manager.async_init(DOMAIN, data={"issue_id": sign_in_issue_id(entry.entry_id)})
    )
    assert_translated(result, FIX_FLOW)
    return result


async def _fix_step(hass: HomeAssistant, result: Result, user_input: dict[str, Any]) -> Result:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = dict(await manager.async_configure(result["flow_id"], user_input))
    assert_translated(result, FIX_FLOW)
    return result


def _errors(result: Result) -> dict[str, str]:
    assert result["type"] is FlowResultType.FORM, result
    return dict(result["errors"] or {})


def _account(password: str = OWNER_PASSWORD) -> dict[str, str]:
    return {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: password}


async def _blocked_entry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    entry: MockConfigEntry,
) -> MockConfigEntry:
    """``entry`` loaded, a Reconfigure left open, then the token refused for good."""
    entry = await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await _leave_reconfigure_open(hass, entry)
    await _refused_for_good(hass, freezer, gateway)
    assert entry.runtime_data.last_exception.translation_key == "token_rejected"
    assert not reauth_flows(hass)  # Home Assistant could not start one ...
    issue = _issue(hass, entry)  # ... so the repair asks
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "sign_in_again"
    assert issue.translation_placeholders == {"title": entry.title}
    return entry


# --------------------------------------------------------------------------- the way in


async def test_reconfigure_left_open_then_refused_a_pasted_token_brings_it_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """The whole path: no card, but a repair; a reload says where to sign in; a token fixes.

    Each wrong token says why on the form and can be corrected.
    """
    entry = await _blocked_entry(
        hass, freezer, gateway, token_entry(gateway, gateway.issue_token())
    )
    requests = sum(gateway.stats.requests.values())
    await fire(hass, freezer, timedelta(hours=1))
    assert sum(gateway.stats.requests.values()) == requests  # polling stopped
    assert _issue(hass, entry) is not None

    # A reload tells where to sign in (and the repair stays).
    assert not await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "Settings → System → Repairs" in str(entry.reason)
    assert not reauth_flows(hass)
    assert _issue(hass, entry) is not None

    result = await _fix(hass, entry)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "init"
    assert result["menu_options"] == ["sign_in", "token"]
    result = await _fix_step(hass, result, {"next_step_id": "token"})
    assert result["step_id"] == "token"
    assert result["description_placeholders"] == {
        "title": entry.title,
        "serial": gateway.serial,
        "entrez_url": ENTREZ_URL,
    }
    result = await _fix_step(hass, result, {CONF_TOKEN: "not a token"})
    assert _errors(result) == {CONF_TOKEN: "invalid_token"}
    expired = gateway.issue_token(issued_at=issued_at(YEAR + 60))
    result = await _fix_step(hass, result, {CONF_TOKEN: expired})
    assert _errors(result) == {CONF_TOKEN: "token_expired"}
    other = gateway.authority.issue(OTHER_SERIAL)
    result = await _fix_step(hass, result, {CONF_TOKEN: other})
    assert _errors(result) == {CONF_TOKEN: "token_wrong_gateway"}
    assert result["description_placeholders"]["token_serial"] == OTHER_SERIAL
    token = gateway.issue_token()
    result = await _fix_step(hass, result, {CONF_TOKEN: token})
    assert _errors(result) == {CONF_TOKEN: "token_rejected"}  # the gateway still refuses
    gateway.faults.clear()
    await gateway.stop()
    result = await _fix_step(hass, result, {CONF_TOKEN: token})
    assert _errors(result) == {"base": "cannot_connect"}
    assert suggested(result, CONF_TOKEN) == token
    await gateway.start()
    result = await _fix_step(hass, result, {CONF_TOKEN: f"Bearer {token}\n"})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result

    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.last_update_success
    assert entry.data[CONF_TOKEN] == token
    assert _issue(hass, entry) is None
    assert _open_flows(hass, entry) == []  # the Reconfigure left open is gone too
    await fire(hass, freezer, POLL)
    assert entry.runtime_data.last_update_success


@pytest.mark.usefixtures("owner_account")
async def test_the_repair_signs_in_with_the_account(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """An account entry whose new token is refused too: signing in again from the repair.

    The password is kept (the account signs in without a code): the token renews itself
    again. Cloud failures and a wrong password show on the form.
    """
    entry = await _blocked_entry(
        hass, freezer, gateway, credentials_entry(gateway, gateway.issue_token())
    )
    assert cloud.stats["login"] == 1  # the new token fetched at the first refusal
    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, {"next_step_id": "sign_in"})
    assert result["step_id"] == "sign_in"
    assert suggested(result, CONF_USERNAME) == OWNER_EMAIL
    result = await _fix_step(hass, result, _account("wrong"))
    assert _errors(result) == {CONF_PASSWORD: "invalid_auth"}
    cloud.outage = True
    result = await _fix_step(hass, result, _account())
    assert _errors(result) == {"base": "cloud_error"}
    cloud.outage = False
    await cloud.stop()
    result = await _fix_step(hass, result, _account())
    assert _errors(result) == {"base": "cloud_unreachable"}
    await cloud.start()
    with patch.object(EnlightenClient, "sign_in", side_effect=Exception("boom")):
        result = await _fix_step(hass, result, _account())
    assert _errors(result) == {"base": "unknown"}
    gateway.faults.clear()
    result = await _fix_step(hass, result, _account())
    assert result["type"] is FlowResultType.CREATE_ENTRY, result

    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_USERNAME] == OWNER_EMAIL
    assert entry.data[CONF_PASSWORD] == OWNER_PASSWORD
    assert CONF_TWO_STEP not in entry.data
    assert parse_token(entry.data[CONF_TOKEN]).serial == gateway.serial
    assert _issue(hass, entry) is None
    assert entry.runtime_data.tokens.renew_at is not None  # renewable again


async def test_the_repair_signs_in_a_two_step_account_with_its_code(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """A two-step token that expired while a Reconfigure was left open: password and code.

    Its password is not kept.
    """
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, two_step=True)
    entry = await setup_entry(
        hass, two_step_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR - 600)))
    )
    await _leave_reconfigure_open(hass, entry)
    await fire(hass, freezer, timedelta(minutes=15))  # expired
    assert entry.runtime_data.last_exception.translation_key == "token_expired"
    assert not reauth_flows(hass)
    assert _issue(hass, entry) is not None

    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, {"next_step_id": "sign_in"})
    cloud.login_status = 406  # a sign-in Enphase's cloud does not accept: paste a token
    ended = await _fix_step(hass, result, _account())
    assert ended["type"] is FlowResultType.ABORT
    assert ended["reason"] == "cloud_reply_unknown"
    assert ended["description_placeholders"] == {"entrez_url": ENTREZ_URL}
    cloud.login_status = None
    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, {"next_step_id": "sign_in"})
    result = await _fix_step(hass, result, _account())
    assert result["step_id"] == "code"
    result = await _fix_step(hass, result, {CONF_NEW_CODE: True})
    assert _errors(result) == {CONF_NEW_CODE: "code_resend_wait"}  # at most one every 30 s
    result = await _fix_step(hass, result, {})
    assert _errors(result) == {CONF_CODE: "code_missing"}
    code = cloud.last_code(OWNER_EMAIL)
    assert code is not None
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    result = await _fix_step(hass, result, {CONF_CODE: wrong})
    assert _errors(result) == {CONF_CODE: "invalid_code"}
    cloud.clock.advance(cloud.otp_lifetime + 1)
    freezer.tick(timedelta(seconds=cloud.otp_lifetime + 1))
    result = await _fix_step(hass, result, {CONF_CODE: code})
    assert _errors(result) == {CONF_CODE: "code_expired"}
    result = await _fix_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code_resent"
    result = await _fix_step(hass, result, {CONF_CODE: cloud.last_code(OWNER_EMAIL)})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result

    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_TWO_STEP] is True
    assert CONF_PASSWORD not in entry.data
    assert parse_token(entry.data[CONF_TOKEN]).expires_in(dt_util.utcnow()) > timedelta(days=300)
    assert _issue(hass, entry) is None


async def test_account_refused_with_a_reconfigure_open_asks_by_repair(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Enphase refuses the stored password while the token still works: the repair asks.

    It stays while the polls go on (the token works, the password does not), until the
    owner signs in with the new password; that also drops the refused fingerprint.
    """
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial})
    # Due for renewal two minutes after setup.
    token = gateway.issue_token(issued_at=issued_at(YEAR - 30 * 24 * 3600 - 120))
    entry = await setup_entry(hass, credentials_entry(gateway, token))
    assert cloud.stats["login"] == 0
    await _leave_reconfigure_open(hass, entry)
    cloud.accounts[OWNER_EMAIL].password = "new password"
    await fire(hass, freezer, POLL)
    assert cloud.stats["login"] == 1
    assert CONF_REFUSED_CREDENTIALS in entry.data
    assert not reauth_flows(hass)
    assert _issue(hass, entry) is not None
    await fire(hass, freezer, POLL)
    assert entry.runtime_data.last_update_success
    assert _issue(hass, entry) is not None  # a working token does not answer it

    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, {"next_step_id": "sign_in"})
    result = await _fix_step(hass, result, _account("new password"))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert CONF_REFUSED_CREDENTIALS not in entry.data
    assert entry.data[CONF_PASSWORD] == "new password"
    assert _issue(hass, entry) is None


async def test_without_an_open_flow_home_assistant_asks_itself(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> None:
    """No flow in the way: the usual reauthentication, and no repair of ours."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    await _refused_for_good(hass, freezer, gateway)
    assert len(reauth_flows(hass)) == 1
    assert _issue(hass, entry) is None


# --------------------------------------------------------------------------- where it ends


async def _older_mfa(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, mfa=True)


async def _blocked(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.accounts[OWNER_EMAIL].blocked = True


async def _serial_gone(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.accounts[OWNER_EMAIL].serials.clear()


@pytest.mark.usefixtures("owner_account")
@pytest.mark.parametrize(
    ("breaks", "reason"),
    [
        (_blocked, "account_blocked"),
        (_older_mfa, "code_step_unavailable"),
        (_serial_gone, "serial_not_on_account"),
        (None, "entry_removed"),
    ],
    ids=["blocked", "older-mfa", "serial-gone", "entry-removed"],
)
async def test_the_repair_ends_where_only_waiting_or_a_token_help(
    *,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    breaks: Any,
    reason: str,
) -> None:
    """Each says why; the issue stays (but with its entry)."""
    entry = await _blocked_entry(
        hass, freezer, gateway, token_entry(gateway, gateway.issue_token())
    )
    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, {"next_step_id": "sign_in"})
    if breaks is None:
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
    else:
        await breaks(cloud, gateway)
    result = await _fix_step(hass, result, _account())
    assert result["type"] is FlowResultType.ABORT, result
    assert result["reason"] == reason
    assert (_issue(hass, entry) is None) is (breaks is None)
