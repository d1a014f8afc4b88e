"""Two-step (one-time code) Enlighten accounts, blocked accounts, and the code endpoints."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
import json
from typing import Any

import aiohttp
import pytest

from simulator import Clock, CloudSimulator, TokenAuthority

SERIAL = "122302045041"
EMAIL = "owner@example.com"
PASSWORD = "secret"
VALIDATE = "/app-api/validate_login_otp"
GENERATE = "/app-api/generate_mfa_login_otp"
XHR = {"X-Requested-With": "XMLHttpRequest"}


def b64(text: str) -> str:
    """What the web client sends: the field's text, base64-encoded."""
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def sent() -> list[tuple[str, str]]:
    """The codes the cloud "sent" through its callback."""
    return []


@pytest.fixture
async def two_step(
    authority: TokenAuthority, loopback: None, sent: list[tuple[str, str]]
) -> AsyncIterator[CloudSimulator]:
    """A cloud on a frozen clock with a two-step account."""
    cloud = CloudSimulator(
        authority, clock=Clock(start=1_700_000_000), on_code=lambda e, c: sent.append((e, c))
    )
    cloud.add_account(EMAIL, PASSWORD, {SERIAL}, two_step=True)
    async with cloud:
        yield cloud


class Browser:
    """A client session with its own cookie jar, as the web page keeps one."""

    def __init__(self, cloud: CloudSimulator) -> None:
        self.cloud = cloud
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=cloud.certificate.client_context()),
        )

    def cookie(self, name: str) -> str | None:
        """A cookie the jar holds for the cloud."""
        for morsel in self.session.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        """POST; status and JSON."""
        async with self.session.post(f"{self.cloud.url}{path}", **kwargs) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def login(self, password: str = PASSWORD) -> tuple[int, Any]:
        """The password step."""
        return await self.post(
            "/login/login.json", data={"user[email]": EMAIL, "user[password]": password}
        )

    async def validate(
        self, code: str, *, email: str = EMAIL, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """The code step, with the headers the web page sends unless told otherwise."""
        if headers is None:
            headers = {**XHR, "X-CSRF-Token": self.cookie("XSRF-TOKEN") or ""}
        return await self.post(
            VALIDATE, data={"email": b64(email), "otp": b64(code)}, headers=headers
        )

    async def new_code(self) -> tuple[int, Any]:
        """Ask for another code."""
        return await self.post(GENERATE, data={"locale": "en"})

    async def token(self, session_id: str) -> tuple[int, str]:
        """Entrez: a token for the gateway."""
        async with self.session.post(
            f"{self.cloud.url}/tokens",
            json={"session_id": session_id, "serial_num": SERIAL, "username": EMAIL},
        ) as response:
            return response.status, await response.text()


@pytest.fixture
async def browser(two_step: CloudSimulator) -> AsyncIterator[Browser]:
    """A browser for the two-step cloud."""
    browser = Browser(two_step)
    yield browser
    await browser.session.close()


async def test_password_then_code_then_token(
    two_step: CloudSimulator,
    browser: Browser,
    authority: TokenAuthority,
    sent: list[tuple[str, str]],
) -> None:
    """The real reply and cookies; the code works once; its session gets a token."""
    status, body = await browser.login()
    assert (status, body) == (200, {"success": True, "isBlocked": False})
    nonce = browser.cookie("login_otp_nonce")
    assert nonce is not None
    assert int(nonce, 16) >= 0
    assert browser.cookie("_enlighten_4_session")
    assert browser.cookie("XSRF-TOKEN")
    code = two_step.last_code(EMAIL.upper())
    assert code is not None
    assert len(code) == 6
    assert code.isdigit()
    assert sent == [(EMAIL, code)]

    status, body = await browser.validate(code)
    assert status == 200
    assert "isValid" not in body  # the reply on record today has none
    assert body["message"] == "success"
    assert set(body) >= {"session_id", "manager_token", "is_consumer", "system_id"}
    status, token = await browser.token(body["session_id"])
    assert status == 200
    assert authority.verify(token, SERIAL)["username"] == EMAIL
    # The login's cookies are used up.
    assert (await browser.validate(code))[0] == 401
    assert dict(two_step.stats) == {
        "login": 1,
        "codes_sent": 1,
        "otp_validations": 2,
        "sessions": 1,
        "tokens": 1,
        "issued": 1,
    }


async def test_wrong_code_then_right_code(two_step: CloudSimulator, browser: Browser) -> None:
    """A wrong code, or the right code for another e-mail: isValid false; then success."""
    await browser.login()
    code = two_step.last_code(EMAIL)
    assert code is not None
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = (200, {"isValid": False, "isBlocked": False})
    assert await browser.validate(wrong) == refused
    assert await browser.validate(code, email="other@example.com") == refused
    status, body = await browser.validate(code)
    assert (status, body["message"]) == (200, "success")


async def test_expired_code_then_a_new_one(two_step: CloudSimulator, browser: Browser) -> None:
    """After otp_lifetime: isExpired (or a bare isValid false); a new code works."""
    await browser.login()
    first = two_step.last_code(EMAIL)
    assert first is not None
    two_step.clock.advance(300)
    two_step.clock.advance(1)
    assert await browser.validate(first) == (200, {"isValid": False, "isExpired": True})
    two_step.otp_expiry_hint = False
    assert await browser.validate(first) == (200, {"isValid": False})
    nonce = browser.cookie("login_otp_nonce")
    assert await browser.new_code() == (200, {"success": True, "isBlocked": False})
    assert browser.cookie("login_otp_nonce") not in (None, nonce)  # rotated
    second = two_step.last_code(EMAIL)
    while second == first:  # one chance in a million
        await browser.new_code()
        second = two_step.last_code(EMAIL)
    assert second is not None
    assert await browser.validate(first) == (200, {"isValid": False, "isBlocked": False})
    status, body = await browser.validate(second)
    assert (status, body["message"]) == (200, "success")
    assert two_step.stats["codes_sent"] >= 2
    assert two_step.stats["otp_requests"] >= 1


async def test_expired_tries_are_not_wrong_tries(
    two_step: CloudSimulator, browser: Browser
) -> None:
    """Trying an expired code many times does not block."""
    two_step.otp_lifetime = 10
    await browser.login()
    code = two_step.last_code(EMAIL)
    assert code is not None
    two_step.clock.advance(11)
    for _ in range(7):
        assert (await browser.validate(code))[1]["isExpired"] is True
    await browser.new_code()
    code = two_step.last_code(EMAIL)
    assert code is not None
    assert "session_id" in (await browser.validate(code))[1]


@pytest.mark.parametrize(
    ("status", "blocked"),
    [(200, {"isValid": False, "isBlocked": True}), (429, {"isBlocked": True})],
)
async def test_too_many_wrong_codes_block(
    two_step: CloudSimulator, browser: Browser, status: int, blocked: dict[str, Any]
) -> None:
    """The try that uses up the allowance is blocked, and so is everything after it."""
    two_step.otp_max_tries = 3
    two_step.otp_block_status = status
    await browser.login()
    code = two_step.last_code(EMAIL)
    assert code is not None
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = (200, {"isValid": False, "isBlocked": False})
    assert await browser.validate(wrong) == refused
    assert await browser.validate(wrong) == refused
    assert await browser.validate(wrong) == (status, blocked)
    assert await browser.validate(code) == (status, blocked)
    assert await browser.new_code() == (status, blocked)
    # A new password login starts afresh.
    await browser.login()
    fresh = two_step.last_code(EMAIL)
    assert fresh is not None
    assert "session_id" in (await browser.validate(fresh))[1]


async def test_headers_the_code_step_needs(two_step: CloudSimulator, browser: Browser) -> None:
    """No X-Requested-With, or an X-CSRF-Token that is not the cookie's: 422."""
    await browser.login()
    code = two_step.last_code(EMAIL)
    assert code is not None
    token = browser.cookie("XSRF-TOKEN") or ""
    for headers in (
        {"X-CSRF-Token": token},
        XHR,
        {**XHR, "X-CSRF-Token": token + "x"},
    ):
        status, body = await browser.validate(code, headers=headers)
        assert (status, body) == (422, {"error": "InvalidAuthenticityToken"})
    assert "session_id" in (await browser.validate(code))[1]


async def test_without_an_xsrf_cookie(two_step: CloudSimulator, browser: Browser) -> None:
    """xsrf_cookie off: no XSRF-TOKEN is set, and none is asked for."""
    two_step.xsrf_cookie = False
    await browser.login()
    assert browser.cookie("XSRF-TOKEN") is None
    code = two_step.last_code(EMAIL)
    assert code is not None
    status, body = await browser.validate(code, headers=XHR)
    assert (status, "session_id" in body) == (200, True)


async def test_the_login_cookies_are_needed(two_step: CloudSimulator, browser: Browser) -> None:
    """No cookies, or a nonce with another login's session cookie: 401."""
    assert (await browser.validate("123456"))[0] == 401
    assert (await browser.new_code())[0] == 401
    await browser.login()
    first_session = browser.cookie("_enlighten_4_session")
    other = Browser(two_step)
    try:
        await other.login()
        code = two_step.last_code(EMAIL)
        assert code is not None
        nonce = other.cookie("login_otp_nonce") or ""
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare,
            bare.post(
                f"{two_step.url}{VALIDATE}",
                data={"email": b64(EMAIL), "otp": b64(code)},
                headers={
                    **XHR,
                    "Cookie": f"login_otp_nonce={nonce}; _enlighten_4_session={first_session}",
                },
                ssl=two_step.certificate.client_context(),
            ) as response,
        ):
            assert response.status == 401
        assert "session_id" in (await other.validate(code))[1]
    finally:
        await other.session.close()


@pytest.mark.parametrize(
    "data",
    [
        {"email": "not base64!", "otp": b64("123456")},
        {"email": b64(EMAIL), "otp": "%%%"},
        {"email": base64.b64encode(b"\xff\xfe").decode(), "otp": b64("1")},
        {"otp": b64("123456")},
    ],
)
async def test_fields_must_be_base64(
    two_step: CloudSimulator, browser: Browser, data: dict[str, str]
) -> None:
    """A field that is not base64-encoded text: 400, and no try is counted."""
    await browser.login()
    headers = {**XHR, "X-CSRF-Token": browser.cookie("XSRF-TOKEN") or ""}
    status, _ = await browser.post(VALIDATE, data=data, headers=headers)
    assert status == 400
    code = two_step.last_code(EMAIL)
    assert code is not None
    assert "session_id" in (await browser.validate(code))[1]


@pytest.mark.parametrize("refusal", [404, 500])
async def test_a_cloud_that_stopped_offering_codes(
    two_step: CloudSimulator, browser: Browser, refusal: int
) -> None:
    """The two-step reply comes, but both code endpoints answer only the status."""
    two_step.otp_endpoints_status = refusal
    assert (await browser.login())[1] == {"success": True, "isBlocked": False}
    code = two_step.last_code(EMAIL)
    assert code is not None
    assert (await browser.validate(code))[0] == refusal
    assert (await browser.new_code())[0] == refusal


async def test_outage_reaches_the_code_endpoints(
    two_step: CloudSimulator, browser: Browser
) -> None:
    """A cloud outage answers 503 there too."""
    await browser.login()
    two_step.outage = True
    assert (await browser.validate("000000"))[0] == 503
    assert (await browser.new_code())[0] == 503


@pytest.mark.parametrize("password", [PASSWORD, "wrong"])
async def test_blocked_account(two_step: CloudSimulator, browser: Browser, password: str) -> None:
    """A blocked account says so, whatever the password, and sends no code."""
    two_step.add_account(EMAIL, PASSWORD, {SERIAL}, blocked=True)
    assert await browser.login(password) == (200, {"success": False, "isBlocked": True})
    assert browser.cookie("login_otp_nonce") is None
    assert two_step.last_code(EMAIL) is None


async def test_older_mfa_reply_stays_available(two_step: CloudSimulator, browser: Browser) -> None:
    """mfa=True: the {"message": "success"} reply without session id or cookies."""
    two_step.add_account(EMAIL, PASSWORD, {SERIAL}, mfa=True)
    assert await browser.login() == (200, {"message": "success", "is_consumer": True})
    assert browser.cookie("login_otp_nonce") is None


async def test_control_api(two_step: CloudSimulator, browser: Browser) -> None:
    """GET codes shows the last code per e-mail; settings change the code rules."""
    async with browser.session.get(f"{two_step.control_url}/codes") as response:
        assert await response.json() == {}
    await browser.login()
    async with browser.session.get(f"{two_step.control_url}/codes") as response:
        assert await response.json() == {EMAIL: two_step.last_code(EMAIL)}
    status, settings = await browser.post(
        "/__simulator/settings",
        json={"otp_lifetime": 60, "otp_max_tries": 2, "otp_endpoints_status": 404},
    )
    assert status == 200
    assert (two_step.otp_lifetime, two_step.otp_max_tries) == (60.0, 2)
    assert settings["otp_endpoints_status"] == 404
    for bad in ({"otp_max_tries": 0}, {"otp_block_status": 500}, {"xsrf_cookie": "no"}):
        assert (await browser.post("/__simulator/settings", json=bad))[0] == 400


def test_passwords_stay_out_of_reprs(two_step: CloudSimulator) -> None:
    """An account's repr (logs, test failures) does not show the password."""
    account = two_step.accounts[EMAIL]
    assert PASSWORD not in repr(account)
    assert EMAIL in repr(account)


@pytest.mark.parametrize(
    ("reply", "fields", "cookie"),
    [
        ("session", {"message", "session_id", "manager_token", "is_consumer", "system_id"}, False),
        ("is_valid", {"isValid", "session_id", "manager_token"}, False),
        ("cookie_session", {"message"}, True),
        ("no_session", {"message"}, False),
        ("unknown", {"result"}, False),
    ],
)
async def test_good_code_reply_shapes(
    two_step: CloudSimulator, browser: Browser, reply: str, fields: set[str], cookie: bool
) -> None:
    """otp_reply: a right code answered in each shape on record (and one on record nowhere)."""
    two_step.otp_reply = reply
    await browser.login()
    code = two_step.last_code(EMAIL)
    assert code is not None
    status, body = await browser.validate(code)
    assert status == 200
    assert fields <= set(body)
    session_id = body.get("session_id") or browser.cookie("session_id")
    assert (browser.cookie("session_id") is not None) is cookie
    if reply in ("no_session", "unknown"):
        assert session_id is None
    else:
        assert session_id is not None
        assert (await browser.token(session_id))[0] == 200


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_wrong_code_as_a_status(
    two_step: CloudSimulator, browser: Browser, status: int
) -> None:
    """otp_wrong_status: a wrong code answered with only an HTTP status."""
    two_step.otp_wrong_status = status
    await browser.login()
    code = two_step.last_code(EMAIL)
    assert code is not None
    assert (await browser.validate(f"{(int(code) + 1) % 1_000_000:06d}"))[0] == status
    assert "session_id" in (await browser.validate(code))[1]


async def test_login_reply_and_status_settings(two_step: CloudSimulator, browser: Browser) -> None:
    """login_reply: the requires_mfa challenge; login_status: only a status (406 on record)."""
    two_step.login_reply = "requires_mfa"
    assert await browser.login() == (200, {"requires_mfa": True})
    assert browser.cookie("login_otp_nonce") is not None
    two_step.login_status = 406
    assert (await browser.login())[0] == 406
    two_step.otp_expired_status = 403
    browser.session.cookie_jar.clear()
    assert (await browser.validate("123456"))[0] == 403
