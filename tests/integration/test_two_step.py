"""Accounts with two-step sign-in: the code step of the config flow, reauth, and renewal.

Against the simulated cloud (two-step accounts, their codes, wrong and expired codes,
blocking, code endpoints that go away) and gateway over loopback; the one-time code is
read the way its owner would, from what the cloud "sent" (``cloud.last_code``). The clock
is frozen; the cloud's code expiry follows ``cloud.clock.advance``. The renewal repair is
run through Home Assistant's repairs flow manager, from the issue the token manager raises.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
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
    CONF_SERIAL,
    CONF_TWO_STEP,
    DOMAIN,
)
from custom_components.enphase_iq_gateway.iqgateway import (
    ENTREZ_URL,
    EnlightenClient,
    parse_token,
)
from custom_components.enphase_iq_gateway.sign_in import RESEND_INTERVAL, CloudSignIn
from custom_components.enphase_iq_gateway.token_manager import expiry_issue_id
from simulator import CloudSimulator, GatewaySimulator

from .conftest import (
    FROZEN_TIME,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    assert_translated,
    credentials_entry,
    fire,
    flow_choose,
    flow_step,
    issued_at,
    reauth_flows,
    setup_entry,
    suggested,
    two_step_entry,
)

pytestmark = [
    pytest.mark.freeze_time(FROZEN_TIME),
    pytest.mark.usefixtures("no_usage_reports", "cloud_client"),
]

POLL = timedelta(minutes=5)
DAY = 24 * 3600
YEAR = 365 * DAY
OTHER_SERIAL = "122212345678"
FIX_FLOW = "issues.token_expiring_two_step.fix_flow"

Result = dict[str, Any]


@pytest.fixture
def two_step_account(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    """The owner's account signs in in two steps, with the rich gateway on it."""
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, two_step=True)


def _code(cloud: CloudSimulator) -> str:
    """The code the cloud last sent: what the owner reads in the e-mail."""
    code = cloud.last_code(OWNER_EMAIL)
    assert code is not None
    return code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _credentials(gateway: GatewaySimulator, password: str = OWNER_PASSWORD) -> dict[str, str]:
    return {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: password, CONF_SERIAL: gateway.serial}


async def _to_credentials(hass: HomeAssistant, gateway: GatewaySimulator) -> Result:
    result = dict(await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"}))
    result = await flow_step(hass, result, {CONF_HOST: gateway.address})
    return await flow_choose(hass, result, "credentials")


async def _to_code(hass: HomeAssistant, gateway: GatewaySimulator) -> Result:
    """Sign in with the password: the code form."""
    result = await flow_step(hass, await _to_credentials(hass, gateway), _credentials(gateway))
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == "code"
    return result


def _time_passes(freezer: FrozenDateTimeFactory, cloud: CloudSimulator, seconds: float) -> None:
    """Time passes for Home Assistant and the cloud alike."""
    freezer.tick(timedelta(seconds=seconds))
    cloud.clock.advance(seconds)


def _errors(result: Result) -> dict[str, str]:
    assert result["type"] is FlowResultType.FORM, result
    return dict(result["errors"] or {})


def _assert_two_step_entry(data: Any, gateway: GatewaySimulator) -> None:
    """E-mail address, that it signs in in two steps, and a token: no password, no code."""
    assert data == {
        CONF_HOST: gateway.address,
        CONF_SERIAL: gateway.serial,
        CONF_USERNAME: OWNER_EMAIL,
        CONF_TWO_STEP: True,
        CONF_TOKEN: data[CONF_TOKEN],
    }
    assert parse_token(data[CONF_TOKEN]).serial == gateway.serial


# --------------------------------------------------------------------------- config flow


@pytest.mark.usefixtures("two_step_account")
async def test_two_step_account_signs_in_with_the_code(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """Password, then the code Enphase sent: the entry, with no password kept."""
    result = await _to_code(hass, gateway)
    assert cloud.stats["codes_sent"] == 1
    assert _errors(result) == {}
    assert suggested(result, CONF_NEW_CODE) is False
    assert result["description_placeholders"]["serial"] == gateway.serial
    validations = sum(gateway.stats.jwt_validations.values())

    result = await flow_step(hass, result, {CONF_CODE: f" {_code(cloud)[:3]} {_code(cloud)[3:]} "})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    _assert_two_step_entry(result["data"], gateway)
    assert cloud.stats["issued"] == 1
    assert sum(gateway.stats.jwt_validations.values()) > validations  # proven
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.tokens.two_step
    assert entry.runtime_data.tokens.renew_at is None  # not renewed unattended


@pytest.mark.usefixtures("two_step_account")
async def test_wrong_code_then_the_right_one(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """A wrong code: the same form says so; the right code then signs in."""
    result = await _to_code(hass, gateway)
    result = await flow_step(hass, result, {CONF_CODE: _wrong(_code(cloud))})
    assert result["step_id"] == "code"
    assert _errors(result) == {CONF_CODE: "invalid_code"}
    assert suggested(result, CONF_NEW_CODE) is False
    result = await flow_step(hass, result, {})
    assert _errors(result) == {CONF_CODE: "code_missing"}
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert cloud.stats["codes_sent"] == 1


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize("hint", [True, False], ids=["expiry-said", "expiry-unsaid"])
async def test_expired_code_then_a_new_one(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    hint: bool,
) -> None:
    """An expired code: a new one is offered, and the new code signs in.

    The box is ticked when the cloud says the code expired; when it does not, the
    wrong-code text mentions it.
    """
    cloud.otp_expiry_hint = hint
    result = await _to_code(hass, gateway)
    old = _code(cloud)
    _time_passes(freezer, cloud, cloud.otp_lifetime + 1)
    result = await flow_step(hass, result, {CONF_CODE: old})
    assert _errors(result) == {CONF_CODE: "code_expired" if hint else "invalid_code"}
    assert suggested(result, CONF_NEW_CODE) is hint

    result = await flow_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code_resent"
    assert _errors(result) == {}
    assert suggested(result, CONF_NEW_CODE) is False
    assert cloud.stats["codes_sent"] == 2
    assert cloud.stats["login"] == 1  # the same sign-in
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud), CONF_NEW_CODE: False})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result


@pytest.mark.usefixtures("two_step_account")
async def test_new_code_after_the_sign_in_expired_signs_in_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """A sign-in the cloud has forgotten cannot send a new code: a fresh login does."""
    result = await _to_code(hass, gateway)
    _time_passes(freezer, cloud, RESEND_INTERVAL.total_seconds())
    cloud._pending.clear()  # the login's cookies are no longer known (401)
    result = await flow_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code_resent"
    assert cloud.stats["login"] == 2
    assert cloud.stats["codes_sent"] == 2
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_new_code_when_the_account_no_longer_asks_for_one(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Two-step sign-in turned off meanwhile: signing in afresh needs no code.

    The entry is still stored as a two-step one (the account asked for a code).
    """
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, two_step=True)
    result = await _to_code(hass, gateway)
    _time_passes(freezer, cloud, RESEND_INTERVAL.total_seconds())
    cloud.accounts[OWNER_EMAIL].two_step = False
    cloud._pending.clear()
    result = await flow_step(hass, result, {CONF_NEW_CODE: True})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    _assert_two_step_entry(result["data"], gateway)


@pytest.mark.usefixtures("two_step_account")
async def test_new_code_at_most_every_30_seconds(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Enphase sends at most one code every 30 s: the form says when the next one can be.

    Nothing is asked of the cloud before then; the code in hand still works meanwhile.
    """
    result = await _to_code(hass, gateway)
    assert result["description_placeholders"]["resend_wait"] == "30"
    _time_passes(freezer, cloud, 12)
    result = await flow_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code"
    assert _errors(result) == {CONF_NEW_CODE: "code_resend_wait"}
    assert result["description_placeholders"]["resend_wait"] == "18"
    assert cloud.stats["codes_sent"] == 1
    assert cloud.stats["otp_requests"] == 0

    _time_passes(freezer, cloud, 18)
    result = await flow_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code_resent"
    assert cloud.stats["codes_sent"] == 2
    result = await flow_step(hass, result, {CONF_NEW_CODE: True})  # at once again
    assert _errors(result) == {CONF_NEW_CODE: "code_resend_wait"}
    assert result["description_placeholders"]["resend_wait"] == "30"
    assert cloud.stats["codes_sent"] == 2
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize("reply", ["session", "is_valid", "cookie_session"])
@pytest.mark.parametrize("login_reply", ["success", "requires_mfa"])
async def test_every_good_reply_on_record_signs_in(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    reply: str,
    login_reply: str,
) -> None:
    """Either two-step challenge, then a good code in any reply shape on record: signed in."""
    cloud.login_reply = login_reply
    cloud.otp_reply = reply
    result = await _to_code(hass, gateway)
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    _assert_two_step_entry(result["data"], gateway)


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_wrong_code_answered_with_a_status(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator, status: int
) -> None:
    """A wrong code answered with only a status is a wrong code: the right one then works."""
    cloud.otp_wrong_status = status
    result = await _to_code(hass, gateway)
    result = await flow_step(hass, result, {CONF_CODE: _wrong(_code(cloud))})
    assert result["step_id"] == "code"
    assert _errors(result) == {CONF_CODE: "invalid_code"}
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result


@pytest.mark.usefixtures("two_step_account")
async def test_sign_in_not_acceptable_leads_to_a_token(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Enlighten answering the sign-in with HTTP 406: the token form says why."""
    cloud.login_status = 406
    with caplog.at_level(logging.WARNING):
        result = await flow_step(hass, await _to_credentials(hass, gateway), _credentials(gateway))
    assert result["step_id"] == "token"
    assert _errors(result) == {"base": "cloud_reply_unknown"}
    assert_translated(result)
    assert "HTTP 406, fields: message" in caplog.text
    assert OWNER_PASSWORD not in caplog.text
    assert cloud.stats["codes_sent"] == 0


async def test_blocked_account_offers_waiting_or_a_token(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """A blocked account says so (not "wrong password"); once unblocked, signing in works."""
    account = cloud.add_account(
        OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, two_step=True, blocked=True
    )
    result = await flow_step(hass, await _to_credentials(hass, gateway), _credentials(gateway))
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "account_blocked"
    assert cloud.stats["codes_sent"] == 0

    account.blocked = False
    result = await flow_choose(hass, result, "credentials")
    assert suggested(result, CONF_USERNAME) == OWNER_EMAIL
    result = await flow_step(hass, result, _credentials(gateway))
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize("status", [200, 429])
async def test_too_many_wrong_codes_block(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator, status: int
) -> None:
    """Too many wrong codes: blocked, with a token as the way out."""
    cloud.otp_max_tries = 2
    cloud.otp_block_status = status
    result = await _to_code(hass, gateway)
    result = await flow_step(hass, result, {CONF_CODE: _wrong(_code(cloud))})
    assert _errors(result) == {CONF_CODE: "invalid_code"}
    result = await flow_step(hass, result, {CONF_CODE: _wrong(_code(cloud))})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "account_blocked"

    result = await flow_choose(hass, result, "token")
    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_HOST: gateway.address,
        CONF_SERIAL: gateway.serial,
        CONF_TOKEN: token,
    }


async def _codes_gone(cloud: CloudSimulator) -> None:
    cloud.otp_endpoints_status = 410  # a status of no meaning on record


async def _reply_unknown(cloud: CloudSimulator) -> None:
    cloud.otp_reply = "unknown"


async def _no_session(cloud: CloudSimulator) -> None:
    cloud.otp_reply = "no_session"


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize(
    ("breaks", "new_code"),
    [
        (_codes_gone, False),
        (_codes_gone, True),
        (_reply_unknown, False),
        (_no_session, False),
    ],
    ids=["gone-code", "gone-new-code", "unknown-reply", "no-session"],
)
async def test_code_step_not_offered_leads_to_a_token(
    *,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
    breaks: Any,
    new_code: bool,
) -> None:
    """The real two-step reply, but no code step that Home Assistant can complete.

    The cloud answers a status of no known meaning, or a good code with a reply of no
    shape on record: the token form says why, the log names the reply's shape (never a
    value), and a pasted token sets the gateway up.
    """
    result = await _to_code(hass, gateway)
    await breaks(cloud)
    _time_passes(freezer, cloud, RESEND_INTERVAL.total_seconds())
    code = _code(cloud)
    user_input = {CONF_NEW_CODE: True} if new_code else {CONF_CODE: code}
    result = await flow_step(hass, result, user_input)
    assert "HTTP " in caplog.text
    assert code not in caplog.text
    assert OWNER_EMAIL not in caplog.text
    assert result["step_id"] == "token"
    assert _errors(result) == {"base": "code_step_unavailable"}
    assert suggested(result, CONF_SERIAL) == gateway.serial

    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_TWO_STEP not in result["data"]


async def _cloud_fails(cloud: CloudSimulator) -> None:
    cloud.otp_endpoints_status = 500


async def _cloud_stops(cloud: CloudSimulator) -> None:
    await cloud.stop()


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize(
    ("breaks", "step_id"),
    [(_cloud_fails, "cloud_error"), (_cloud_stops, "cloud_unreachable")],
    ids=["failing", "unreachable"],
)
async def test_cloud_failing_at_the_code_step(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    breaks: Any,
    step_id: str,
) -> None:
    """The cloud failing between password and code: the credentials step's menus.

    Signing in again works once the cloud is back.
    """
    result = await _to_code(hass, gateway)
    await breaks(cloud)
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == step_id

    cloud.otp_endpoints_status = None
    if breaks is _cloud_stops:
        await cloud.start()  # on the same port
    result = await flow_choose(hass, result, "credentials")
    result = await flow_step(hass, result, _credentials(gateway))
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_serial_not_on_account_after_the_code(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """Entrez refusing the serial once the code is in: the sign-in form says which field."""
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {OTHER_SERIAL}, two_step=True)
    result = await _to_code(hass, gateway)
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["step_id"] == "credentials"
    assert _errors(result) == {CONF_SERIAL: "serial_not_on_account"}
    assert suggested(result, CONF_USERNAME) == OWNER_EMAIL
    assert suggested(result, CONF_PASSWORD) is None

    cloud.accounts[OWNER_EMAIL].serials.add(gateway.serial)
    result = await flow_step(hass, result, _credentials(gateway))
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("two_step_account")
async def test_gateway_refusing_the_token_after_the_code(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """The token is proven before anything is stored, two-step or not."""
    result = await _to_code(hass, gateway)
    gateway.add_fault("unauthorized", count=1, path="/auth/check_jwt")
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert _errors(result) == {"base": "token_rejected"}
    assert result["step_id"] == "credentials"


@pytest.mark.usefixtures("two_step_account")
async def test_unexpected_error_at_the_code_step(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """Anything unexpected shows as unknown on the code form; the code then still works."""
    result = await _to_code(hass, gateway)
    with patch.object(EnlightenClient, "submit_code", side_effect=Exception("boom")):
        result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["step_id"] == "code"
    assert _errors(result) == {"base": "unknown"}
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --------------------------------------------------------------------------- reauth


@pytest.mark.usefixtures("two_step_account")
async def test_reauth_of_a_two_step_entry(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator
) -> None:
    """The token expired: reauth asks for password and code, and stores the new token."""
    entry = await setup_entry(
        hass, two_step_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR + 60)))
    )
    assert entry.state is ConfigEntryState.SETUP_ERROR
    [flow] = reauth_flows(hass)
    result = dict(await hass.config_entries.flow.async_configure(flow["flow_id"]))
    assert_translated(result)
    assert result["step_id"] == "reauth_expired"
    result = await flow_choose(hass, result, "credentials")
    assert suggested(result, CONF_USERNAME) == OWNER_EMAIL
    result = await flow_step(hass, result, _credentials(gateway))
    assert result["step_id"] == "code"
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    _assert_two_step_entry(dict(entry.data), gateway)
    assert not parse_token(entry.data[CONF_TOKEN]).is_expired(dt_util.utcnow())


async def test_account_that_turns_on_two_step_sign_in(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stored password no longer renews the token: reauth, while the token works.

    The log says why; signing in with the code makes it a two-step entry, its password
    forgotten.
    """
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, two_step=True)
    entry = await setup_entry(
        hass, credentials_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR - DAY)))
    )
    assert entry.state is ConfigEntryState.LOADED  # the token still works
    assert "the account now signs in with a one-time code" in caplog.text
    [flow] = reauth_flows(hass)
    assert cloud.stats["tokens"] == 0

    result = dict(await hass.config_entries.flow.async_configure(flow["flow_id"]))
    result = await flow_choose(hass, result, "credentials")
    result = await flow_step(hass, result, _credentials(gateway))
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    _assert_two_step_entry(dict(entry.data), gateway)
    assert entry.state is ConfigEntryState.LOADED
    await fire(hass, freezer, POLL)
    assert not reauth_flows(hass)


# --------------------------------------------------------------------------- renewal repair


def _issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, expiry_issue_id(entry.entry_id))


async def _expiring_entry(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: GatewaySimulator
) -> MockConfigEntry:
    """A two-step entry whose token expires in 29 days: its repair issue is up."""
    token = gateway.issue_token(issued_at=issued_at(YEAR - 29 * DAY))
    entry = await setup_entry(hass, two_step_entry(gateway, token))
    assert entry.state is ConfigEntryState.LOADED
    assert _issue(hass, entry) is not None
    return entry


async def _fix(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    """Open the issue's repair flow, as its Fix button does."""
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = dict(
        await manager.async_init(DOMAIN, data={"issue_id": expiry_issue_id(entry.entry_id)})
    )
    assert_translated(result, FIX_FLOW)
    return result


async def _fix_step(hass: HomeAssistant, result: Result, user_input: dict[str, Any]) -> Result:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = dict(await manager.async_configure(result["flow_id"], user_input))
    assert_translated(result, FIX_FLOW)
    return result


def _account(password: str = OWNER_PASSWORD) -> dict[str, str]:
    return {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: password}


@pytest.mark.usefixtures("two_step_account")
async def test_two_step_token_warns_30_days_ahead_with_a_fixable_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Like a pasted token (no renewal, no reauth before expiry), but the issue is fixable."""
    token = gateway.issue_token(issued_at=issued_at(YEAR - 30 * DAY - 180))
    entry = await setup_entry(hass, two_step_entry(gateway, token))
    assert _issue(hass, entry) is None
    await fire(hass, freezer, POLL)
    issue = _issue(hass, entry)
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "token_expiring_two_step"
    assert issue.data == {"entry_id": entry.entry_id}
    assert issue.translation_placeholders == {
        "title": entry.title,
        "expires": dt_util.as_local(parse_token(token).expires_at).strftime(
            "%Y-%m-%d %H:%M %Z"  # with its time zone
        ),
    }
    assert not reauth_flows(hass)
    assert cloud.stats["login"] == 0  # nothing is tried unattended

    await fire(hass, freezer, timedelta(days=30))  # expired: reauth, as for a pasted token
    assert len(reauth_flows(hass)) == 1
    assert entry.runtime_data.last_exception.translation_key == "token_expired"


@pytest.mark.usefixtures("two_step_account")
async def test_renewal_repair_signs_in_with_password_and_code(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """The whole path, from the issue to the new token in use.

    Fix, password (a wrong one first), code (a wrong one, then a new one), the new token
    stored and in use, the issue gone.
    """
    entry = await _expiring_entry(hass, freezer, gateway)
    old = entry.data[CONF_TOKEN]
    runtime = entry.runtime_data

    result = await _fix(hass, entry)
    assert result["step_id"] == "sign_in"
    assert suggested(result, CONF_USERNAME) == OWNER_EMAIL
    assert suggested(result, CONF_PASSWORD) is None
    assert result["description_placeholders"] == {
        "title": entry.title,
        "expires": dt_util.as_local(parse_token(old).expires_at).strftime("%Y-%m-%d %H:%M %Z"),
    }
    result = await _fix_step(hass, result, _account("wrong"))
    assert _errors(result) == {CONF_PASSWORD: "invalid_auth"}
    result = await _fix_step(hass, result, _account())
    assert result["step_id"] == "code"
    result = await _fix_step(hass, result, {CONF_CODE: _wrong(_code(cloud))})
    assert _errors(result) == {CONF_CODE: "invalid_code"}
    result = await _fix_step(hass, result, {CONF_NEW_CODE: True})
    assert _errors(result) == {CONF_NEW_CODE: "code_resend_wait"}  # too soon
    _time_passes(freezer, cloud, RESEND_INTERVAL.total_seconds())
    result = await _fix_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code_resent"
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result

    await hass.async_block_till_done()
    assert _issue(hass, entry) is None
    new = parse_token(entry.data[CONF_TOKEN])
    assert new.token != old
    assert new.expires_at == dt_util.utcnow().replace(microsecond=0) + timedelta(seconds=YEAR)
    _assert_two_step_entry(dict(entry.data), gateway)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime  # reloaded with it
    assert entry.runtime_data.client.token == new.token
    await fire(hass, freezer, POLL)
    assert entry.runtime_data.last_update_success
    assert _issue(hass, entry) is None
    assert not reauth_flows(hass)


async def _blocked(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.accounts[OWNER_EMAIL].blocked = True


async def _older_mfa(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, mfa=True)


async def _no_codes(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.otp_endpoints_status = 410


async def _sign_in_not_acceptable(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.login_status = 406


async def _serial_gone(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.accounts[OWNER_EMAIL].serials.clear()


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize(
    ("breaks", "reason"),
    [
        (_blocked, "account_blocked"),
        (_older_mfa, "code_step_unavailable"),
        (_no_codes, "code_step_unavailable"),
        (_sign_in_not_acceptable, "cloud_reply_unknown"),
        (_serial_gone, "serial_not_on_account"),
    ],
    ids=["blocked", "older-mfa", "no-code-step", "not-acceptable", "serial-gone"],
)
async def test_renewal_repair_ends_where_only_waiting_or_a_token_help(
    *,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    breaks: Any,
    reason: str,
) -> None:
    """Each says why, the issue stays, and the token stays in use."""
    entry = await _expiring_entry(hass, freezer, gateway)
    token = entry.data[CONF_TOKEN]
    result = await _fix(hass, entry)
    await breaks(cloud, gateway)
    result = await _fix_step(hass, result, _account())
    if result["type"] is FlowResultType.FORM:  # the code step was reached
        result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.ABORT, result
    assert result["reason"] == reason
    assert result["description_placeholders"] == {"entrez_url": ENTREZ_URL}
    assert _issue(hass, entry) is not None
    assert entry.data[CONF_TOKEN] == token


@pytest.mark.usefixtures("two_step_account")
async def test_renewal_repair_errors_then_retry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Failures and expired or missing codes show on the form they happen at.

    Submitting again after each goes on.
    """
    entry = await _expiring_entry(hass, freezer, gateway)
    result = await _fix(hass, entry)

    cloud.outage = True
    result = await _fix_step(hass, result, _account())
    assert result["step_id"] == "sign_in"
    assert _errors(result) == {"base": "cloud_error"}
    cloud.outage = False
    result = await _fix_step(hass, result, _account())
    assert result["step_id"] == "code"

    result = await _fix_step(hass, result, {})
    assert _errors(result) == {CONF_CODE: "code_missing"}
    _time_passes(freezer, cloud, cloud.otp_lifetime + 1)
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert _errors(result) == {CONF_CODE: "code_expired"}
    assert suggested(result, CONF_NEW_CODE) is True
    result = await _fix_step(hass, result, {CONF_NEW_CODE: True})
    assert result["step_id"] == "code_resent"

    await cloud.stop()
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["step_id"] == "code_resent"
    assert _errors(result) == {"base": "cloud_unreachable"}
    await cloud.start()

    await gateway.stop()
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})  # the same code
    assert result["step_id"] == "sign_in"  # the code is used up: sign in again
    assert _errors(result) == {"base": "cannot_connect"}
    await gateway.start()

    gateway.add_fault("unauthorized", count=1, path="/auth/check_jwt")
    result = await _fix_step(hass, result, _account())
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert _errors(result) == {"base": "token_rejected"}

    with patch.object(EnlightenClient, "sign_in", side_effect=Exception("boom")):
        result = await _fix_step(hass, result, _account())
    assert _errors(result) == {"base": "unknown"}

    result = await _fix_step(hass, result, _account())
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert _issue(hass, entry) is None
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("two_step_account")
@pytest.mark.parametrize("when", ["before-password", "before-code"])
async def test_renewal_repair_for_a_removed_entry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    when: str,
) -> None:
    """The entry deleted while its repair flow is open: the flow says so, stores nothing."""
    entry = await _expiring_entry(hass, freezer, gateway)
    result = await _fix(hass, entry)
    if when == "before-code":
        result = await _fix_step(hass, result, _account())
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    user_input = {CONF_CODE: _code(cloud)} if when == "before-code" else _account()
    result = await _fix_step(hass, result, user_input)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_removed"
    assert cloud.stats["tokens"] == 0


@pytest.mark.parametrize("when", ["before-password", "before-new-code"])
async def test_renewal_repair_when_the_account_no_longer_asks_for_a_code(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    when: str,
) -> None:
    """Two-step sign-in turned off: the password alone gets the token (still not stored)."""
    account = cloud.add_account(
        OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, two_step=when == "before-new-code"
    )
    entry = await _expiring_entry(hass, freezer, gateway)
    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, _account())
    if when == "before-new-code":
        assert result["step_id"] == "code"
        account.two_step = False
        cloud._pending.clear()  # the sign-in expired: a new code means a fresh login
        _time_passes(freezer, cloud, RESEND_INTERVAL.total_seconds())
        result = await _fix_step(hass, result, {CONF_NEW_CODE: True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    _assert_two_step_entry(dict(entry.data), gateway)
    assert cloud.stats["issued"] == 1


def test_sign_in_state_shows_no_secret(hass: HomeAssistant) -> None:
    """What a flow keeps between its steps has a repr without the account in it."""
    sign_in = CloudSignIn(hass, OWNER_EMAIL, OWNER_PASSWORD)
    assert repr(sign_in) == "CloudSignIn(two_step=False, needs_code=False)"


# --------------------------------------------------------------------------- secrets


@pytest.mark.usefixtures("two_step_account")
async def test_two_step_secrets_never_logged(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No password, code, cookie, session id or e-mail address in the log.

    Sign in with wrong and right codes, fail at the code step, renew through the repair,
    all at DEBUG.
    """
    caplog.set_level(logging.DEBUG)
    codes: set[str] = set()
    cookies: set[str] = set()

    def remember(email: str, code: str) -> None:
        codes.add(code)

    cloud.on_code = remember
    result = await _to_code(hass, gateway)
    result = await flow_step(hass, result, {CONF_CODE: _wrong(_code(cloud))})
    cloud.otp_endpoints_status = 500
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["step_id"] == "cloud_error"
    cloud.otp_endpoints_status = None
    result = await flow_choose(hass, result, "credentials")
    result = await flow_step(hass, result, _credentials(gateway))
    cookies |= {p.session_cookie for p in cloud._pending.values()} | set(cloud._pending)
    cookies |= {p.xsrf for p in cloud._pending.values() if p.xsrf}
    result = await flow_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]

    await fire(hass, freezer, timedelta(days=340))  # the repair issue is up
    result = await _fix(hass, entry)
    result = await _fix_step(hass, result, _account())
    cookies |= {p.session_cookie for p in cloud._pending.values()} | set(cloud._pending)
    result = await _fix_step(hass, result, {CONF_CODE: _code(cloud)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in caplog.records
    )
    assert "Could not get a token from Enphase's cloud" in logged  # the log was captured
    secrets = {OWNER_PASSWORD, OWNER_EMAIL, *codes, *cookies, *cloud._sessions}
    assert len(codes) >= 2
    assert not {secret for secret in secrets if secret in logged}
