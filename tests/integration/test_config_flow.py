"""The config flow as a user meets it, against the simulated gateway and cloud over loopback.

Nothing of the client is mocked: flows read /info, fetch tokens from the simulated cloud
over verified HTTPS and prove them against the simulated gateway. Every error a step can
show is followed by a successful retry in the same flow. For ``unknown`` one client method
raises a bare Exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from ipaddress import ip_address
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import (
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.enphase_iq_gateway import config_flow, helpers
from custom_components.enphase_iq_gateway.const import (
    CONF_INVERTER_ENTITIES,
    CONF_POWER_INTERVAL,
    CONF_SCAN_INTERVAL,
    CONF_SERIAL,
    DOMAIN,
    FLOW_REQUEST_TIMEOUT,
)
from custom_components.enphase_iq_gateway.iqgateway import (
    EnlightenClient,
    IQGateway,
    parse_token,
)
from simulator import CloudSimulator, GatewaySimulator, TokenAuthority
from tests.conftest import RICH_CAPTURE, GatewayFactory
from tests.iqgateway.common import GatewayTime

from .conftest import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    assert_translated,
    credentials_entry,
    flow_choose,
    flow_step,
    free_port,
    issued_at,
    reauth_flows,
    setup_entry,
    suggested,
    texts,
    token_entry,
)

pytestmark = pytest.mark.usefixtures("no_usage_reports")

LEGACY_CAPTURE = "5.0.62"
OTHER_SERIAL = "122212345678"
YEAR = 365 * 24 * 3600

Result = dict[str, Any]


async def _start(hass: HomeAssistant, source: str = SOURCE_USER, data: Any = None) -> Result:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": source}, data=data
    )
    assert_translated(result)
    return dict(result)


async def _to_auth_menu(hass: HomeAssistant, gateway: GatewaySimulator) -> Result:
    result = await flow_step(hass, await _start(hass), {CONF_HOST: gateway.address})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "auth"
    return result


def _credentials(password: str = OWNER_PASSWORD, **overrides: str) -> dict[str, str]:
    return {CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: password, **overrides}


def _errors(result: Result) -> dict[str, str]:
    assert result["type"] is FlowResultType.FORM, result
    return dict(result["errors"] or {})


@pytest.fixture
def flow_time(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> GatewayTime:
    """The flow's requests time out on the simulated gateway's time, not the machine's.

    A request the gateway hangs runs out of its FLOW_REQUEST_TIMEOUT at once; one it
    answers never does, however slow the machine.
    """
    time = GatewayTime()
    time.follow(gateway)
    for module in (config_flow, helpers):  # /info; the token's proof
        monkeypatch.setattr(module, "IQGateway", partial(IQGateway, timer=time))
    return time


# --------------------------------------------------------------------------- user step


async def test_user_form_starts_empty(hass: HomeAssistant) -> None:
    """The first form asks for the host; the field is empty (its help gives examples)."""
    result = await _start(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert _errors(result) == {}
    assert suggested(result, CONF_HOST) is None


async def test_user_cannot_connect_then_retry(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Nothing answers: cannot_connect on the host field; the typed host stays in the form."""
    dead = f"127.0.0.1:{free_port()}"
    result = await flow_step(hass, await _start(hass), {CONF_HOST: dead})
    assert _errors(result) == {CONF_HOST: "cannot_connect"}
    assert suggested(result, CONF_HOST) == dead

    result = await flow_step(hass, result, {CONF_HOST: gateway.address})
    assert result["type"] is FlowResultType.MENU
    assert result["description_placeholders"] == {
        "host": gateway.address,
        "serial": gateway.serial,
        "firmware": gateway.capture.firmware,
    }


@pytest.mark.parametrize(
    "typed",
    [
        "user@127.0.0.1",
        "a:b@127.0.0.1",
        "127.0.0.1/?x=1",
        "127.0.0.1#frag",
        f"{'x' * 64}.example",
        "bad host",
        "",
    ],
)
async def test_user_host_that_is_no_host_then_retry(
    hass: HomeAssistant, gateway: GatewaySimulator, typed: str
) -> None:
    """A user name, password, query, fragment or impossible name: a form error, no request."""
    gateway.stats.reset()
    result = await flow_step(hass, await _start(hass), {CONF_HOST: typed})
    assert _errors(result) == {CONF_HOST: "invalid_host"}
    assert sum(gateway.stats.requests.values()) == 0
    result = await flow_step(hass, result, {CONF_HOST: gateway.address})
    assert result["step_id"] == "auth"


@pytest.mark.parametrize(
    ("typed", "host"),
    [
        ("https://127.0.0.1:{port}/home", "127.0.0.1:{port}"),
        ("  127.0.0.1:{port} ", "127.0.0.1:{port}"),
        ("HTTP://127.0.0.1:{port}", "127.0.0.1:{port}"),
    ],
)
async def test_user_host_forms_that_are_accepted(
    hass: HomeAssistant, gateway: GatewaySimulator, typed: str, host: str
) -> None:
    """Pasted URLs and stray spaces come down to host:port."""
    port = gateway.port
    result = await flow_step(hass, await _start(hass), {CONF_HOST: typed.format(port=port)})
    assert result["step_id"] == "auth"
    assert result["description_placeholders"]["host"] == host.format(port=port)


def test_host_normalization() -> None:
    """IPv6 bare or in brackets, names and ports; nothing else."""
    normalize = config_flow.normalize_host
    assert normalize("fe80::1") == "[fe80::1]"
    assert normalize("[2001:db8::5]") == "[2001:db8::5]"
    assert normalize("[2001:db8::5]:8443") == "[2001:db8::5]:8443"
    assert normalize("https://[2001:db8::5]/x") == "[2001:db8::5]"
    assert normalize("Envoy.Local") == "envoy.local"
    assert normalize("192.168.1.5:443") == "192.168.1.5:443"
    for bad in ("a@b", "host:99999", "-bad-.local", "ex ample", "[fe80::1", "http://"):
        with pytest.raises(ValueError):
            normalize(bad)


async def test_user_host_that_never_answers(
    hass: HomeAssistant, gateway: GatewaySimulator, flow_time: GatewayTime
) -> None:
    """Accepts the connection, never answers: 'timeout' after the flow's short wait, once."""
    gateway.add_fault("timeout", path="/info", count=None)
    gateway.stats.reset()
    result = await flow_step(hass, await _start(hass), {CONF_HOST: gateway.address})
    assert _errors(result) == {CONF_HOST: "timeout"}
    assert gateway.stats.requests["/info"] == 1  # no retry while the user waits
    assert flow_time.expired == [FLOW_REQUEST_TIMEOUT]
    gateway.faults.clear()
    result = await flow_step(hass, result, {CONF_HOST: gateway.address})
    assert result["step_id"] == "auth"


async def test_user_flow_started_again_replaces_the_stale_one(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """A page reload leaves a flow behind, out of sight: adding again replaces it."""
    stale = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    assert stale["step_id"] == "token"
    again = await _to_auth_menu(hass, gateway)
    assert again["step_id"] == "auth"
    flows = [f["flow_id"] for f in hass.config_entries.flow.async_progress()]
    assert flows == [again["flow_id"]]
    result = await flow_choose(hass, again, "token")
    result = await flow_step(
        hass, result, {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_not_a_gateway_then_retry(
    hass: HomeAssistant, start_gateway: GatewayFactory, gateway: GatewaySimulator
) -> None:
    """Something answers, but not with an IQ Gateway's /info: not_a_gateway."""
    router = await start_gateway(RICH_CAPTURE, tls=False)
    router.capture.set("/info", "<html><body>Router login</body></html>")
    result = await flow_step(hass, await _start(hass), {CONF_HOST: router.address})
    assert _errors(result) == {CONF_HOST: "not_a_gateway"}

    result = await flow_step(hass, result, {CONF_HOST: gateway.address})
    assert result["step_id"] == "auth"


async def test_user_unknown_then_retry(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """An unexpected error reading /info: unknown, logged; the retry works."""
    with patch.object(IQGateway, "detect", side_effect=Exception("boom")):
        result = await flow_step(hass, await _start(hass), {CONF_HOST: gateway.address})
    assert _errors(result) == {CONF_HOST: "unknown"}

    result = await flow_step(hass, result, {CONF_HOST: gateway.address})
    assert result["step_id"] == "auth"


async def test_user_pastes_a_url(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """A pasted URL is reduced to host[:port], which is what the entry stores."""
    result = await flow_step(
        hass, await _start(hass), {CONF_HOST: f" https://{gateway.address}/home "}
    )
    result = await flow_choose(hass, result, "token")
    result = await flow_step(
        hass, result, {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HOST] == gateway.address


def test_normalize_host() -> None:
    """URLs, paths and blanks go; host and port stay."""
    assert config_flow.normalize_host("HTTP://192.168.1.5/") == "192.168.1.5"
    assert config_flow.normalize_host(" envoy.local:8443/x/y ") == "envoy.local:8443"
    assert config_flow.normalize_host("192.168.1.5") == "192.168.1.5"


async def test_legacy_gateway_skips_auth(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """Firmware without token authentication: confirm what was found, no sign-in step."""
    legacy = await start_gateway(LEGACY_CAPTURE)
    assert not legacy.tls
    result = await flow_step(hass, await _start(hass), {CONF_HOST: legacy.address})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"]["serial"] == legacy.serial
    assert result["description_placeholders"]["firmware"] == legacy.capture.firmware

    result = await flow_step(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IQ Gateway {legacy.serial}"
    assert result["data"] == {CONF_HOST: legacy.address, CONF_SERIAL: legacy.serial}
    assert result["result"].unique_id == legacy.serial
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_already_configured_updates_the_stored_host(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """A second entry for the same gateway aborts, and the stored host follows the new one."""
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "127.0.0.1:1"})

    result = await flow_step(hass, await _start(hass), {CONF_HOST: gateway.address})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured_moved"
    assert entry.data[CONF_HOST] == gateway.address

    # The same address again: nothing to update, and the message does not claim so.
    result = await flow_step(hass, await _start(hass), {CONF_HOST: gateway.address})
    assert result["reason"] == "already_configured"


async def test_already_configured_moves_a_loaded_entry_once(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    gateway: GatewaySimulator,
) -> None:
    """A loaded entry given a new host is reloaded there, by itself, without warnings."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    assert entry.state is ConfigEntryState.LOADED
    moved = await start_gateway(RICH_CAPTURE)  # the same gateway, now at another address
    result = await flow_step(hass, await _start(hass), {CONF_HOST: moved.address})
    assert result["reason"] == "already_configured_moved"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.client.host == moved.address


# --------------------------------------------------------------------------- credentials


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_credentials_create_the_entry(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """Sign in: the token comes from the cloud and is proven against the gateway."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "credentials")
    assert result["step_id"] == "credentials"
    assert suggested(result, CONF_SERIAL) == gateway.serial
    assert suggested(result, CONF_USERNAME) is None
    validations = sum(gateway.stats.jwt_validations.values())

    result = await flow_step(hass, result, _credentials(**{CONF_SERIAL: f" {gateway.serial} "}))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert data[CONF_USERNAME] == OWNER_EMAIL
    assert data[CONF_PASSWORD] == OWNER_PASSWORD
    assert data[CONF_SERIAL] == gateway.serial
    assert parse_token(data[CONF_TOKEN]).serial == gateway.serial
    assert cloud.stats["issued"] == 1
    assert sum(gateway.stats.jwt_validations.values()) > validations  # proven
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def _no_change(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    """Nothing to repair: the retry itself is different."""


CredentialsCase = tuple[
    Callable[[CloudSimulator, GatewaySimulator], Awaitable[None]],  # break
    Callable[[GatewaySimulator], dict[str, str]],  # what the user types
    dict[str, str],  # the errors shown
    Callable[[CloudSimulator, GatewaySimulator], Awaitable[None]],  # repair
    Callable[[GatewaySimulator], dict[str, str]],  # what the user types on retry
]


async def _wrong_password(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    pass


async def _account_without_serial(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, set())
    cloud.add_account(
        "installer@example.com", "installer secret", {gateway.serial}, role="installer"
    )


async def _cloud_down(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.outage = True


async def _cloud_up(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.outage = False


async def _cloud_answers_a_page(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.token_body_override = "<html><body>Down for maintenance</body></html>"


async def _cloud_answers_tokens(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.token_body_override = None


async def _account_with_two_gateways(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial, OTHER_SERIAL})


async def _gateway_down(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    await gateway.stop()


async def _gateway_up(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    await gateway.start()  # on the same port


CREDENTIAL_ERRORS: dict[str, CredentialsCase] = {
    "invalid_auth": (
        _wrong_password,
        lambda gw: _credentials("wrong password", serial=gw.serial),
        {CONF_PASSWORD: "invalid_auth"},
        _no_change,
        lambda gw: _credentials(serial=gw.serial),
    ),
    "serial_not_on_account": (
        _account_without_serial,
        lambda gw: _credentials(serial=gw.serial),
        {CONF_SERIAL: "serial_not_on_account"},
        _no_change,
        lambda gw: {
            CONF_USERNAME: "installer@example.com",
            CONF_PASSWORD: "installer secret",
            CONF_SERIAL: gw.serial,
        },
    ),
    "token_rejected": (  # the serial "corrected" to another gateway on the account
        _account_with_two_gateways,
        lambda gw: _credentials(serial=OTHER_SERIAL),
        {"base": "token_rejected"},
        _no_change,
        lambda gw: _credentials(serial=gw.serial),
    ),
    "cannot_connect": (  # the gateway went away after /info was read
        _gateway_down,
        lambda gw: _credentials(serial=gw.serial),
        {"base": "cannot_connect"},
        _gateway_up,
        lambda gw: _credentials(serial=gw.serial),
    ),
}


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("case", CREDENTIAL_ERRORS.values(), ids=CREDENTIAL_ERRORS.keys())
async def test_credentials_error_then_retry(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    case: CredentialsCase,
) -> None:
    """Each error shows on its field with the typed values kept; the retry creates the entry."""
    breaks, typed, errors, repair, retyped = case
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "credentials")
    await breaks(cloud, gateway)
    user_input = typed(gateway)
    result = await flow_step(hass, result, user_input)
    assert _errors(result) == errors
    assert result["step_id"] == "credentials"
    assert suggested(result, CONF_USERNAME) == user_input[CONF_USERNAME]
    assert suggested(result, CONF_SERIAL) == user_input[CONF_SERIAL]
    assert suggested(result, CONF_PASSWORD) is None  # never sent back to the browser

    await repair(cloud, gateway)
    retry = retyped(gateway)
    result = await flow_step(hass, result, retry)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_USERNAME] == retry[CONF_USERNAME]
    assert result["data"][CONF_SERIAL] == gateway.serial
    assert parse_token(result["data"][CONF_TOKEN]).serial == gateway.serial


async def _cloud_stopped(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    await cloud.stop()


async def _cloud_started(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    await cloud.start()


CLOUD_FAILURES = {
    "unreachable": (_cloud_stopped, "cloud_unreachable", _cloud_started),
    "outage": (_cloud_down, "cloud_error", _cloud_up),
    "page_for_a_token": (_cloud_answers_a_page, "cloud_error", _cloud_answers_tokens),
}


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize("case", CLOUD_FAILURES.values(), ids=CLOUD_FAILURES.keys())
@pytest.mark.parametrize("then", ["credentials", "token"])
async def test_cloud_failure_offers_retry_or_token(
    *,
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
    case: tuple[Any, str, Any],
    then: str,
) -> None:
    """Unreachable or answering oddly, each says which, logs why, and leads on both ways."""
    breaks, step_id, repair = case
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "credentials")
    await breaks(cloud, gateway)
    result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == step_id
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert any("Could not get a token from Enphase's cloud" in m for m in logged), logged
    assert not any(OWNER_PASSWORD in m or OWNER_EMAIL in m for m in logged)

    await repair(cloud, gateway)
    result = await flow_choose(hass, result, then)
    if then == "credentials":
        assert suggested(result, CONF_USERNAME) == OWNER_EMAIL  # typed once is enough
        result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    else:
        assert result["step_id"] == "token"
        result = await flow_step(
            hass, result, {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result


@pytest.mark.usefixtures("cloud_client", "owner_account")
@pytest.mark.parametrize(
    "method",
    [(EnlightenClient, "sign_in"), (EnlightenClient, "fetch_token_for"), (IQGateway, "check_jwt")],
    ids=["sign-in", "token", "gateway"],
)
async def test_credentials_unknown_then_retry(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    method: tuple[type, str],
) -> None:
    """An unexpected error fetching or proving the token: unknown; the retry works."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "credentials")
    with patch.object(*method, side_effect=Exception("boom")):
        result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    assert _errors(result) == {"base": "unknown"}
    result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("cloud_client")
async def test_credentials_mfa_offers_a_token(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud: CloudSimulator, cloud_client: None
) -> None:
    """An account with two-step sign-in cannot be used: the token form says so; pasting works."""
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial}, mfa=True)
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "credentials")
    result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    assert result["step_id"] == "token"
    assert _errors(result) == {"base": "mfa_enabled"}
    assert suggested(result, CONF_SERIAL) == gateway.serial
    assert cloud.stats["issued"] == 0

    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_HOST: gateway.address,
        CONF_SERIAL: gateway.serial,
        CONF_TOKEN: token,
    }


# --------------------------------------------------------------------------- token


async def test_token_creates_the_entry(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """A pasted token with line breaks from copying is cleaned, proven and stored."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    assert result["step_id"] == "token"
    assert suggested(result, CONF_SERIAL) == gateway.serial
    token = gateway.issue_token()
    pasted = "\n".join(token[i : i + 60] for i in range(0, len(token), 60))
    result = await flow_step(hass, result, {CONF_TOKEN: pasted, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_HOST: gateway.address,
        CONF_SERIAL: gateway.serial,
        CONF_TOKEN: token,
    }


async def test_token_accepted_while_production_fails(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """The proof is the token check; a failing data endpoint does not refuse the token."""
    gateway.add_fault("server_error", path="/api/v1/production")
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    result = await flow_step(
        hass, result, {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(gateway.faults) == 0  # the proof met the failing endpoint


def _garbage(gateway: GatewaySimulator, authority: TokenAuthority) -> str:
    return "this is not a token"


def _expired(gateway: GatewaySimulator, authority: TokenAuthority) -> str:
    return gateway.issue_token(issued_at=issued_at(YEAR + 60))


def _for_another_gateway(gateway: GatewaySimulator, authority: TokenAuthority) -> str:
    return authority.issue(OTHER_SERIAL)


def _not_from_enphase(gateway: GatewaySimulator, authority: TokenAuthority) -> str:
    return TokenAuthority().issue(gateway.serial)  # the right claims, a foreign signature


TOKEN_ERRORS = {
    "invalid_token": (_garbage, {CONF_TOKEN: "invalid_token"}),
    "token_expired": (_expired, {CONF_TOKEN: "token_expired"}),
    "token_wrong_gateway": (_for_another_gateway, {CONF_TOKEN: "token_wrong_gateway"}),
    "token_rejected": (_not_from_enphase, {CONF_TOKEN: "token_rejected"}),
}


@pytest.mark.parametrize("case", TOKEN_ERRORS.values(), ids=TOKEN_ERRORS.keys())
async def test_token_error_then_retry(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    authority: TokenAuthority,
    case: tuple[Callable[[GatewaySimulator, TokenAuthority], str], dict[str, str]],
) -> None:
    """Garbage, expired, another gateway's or a forged token: refused before any entry."""
    make_token, errors = case
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    bad = make_token(gateway, authority)
    result = await flow_step(hass, result, {CONF_TOKEN: bad, CONF_SERIAL: gateway.serial})
    assert _errors(result) == errors
    assert suggested(result, CONF_TOKEN) == bad
    assert not hass.config_entries.async_entries(DOMAIN)
    placeholders = result["description_placeholders"]
    if "token_expired" in errors.values():  # says when it expired
        local = dt_util.as_local(parse_token(bad).expires_at)
        assert placeholders["expired"] == local.strftime("%Y-%m-%d %H:%M %Z")
        assert placeholders["expired"].endswith(f" {local.tzname()}")  # says which zone
    if "token_wrong_gateway" in errors.values():  # says which gateway it is for
        assert placeholders["token_serial"] == OTHER_SERIAL

    result = await flow_step(
        hass, result, {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_token_pasted_with_its_header_name(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Pasted as "Bearer eyJ..." (copied from a request): the token is what follows."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    token = gateway.issue_token()
    result = await flow_step(
        hass, result, {CONF_TOKEN: f"Bearer {token}", CONF_SERIAL: gateway.serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN] == token


async def test_token_cannot_connect_then_retry(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """The gateway went away after /info: cannot_connect; back again, the token is stored."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    await gateway.stop()
    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert _errors(result) == {"base": "cannot_connect"}
    await gateway.start()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_token_check_that_never_answers(
    hass: HomeAssistant, gateway: GatewaySimulator, flow_time: GatewayTime
) -> None:
    """The gateway stalls on the token: 'timeout' after the flow's short wait, no retry."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    gateway.add_fault("timeout", path="/auth/check_jwt", count=None)
    gateway.stats.reset()
    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert _errors(result) == {"base": "timeout"}
    assert gateway.stats.requests["/auth/check_jwt"] == 1
    assert flow_time.expired == [FLOW_REQUEST_TIMEOUT]
    gateway.faults.clear()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_token_unknown_then_retry(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """An unexpected error proving the token: unknown; the retry works."""
    result = await flow_choose(hass, await _to_auth_menu(hass, gateway), "token")
    token = gateway.issue_token()
    with patch.object(IQGateway, "check_jwt", side_effect=Exception("boom")):
        result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert _errors(result) == {"base": "unknown"}
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --------------------------------------------------------------------------- zeroconf


def _discovery(addresses: list[str], port: int | None, serial: str | None) -> ZeroconfServiceInfo:
    ips = [ip_address(address) for address in addresses]
    return ZeroconfServiceInfo(
        ip_address=ips[0],
        ip_addresses=ips,
        port=port,
        hostname="envoy.local.",
        type="_enphase-envoy._tcp.local.",
        name="Envoy._enphase-envoy._tcp.local.",
        properties={"serialnum": serial, "protovers": "8.2.127"} if serial else {},
    )


@pytest.mark.parametrize(
    "addresses",
    [["fe80::1"], ["2001:db8::5"], ["169.254.10.2"], ["fe80::1", "169.254.10.2"]],
    ids=["ipv6-link-local", "ipv6", "ipv4-link-local", "both-link-local"],
)
async def test_zeroconf_ignores_ipv6_and_link_local(
    hass: HomeAssistant, addresses: list[str]
) -> None:
    """Only a routable IPv4 address is offered."""
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(addresses, 80, "122100000001"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_ipv4_address"


async def test_zeroconf_new_gateway_confirm_then_auth(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """A new gateway: confirm, then sign in. IPv6 first in line does not hide its IPv4."""
    discovery = _discovery(
        ["2001:db8::5", "169.254.1.1", "127.0.0.1"], gateway.port, gateway.serial
    )
    result = await _start(hass, SOURCE_ZEROCONF, discovery)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"]["host"] == gateway.address
    flow = next(
        f for f in hass.config_entries.flow.async_progress() if f["flow_id"] == result["flow_id"]
    )
    assert flow["context"]["title_placeholders"] == {"serial": gateway.serial}

    # The same gateway added by hand meanwhile: that flow gives way.
    other = await flow_step(hass, await _start(hass), {CONF_HOST: gateway.address})
    assert other["type"] is FlowResultType.ABORT
    assert other["reason"] == "already_in_progress"

    result = await flow_step(hass, result, {})
    result = await flow_choose(hass, result, "token")
    result = await flow_step(
        hass, result, {CONF_TOKEN: gateway.issue_token(), CONF_SERIAL: gateway.serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HOST] == gateway.address
    assert result["result"].unique_id == gateway.serial


async def test_zeroconf_new_legacy_gateway(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A legacy gateway found by discovery: confirm and done, no sign-in."""
    legacy = await start_gateway(LEGACY_CAPTURE)
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(["127.0.0.1"], legacy.port, None))
    assert result["step_id"] == "zeroconf_confirm"
    result = await flow_step(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_HOST: legacy.address, CONF_SERIAL: legacy.serial}


async def test_zeroconf_unreachable_or_not_a_gateway(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A discovered device that does not answer, or not as a gateway, is not offered."""
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(["127.0.0.1"], free_port(), None))
    assert result["reason"] == "cannot_connect"

    router = await start_gateway(RICH_CAPTURE, tls=False)
    router.capture.set("/info", "<html>printer</html>")
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(["127.0.0.1"], router.port, None))
    assert result["reason"] == "not_a_gateway"


async def test_zeroconf_silent_or_failing_device(
    hass: HomeAssistant, gateway: GatewaySimulator, flow_time: GatewayTime
) -> None:
    """A discovered device that never answers, or whose answer breaks the flow: not offered."""
    gateway.add_fault("timeout", path="/info")
    discovery = _discovery(["127.0.0.1"], gateway.port, None)
    result = await _start(hass, SOURCE_ZEROCONF, discovery)
    assert result["reason"] == "timeout"
    assert flow_time.expired == [FLOW_REQUEST_TIMEOUT]

    with patch.object(IQGateway, "detect", side_effect=RuntimeError("boom")):
        result = await _start(hass, SOURCE_ZEROCONF, discovery)
    assert result["reason"] == "unknown"


def test_with_port_keeps_default_ports_out() -> None:
    """Gateways announce port 80 and serve HTTPS on 443: those stay out of the host."""
    assert config_flow._with_port("192.168.1.5", 80) == "192.168.1.5"
    assert config_flow._with_port("192.168.1.5", 443) == "192.168.1.5"
    assert config_flow._with_port("192.168.1.5", None) == "192.168.1.5"
    assert config_flow._with_port("192.168.1.5", 8443) == "192.168.1.5:8443"


def test_host_only() -> None:
    """The address part of a stored host, for every way a host can be written."""
    assert config_flow._host_only("192.168.1.5:8443") == "192.168.1.5"
    assert config_flow._host_only("192.168.1.5") == "192.168.1.5"
    assert config_flow._host_only("[fe80::1]:443") == "fe80::1"
    assert config_flow._host_only("fe80::1") == "fe80::1"
    assert config_flow._host_only("envoy.local:80") == "envoy.local"


async def _known(hass: HomeAssistant, gateway: GatewaySimulator, host: str) -> MockConfigEntry:
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: host})
    return entry


async def test_zeroconf_known_gateway_moved(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """The stored address no longer reaches it: the announced one is stored, no flow offered."""
    entry = await _known(hass, gateway, f"127.0.0.1:{free_port()}")
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(["192.0.2.7"], 80, gateway.serial))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == "192.0.2.7"
    assert gateway.stats.requests["/info"] == 0  # the new address need not be read


async def test_zeroconf_known_gateway_without_serial_property(
    hass: HomeAssistant, start_gateway: GatewayFactory, gateway: GatewaySimulator
) -> None:
    """Without a serial in the announcement /info says which gateway it is."""
    entry = await _known(hass, gateway, f"127.0.0.1:{free_port()}")
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(["127.0.0.1"], gateway.port, None))
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == gateway.address


@pytest.mark.parametrize(
    ("stored", "announced"),
    [
        ("192.0.2.7", ["192.0.2.8", "192.0.2.7"]),  # one of the addresses it announces
        ("envoy.local", ["192.0.2.8"]),  # a name: it follows the gateway by itself
        ("envoy.local:8443", ["192.0.2.8"]),
    ],
    ids=["announced", "name", "name-with-port"],
)
async def test_zeroconf_known_gateway_keeps_its_host(
    hass: HomeAssistant, gateway: GatewaySimulator, stored: str, announced: list[str]
) -> None:
    """A gateway seen on two interfaces does not move a host that still fits."""
    entry = await _known(hass, gateway, stored)
    result = await _start(hass, SOURCE_ZEROCONF, _discovery(announced, 80, gateway.serial))
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == stored


async def test_zeroconf_two_interfaces_do_not_flap(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Announcements alternating between two interfaces leave a working stored host alone."""
    entry = await _known(hass, gateway, gateway.address)  # not loaded: /info is read
    for address in ("192.0.2.8", "192.0.2.9", "192.0.2.8"):
        result = await _start(hass, SOURCE_ZEROCONF, _discovery([address], 80, gateway.serial))
        assert result["reason"] == "already_configured"
        assert entry.data[CONF_HOST] == gateway.address
    assert gateway.stats.requests["/info"] == 3


async def test_zeroconf_loaded_entry_moves_only_when_it_lost_the_gateway(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    gateway: GatewaySimulator,
) -> None:
    """A loaded entry that polls fine stays; one that lost the gateway follows it, reloaded."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    moved = await start_gateway(RICH_CAPTURE)  # the same gateway on another interface
    info_reads = gateway.stats.requests["/info"]
    result = await _start(
        hass, SOURCE_ZEROCONF, _discovery(["127.0.0.1"], moved.port, gateway.serial)
    )
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == gateway.address
    assert gateway.stats.requests["/info"] == info_reads  # the last poll said enough

    await gateway.stop()
    await entry.runtime_data.async_refresh()
    assert not entry.runtime_data.last_update_success
    result = await _start(
        hass, SOURCE_ZEROCONF, _discovery(["127.0.0.1"], moved.port, gateway.serial)
    )
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == moved.address
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.client.host == moved.address


# --------------------------------------------------------------------------- reauth


async def test_reauth_menu_says_when_the_token_expired(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """The reauth menu names the entry and when its token expired."""
    token = gateway.issue_token(issued_at=issued_at(YEAR + 3600))
    entry = token_entry(gateway, token)
    entry.add_to_hass(hass)
    result = dict(await entry.start_reauth_flow(hass))
    assert_translated(result)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "reauth_expired"
    expected = dt_util.as_local(parse_token(token).expires_at)
    assert result["description_placeholders"] == {
        "title": entry.title,
        "expires": expected.strftime("%Y-%m-%d %H:%M %Z"),  # with its time zone
    }
    assert result["description_placeholders"]["expires"].endswith(f" {expected.tzname()}")
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    # The integration page's attention row names the gateway: by the flow's title, or by
    # the entry's title where the frontend has not loaded the flow's texts.
    placeholders = flow["context"]["title_placeholders"]
    assert placeholders == {"name": entry.title, "serial": gateway.serial}
    assert texts("config")["flow_title"].format(**placeholders) == f"IQ Gateway {gateway.serial}"


async def test_reauth_menu_for_a_refused_valid_token(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """A token that has not expired but is refused: the menu does not speak of expiry."""
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    result = dict(await entry.start_reauth_flow(hass))
    assert_translated(result)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"title": entry.title}


async def test_reauth_menu_without_a_readable_token(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """A stored token that cannot be read shows no date."""
    entry = token_entry(gateway, "garbage")
    entry.add_to_hass(hass)
    result = dict(await entry.start_reauth_flow(hass))
    assert_translated(result)
    assert result["step_id"] == "reauth_confirm"
    assert "expires" not in result["description_placeholders"]


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_reauth_with_credentials_after_the_token_expired(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    cloud: CloudSimulator,
) -> None:
    """An expired pasted token: setup fails and asks; signing in stores account and token."""
    entry = await setup_entry(
        hass, token_entry(gateway, gateway.issue_token(issued_at=issued_at(YEAR + 60)))
    )
    assert entry.state is ConfigEntryState.SETUP_ERROR
    [flow] = reauth_flows(hass)
    result = dict(await hass.config_entries.flow.async_configure(flow["flow_id"]))
    result = await flow_choose(hass, result, "credentials")
    assert suggested(result, CONF_SERIAL) == gateway.serial
    assert result["description_placeholders"]["firmware"] == "-"

    result = await flow_step(hass, result, _credentials("wrong", serial=gateway.serial))
    assert _errors(result) == {CONF_PASSWORD: "invalid_auth"}
    result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_USERNAME] == OWNER_EMAIL
    assert entry.data[CONF_PASSWORD] == OWNER_PASSWORD
    assert entry.data[CONF_HOST] == gateway.address
    assert entry.runtime_data.client.token == entry.data[CONF_TOKEN]
    assert not parse_token(entry.data[CONF_TOKEN]).is_expired(dt_util.utcnow())


async def test_reauth_with_a_token_replaces_the_account(
    hass: HomeAssistant,
    gateway: GatewaySimulator,
    authority: TokenAuthority,
) -> None:
    """A loaded entry signs in with a pasted token: the stored account goes, one reload."""
    entry = await setup_entry(hass, credentials_entry(gateway, gateway.issue_token()))
    runtime = entry.runtime_data
    result = dict(await entry.start_reauth_flow(hass))
    result = await flow_choose(hass, result, "token")
    assert suggested(result, CONF_SERIAL) == gateway.serial

    result = await flow_step(
        hass, result, {CONF_TOKEN: authority.issue(OTHER_SERIAL), CONF_SERIAL: gateway.serial}
    )
    assert _errors(result) == {CONF_TOKEN: "token_wrong_gateway"}
    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data == {
        CONF_HOST: gateway.address,
        CONF_SERIAL: gateway.serial,
        CONF_TOKEN: token,
    }
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime  # reloaded
    assert entry.runtime_data.client.token == token


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_reauth_suggests_the_stored_account(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud_client: None, owner_account: None
) -> None:
    """Signing in again suggests the stored e-mail address (never the password)."""
    entry = credentials_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    result = await flow_choose(hass, dict(await entry.start_reauth_flow(hass)), "credentials")
    assert suggested(result, CONF_USERNAME) == OWNER_EMAIL
    assert suggested(result, CONF_PASSWORD) is None


# --------------------------------------------------------------------------- reconfigure


async def _reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    result = dict(await entry.start_reconfigure_flow(hass))
    assert_translated(result)
    assert result["step_id"] == "reconfigure"
    return result


async def test_reconfigure_host_keeping_the_token(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    gateway: GatewaySimulator,
) -> None:
    """A new host (unreachable first, then right); the stored token is proven there and kept."""
    entry = await setup_entry(hass, token_entry(gateway, gateway.issue_token()))
    result = await _reconfigure(hass, entry)
    assert suggested(result, CONF_HOST) == gateway.address
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": entry.title, "serial": gateway.serial}

    result = await flow_step(hass, result, {CONF_HOST: f"127.0.0.1:{free_port()}"})
    assert _errors(result) == {CONF_HOST: "cannot_connect"}
    moved = await start_gateway(RICH_CAPTURE)
    result = await flow_step(hass, result, {CONF_HOST: moved.address})
    assert result["step_id"] == "reconfigure_auth"
    assert result["menu_options"] == ["keep_auth", "credentials", "token"]
    validations = sum(moved.stats.jwt_validations.values())
    result = await flow_choose(hass, result, "keep_auth")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert sum(moved.stats.jwt_validations.values()) > validations
    await hass.async_block_till_done()
    assert entry.data[CONF_HOST] == moved.address
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.client.host == moved.address


async def test_reconfigure_refuses_another_gateway(
    hass: HomeAssistant, start_gateway: GatewayFactory, gateway: GatewaySimulator
) -> None:
    """A host whose serial differs is refused on the form, naming what answered there."""
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    other = await start_gateway("8.1.41")
    assert other.serial != gateway.serial
    result = await flow_step(hass, await _reconfigure(hass, entry), {CONF_HOST: other.address})
    assert _errors(result) == {CONF_HOST: "wrong_gateway"}
    assert result["description_placeholders"] == {
        "found": other.serial,
        "serial": gateway.serial,
    }
    assert suggested(result, CONF_HOST) == other.address
    assert entry.data[CONF_HOST] == gateway.address

    result = await flow_step(hass, result, {CONF_HOST: gateway.address})  # corrected
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "reconfigure_auth"


async def test_reconfigure_keep_auth_refused(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """Keeping a token the gateway refuses ends the flow with that reason, nothing stored."""
    entry = token_entry(gateway, TokenAuthority().issue(gateway.serial))
    entry.add_to_hass(hass)
    result = await flow_step(hass, await _reconfigure(hass, entry), {CONF_HOST: gateway.address})
    result = await flow_choose(hass, result, "keep_auth")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "current_auth_failed"


@pytest.mark.usefixtures("cloud_client", "owner_account")
async def test_reconfigure_to_credentials(
    hass: HomeAssistant, gateway: GatewaySimulator, cloud_client: None, owner_account: None
) -> None:
    """From a pasted token to the account: errors, retry, and the entry set up again."""
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    result = await flow_step(hass, await _reconfigure(hass, entry), {CONF_HOST: gateway.address})
    result = await flow_choose(hass, result, "credentials")
    assert suggested(result, CONF_USERNAME) == ""  # a token entry has no account yet
    result = await flow_step(hass, result, _credentials("nope", serial=gateway.serial))
    assert _errors(result) == {CONF_PASSWORD: "invalid_auth"}
    result = await flow_step(hass, result, _credentials(serial=gateway.serial))
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_USERNAME] == OWNER_EMAIL
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_to_token(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """From the account to a pasted token: the account is forgotten."""
    entry = credentials_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    result = await flow_step(hass, await _reconfigure(hass, entry), {CONF_HOST: gateway.address})
    result = await flow_choose(hass, result, "token")
    result = await flow_step(hass, result, {CONF_TOKEN: "eyJnope", CONF_SERIAL: gateway.serial})
    assert _errors(result) == {CONF_TOKEN: "invalid_token"}
    token = gateway.issue_token()
    result = await flow_step(hass, result, {CONF_TOKEN: token, CONF_SERIAL: gateway.serial})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_HOST: gateway.address,
        CONF_SERIAL: gateway.serial,
        CONF_TOKEN: token,
    }


async def test_reconfigure_legacy_gateway(
    hass: HomeAssistant, start_gateway: GatewayFactory
) -> None:
    """A gateway without tokens: the new host is all there is to change."""
    legacy = await start_gateway(LEGACY_CAPTURE)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=legacy.serial,
        title=f"IQ Gateway {legacy.serial}",
        data={CONF_HOST: "127.0.0.1:1", CONF_SERIAL: legacy.serial},
    )
    entry.add_to_hass(hass)
    result = await flow_step(hass, await _reconfigure(hass, entry), {CONF_HOST: legacy.address})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_HOST: legacy.address, CONF_SERIAL: legacy.serial}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_after_a_firmware_update_to_tokens(
    hass: HomeAssistant, gateway: GatewaySimulator
) -> None:
    """An entry made without a token has none to keep: the menu does not offer it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        data={CONF_HOST: gateway.address, CONF_SERIAL: gateway.serial},
    )
    entry.add_to_hass(hass)
    result = await flow_step(hass, await _reconfigure(hass, entry), {CONF_HOST: gateway.address})
    assert result["menu_options"] == ["credentials", "token"]


# --------------------------------------------------------------------------- options


async def test_options(hass: HomeAssistant, gateway: GatewaySimulator) -> None:
    """The options: poll interval, power lane, microinverter sensors.

    Poll interval 60-3600 s (default 300), power update interval off or 5-60 s (default
    off), per-inverter entities (default on).
    """
    entry = token_entry(gateway, gateway.issue_token())
    entry.add_to_hass(hass)
    result = dict(await hass.config_entries.options.async_init(entry.entry_id))
    assert_translated(result, "options")
    assert result["step_id"] == "init"
    defaults = result["data_schema"]({})
    assert defaults == {
        CONF_SCAN_INTERVAL: 300,
        CONF_POWER_INTERVAL: 0,
        CONF_INVERTER_ENTITIES: True,
    }

    for scan, power, errors in (
        (59, 0, {CONF_SCAN_INTERVAL: "interval_out_of_range"}),
        (3601, 10, {CONF_SCAN_INTERVAL: "interval_out_of_range"}),
        (300, 4, {CONF_POWER_INTERVAL: "power_interval_out_of_range"}),
        (300, 61, {CONF_POWER_INTERVAL: "power_interval_out_of_range"}),
        (
            30,
            -1,
            {
                CONF_SCAN_INTERVAL: "interval_out_of_range",
                CONF_POWER_INTERVAL: "power_interval_out_of_range",
            },
        ),
    ):
        result = dict(
            await hass.config_entries.options.async_configure(
                result["flow_id"],
                {
                    CONF_SCAN_INTERVAL: scan,
                    CONF_POWER_INTERVAL: power,
                    CONF_INVERTER_ENTITIES: True,
                },
            )
        )
        assert_translated(result, "options")
        assert result["errors"] == errors
        assert suggested(result, CONF_SCAN_INTERVAL) == scan
        assert suggested(result, CONF_POWER_INTERVAL) == power
    result = dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_SCAN_INTERVAL: 120.0, CONF_POWER_INTERVAL: 10.0, CONF_INVERTER_ENTITIES: False},
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SCAN_INTERVAL: 120,
        CONF_POWER_INTERVAL: 10,
        CONF_INVERTER_ENTITIES: False,
    }

    result = dict(await hass.config_entries.options.async_init(entry.entry_id))
    assert suggested(result, CONF_SCAN_INTERVAL) == 120
    assert suggested(result, CONF_POWER_INTERVAL) == 10
    assert suggested(result, CONF_INVERTER_ENTITIES) is False

    # Off again: 0 (the bounds 5 and 60 are allowed too).
    for power in (5, 60, 0):
        result = dict(await hass.config_entries.options.async_init(entry.entry_id))
        result = dict(
            await hass.config_entries.options.async_configure(
                result["flow_id"],
                {CONF_SCAN_INTERVAL: 300, CONF_POWER_INTERVAL: power, CONF_INVERTER_ENTITIES: True},
            )
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert entry.options[CONF_POWER_INTERVAL] == power


# --------------------------------------------------------------------------- translations


def test_every_field_has_a_description() -> None:
    """Every form field in translations/en.json has a label and a data_description."""
    from .conftest import TRANSLATIONS

    for section in ("config", "options"):
        for step_id, step in TRANSLATIONS[section]["step"].items():
            assert "title" in step, step_id
            assert set(step.get("data", {})) == set(step.get("data_description", {})), step_id
