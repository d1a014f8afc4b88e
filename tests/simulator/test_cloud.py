"""The simulated Enphase cloud, spoken to directly over verified HTTPS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from simulator import CloudSimulator, TokenAuthority

SERIAL = "122302045041"
EMAIL = "owner@example.com"
PASSWORD = "secret"


@pytest.fixture
async def https(cloud: CloudSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    """A session that trusts the simulators' CA and verifies the host name."""
    connector = aiohttp.TCPConnector(ssl=cloud.certificate.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, cloud: CloudSimulator, path: str, **kwargs: Any
) -> tuple[int, str]:
    """POST and return status and text."""
    async with session.post(f"{cloud.url}{path}", **kwargs) as response:
        return response.status, await response.text()


async def login(session: aiohttp.ClientSession, cloud: CloudSimulator, password: str) -> Any:
    """Sign in; the JSON answer."""
    async with session.post(
        f"{cloud.url}/login/login.json",
        data={"user[email]": f"  {EMAIL.upper()} ", "user[password]": password},
    ) as response:
        return response.status, await response.json()


async def test_sign_in_and_token(
    cloud: CloudSimulator, https: aiohttp.ClientSession, authority: TokenAuthority
) -> None:
    """A session id, then a token for a serial on the account, signed by the authority."""
    assert cloud.url == f"https://127.0.0.1:{cloud.port}"
    cloud.add_account(EMAIL, PASSWORD, [SERIAL])
    status, body = await login(https, cloud, PASSWORD)
    assert status == 200
    assert body["message"] == "success"
    assert body["is_consumer"] is True
    session_id = body["session_id"]

    status, token = await post(
        https,
        cloud,
        "/tokens",
        json={"session_id": session_id, "serial_num": SERIAL, "username": EMAIL},
    )
    assert status == 200
    claims = authority.verify(token, SERIAL)
    assert claims["username"] == EMAIL
    assert claims["enphaseUser"] == "owner"
    assert dict(cloud.stats) == {"login": 1, "sessions": 1, "tokens": 1, "issued": 1}


async def test_refusals(cloud: CloudSimulator, https: aiohttp.ClientSession) -> None:
    """Wrong password, MFA, another serial, a bad or foreign session, a bad body."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    assert (await login(https, cloud, "wrong"))[0] == 401
    session_id = (await login(https, cloud, PASSWORD))[1]["session_id"]

    async def tokens(**body: object) -> int:
        return (await post(https, cloud, "/tokens", json=body))[0]

    assert await tokens(session_id=session_id, serial_num="999", username=EMAIL) == 403
    assert await tokens(session_id="nope", serial_num=SERIAL, username=EMAIL) == 401
    assert await tokens(session_id=session_id, serial_num=SERIAL, username="x@y.z") == 401
    assert (await post(https, cloud, "/tokens", data=b"not json"))[0] == 400
    assert (await post(https, cloud, "/tokens", json=[1]))[0] == 400

    cloud.add_account(EMAIL, PASSWORD, {SERIAL}, mfa=True)  # replaces the account
    status, body = await login(https, cloud, PASSWORD)
    assert status == 200
    assert "session_id" not in body
    assert cloud.stats["issued"] == 0


async def test_installer_and_override(
    cloud: CloudSimulator, https: aiohttp.ClientSession, authority: TokenAuthority
) -> None:
    """Installer accounts get 12-hour tokens; an override answers instead of a token."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL}, role="installer")
    session_id = (await login(https, cloud, PASSWORD))[1]["session_id"]
    body = {"session_id": session_id, "serial_num": SERIAL, "username": EMAIL}
    _, token = await post(https, cloud, "/tokens", json=body)
    claims = authority.verify(token, SERIAL)
    assert claims["exp"] - claims["iat"] == 12 * 3600
    cloud.token_body_override = "maintenance"
    assert await post(https, cloud, "/tokens", json=body) == (200, "maintenance")
    assert cloud.stats["issued"] == 1


async def test_outage(cloud: CloudSimulator, https: aiohttp.ClientSession) -> None:
    """503 pages, or dropped connections with outage_mode 'reset'."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    cloud.outage = True
    assert (await post(https, cloud, "/login/login.json", data={}))[0] == 503
    assert (await post(https, cloud, "/tokens", json={}))[0] == 503
    cloud.outage_mode = "reset"
    with pytest.raises(aiohttp.ClientError):
        await post(https, cloud, "/login/login.json", data={})


async def test_login_status(cloud: CloudSimulator, https: aiohttp.ClientSession) -> None:
    """A login status answers every sign-in, right password or not, until it is cleared."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    for status in (403, 429):
        cloud.login_status = status
        assert (await login(https, cloud, PASSWORD))[0] == status
        assert (await login(https, cloud, "wrong"))[0] == status
    cloud.login_status = None
    assert (await login(https, cloud, PASSWORD))[0] == 200
    assert (await login(https, cloud, "wrong"))[0] == 401
    assert cloud.stats["sessions"] == 1


async def test_control_api(cloud: CloudSimulator, https: aiohttp.ClientSession) -> None:
    """Stats, settings (outage, outage_mode), and 404/400 for what it does not know."""
    await post(https, cloud, "/login/login.json", data={})
    async with https.get(f"{cloud.url}/__simulator/stats") as response:
        assert await response.json() == {"login": 1}
    status, _ = await post(
        https, cloud, "/__simulator/settings", json={"outage": True, "outage_mode": "reset"}
    )
    assert status == 200
    assert cloud.outage
    assert cloud.outage_mode == "reset"
    async with https.get(f"{cloud.url}/__simulator/settings") as response:
        assert await response.json() == {
            "outage": True,
            "outage_mode": "reset",
            "login_status": None,
            "login_reply": "success",
            "otp_lifetime": 300.0,
            "otp_max_tries": 5,
            "otp_expiry_hint": True,
            "otp_block_status": 200,
            "otp_endpoints_status": None,
            "otp_reply": "session",
            "otp_wrong_status": None,
            "otp_expired_status": 401,
            "xsrf_cookie": True,
        }
    status, _ = await post(https, cloud, "/__simulator/settings", json={"outage": False})
    assert not cloud.outage
    assert (await post(https, cloud, "/__simulator/settings", json={"outage_mode": "x"}))[0] == 400
    assert cloud.outage_mode == "reset"
    assert (await post(https, cloud, "/__simulator/settings", data=b"{oops"))[0] == 400
    assert (await post(https, cloud, "/__simulator/settings", json=[True]))[0] == 400
    assert (await post(https, cloud, "/__simulator/nothing"))[0] == 404


async def test_context_manager(authority: TokenAuthority, loopback: None) -> None:
    """Start on entering, stop on leaving (and stopping again is harmless)."""
    async with CloudSimulator(authority) as cloud:
        assert cloud.port != 0
    await cloud.stop()
