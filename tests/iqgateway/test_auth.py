"""Tokens: reading their claims, and getting them from the (simulated) Enphase cloud."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
import ssl
import time

import aiohttp
from aiohttp import web
import jwt
import pytest

from custom_components.enphase_iq_gateway.iqgateway import (
    EnlightenAccountBlockedError,
    EnlightenClient,
    EnlightenCodeExpiredError,
    EnlightenCodeRequiredError,
    EnlightenConnectionError,
    EnlightenError,
    EnlightenInvalidCodeError,
    EnlightenInvalidCredentialsError,
    EnlightenInvalidResponseError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
    EnlightenUnavailableError,
    EnlightenUnknownReplyError,
    InvalidTokenError,
    IQGatewayError,
    parse_token,
)
from simulator import CloudSimulator, TokenAuthority
from simulator.tls import shared_certificate

from .common import FOREIGN_ERRORS
from .conftest import Apps, Handler

SERIAL = "122302045041"
EMAIL = "owner@example.com"
PASSWORD = "correct horse battery staple"


def unsigned(claims: dict[str, object]) -> str:
    """A JWT with these claims (signed with a throw-away secret: parse_token ignores it)."""
    return jwt.encode(claims, "not-the-gateways-key-but-long-enough-for-hs256", algorithm="HS256")


def raw_jwt(payload: str) -> str:
    """A JWT whose payload is this exact text (e.g. JSON that PyJWT would not write)."""

    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    return f"{part('{"alg":"HS256","typ":"JWT"}')}.{part(payload)}.c2lnbmF0dXJl"


# --------------------------------------------------------------------------- parse_token


@pytest.mark.parametrize(
    ("role", "lifetime"),
    [("owner", timedelta(days=365)), ("installer", timedelta(hours=12))],
)
def test_parse_token_from_the_authority(
    authority: TokenAuthority, role: str, lifetime: timedelta
) -> None:
    """Owner tokens last a year, installer tokens 12 hours; the serial is the audience."""
    before = datetime.now(UTC).replace(microsecond=0)
    token = authority.issue(SERIAL, role=role)

    info = parse_token(token)

    assert info.token == token
    assert info.serial == SERIAL
    assert info.role == role
    assert info.lifetime == lifetime
    assert info.issued_at is not None
    assert before <= info.issued_at <= datetime.now(UTC)
    assert info.expires_at == info.issued_at + lifetime
    assert info.expires_in(info.issued_at) == lifetime
    assert not info.is_expired(info.issued_at)
    assert info.is_expired(info.expires_at)
    assert info.matches_serial(SERIAL)
    assert not info.matches_serial("999999999999")


def test_pasted_token_with_whitespace(authority: TokenAuthority) -> None:
    """Line breaks and spaces from a paste are dropped."""
    token = authority.issue(SERIAL)
    pasted = "  \n" + "\n ".join(token[i : i + 40] for i in range(0, len(token), 40)) + "\t\n"
    assert pasted != token

    info = parse_token(pasted)

    assert info.token == token
    assert info == parse_token(token)


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer", "BEARER\n  "])
def test_pasted_token_with_its_header_name(authority: TokenAuthority, prefix: str) -> None:
    """A token copied with its header name ("Bearer eyJ...") is the token alone."""
    token = authority.issue(SERIAL)
    info = parse_token(prefix + token)
    assert info.token == token
    assert info == parse_token(token)


def test_token_repr_hides_the_token(authority: TokenAuthority) -> None:
    """The token never appears in a repr (logs, diagnostics)."""
    token = authority.issue(SERIAL)
    info = parse_token(token)
    assert token not in repr(info)
    assert token.split(".")[2] not in repr(info)
    assert SERIAL in repr(info)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln",
        raw_jwt("[1, 2]"),
    ],
)
def test_garbage_is_not_a_token(token: str) -> None:
    """Anything that is not a JWT is an InvalidTokenError."""
    with pytest.raises(InvalidTokenError):
        parse_token(token)


@pytest.mark.parametrize(
    "token",
    [
        unsigned({"aud": SERIAL}),
        unsigned({"aud": SERIAL, "exp": "tomorrow"}),
        unsigned({"aud": SERIAL, "exp": True}),
        unsigned({"aud": SERIAL, "exp": 10**20}),  # past any datetime
        raw_jwt('{"aud": "1", "exp": NaN}'),
        raw_jwt('{"aud": "1", "exp": Infinity}'),
    ],
)
def test_token_without_usable_expiry(token: str) -> None:
    """A JWT without an expiry a datetime can hold is refused (no OverflowError leaks)."""
    with pytest.raises(InvalidTokenError) as caught:
        parse_token(token)
    assert isinstance(caught.value, IQGatewayError)


def test_token_claims_variants() -> None:
    """Serial from aud (string, one-item list, number) or serial_num; odd claims are None."""
    exp = int(time.time()) + 60
    assert parse_token(unsigned({"aud": [SERIAL], "exp": exp})).serial == SERIAL
    assert parse_token(unsigned({"aud": 122302045041, "exp": exp})).serial == SERIAL
    assert parse_token(unsigned({"serial_num": SERIAL, "exp": exp})).serial == SERIAL
    assert parse_token(unsigned({"serialNum": SERIAL, "exp": exp})).serial == SERIAL
    bare = parse_token(unsigned({"aud": ["a", "b"], "exp": exp, "iat": "x", "enphaseUser": 3}))
    assert bare.serial is None
    assert bare.role is None
    assert bare.issued_at is None
    assert bare.lifetime is None
    assert bare.matches_serial("anything")  # a token that names no gateway
    # An absurd issue time is not a crash either, just unknown.
    assert parse_token(unsigned({"exp": exp, "iat": 10**20})).issued_at is None


def test_expired_token_still_parses(authority: TokenAuthority) -> None:
    """Expiry is read, not enforced: the caller decides what an expired token means."""
    info = parse_token(authority.issue(SERIAL, lifetime=-60))
    assert info.is_expired(datetime.now(UTC))
    assert info.expires_in(datetime.now(UTC)) < timedelta(0)


# --------------------------------------------------------------------------- EnlightenClient


@pytest.fixture
def enlighten(cloud: CloudSimulator, cloud_session: aiohttp.ClientSession) -> EnlightenClient:
    """A client for the simulated cloud, over HTTPS that verifies its certificate."""
    return EnlightenClient(
        cloud_session,
        enlighten_url=cloud.url,
        entrez_url=cloud.url + "/",
        ssl_context=cloud.certificate.client_context(),
    )


async def cloud_error[E: EnlightenError](kind: type[E], client: EnlightenClient) -> E:
    """fetch_token's error, which must be exactly ``kind`` (nothing from aiohttp or json)."""
    with pytest.raises(EnlightenError) as caught:
        await client.fetch_token(EMAIL, PASSWORD, SERIAL)
    assert type(caught.value) is kind, repr(caught.value)
    assert not isinstance(caught.value, FOREIGN_ERRORS)
    return caught.value


@pytest.mark.parametrize(
    ("role", "lifetime"),
    [("owner", timedelta(days=365)), ("installer", timedelta(hours=12))],
)
async def test_fetch_token(
    cloud: CloudSimulator, enlighten: EnlightenClient, role: str, lifetime: timedelta
) -> None:
    """Sign in, get a token for the serial; the gateway's authority accepts it."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL, "other"}, role=role)

    info = await enlighten.fetch_token(EMAIL.upper(), PASSWORD, SERIAL)

    assert info.serial == SERIAL
    assert info.role == role
    assert info.lifetime == lifetime
    assert cloud.authority.verify(info.token, SERIAL)["enphaseUser"] == role
    assert cloud.stats["login"] == 1
    assert cloud.stats["issued"] == 1


async def test_wrong_password(cloud: CloudSimulator, enlighten: EnlightenClient) -> None:
    """A wrong password is invalid credentials, and Entrez is not asked."""
    cloud.add_account(EMAIL, "another password", {SERIAL})
    await cloud_error(EnlightenInvalidCredentialsError, enlighten)
    assert cloud.stats["tokens"] == 0


async def test_unknown_user(cloud: CloudSimulator, enlighten: EnlightenClient) -> None:
    """An e-mail without an account is invalid credentials too."""
    await cloud_error(EnlightenInvalidCredentialsError, enlighten)


async def test_mfa_account(cloud: CloudSimulator, enlighten: EnlightenClient) -> None:
    """Sign-in 'success' without a session id: the account uses a second factor."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL}, mfa=True)
    await cloud_error(EnlightenMFARequiredError, enlighten)
    assert cloud.stats["tokens"] == 0


async def test_serial_not_on_account(cloud: CloudSimulator, enlighten: EnlightenClient) -> None:
    """Entrez refuses a gateway that is not on the account."""
    cloud.add_account(EMAIL, PASSWORD, {"999999999999"})
    await cloud_error(EnlightenSerialNotOnAccountError, enlighten)
    assert cloud.stats["tokens"] == 1
    assert cloud.stats["issued"] == 0


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("503", EnlightenUnavailableError), ("reset", EnlightenConnectionError)],
)
async def test_cloud_outage(
    cloud: CloudSimulator,
    enlighten: EnlightenClient,
    mode: str,
    kind: type[EnlightenUnavailableError],
) -> None:
    """A 503 page or a dropped connection: the cloud is unavailable (the latter unreached)."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    cloud.outage = True
    cloud.outage_mode = mode
    error = await cloud_error(kind, enlighten)
    assert isinstance(error, EnlightenUnavailableError)
    cloud.outage = False
    assert (await enlighten.fetch_token(EMAIL, PASSWORD, SERIAL)).serial == SERIAL


async def test_entrez_answers_no_token(cloud: CloudSimulator, enlighten: EnlightenClient) -> None:
    """Entrez answering 200 with something that is not a JWT: an invalid response."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    cloud.token_body_override = "<html><body>We'll be back soon</body></html>"
    error = await cloud_error(EnlightenInvalidResponseError, enlighten)
    assert isinstance(error.__cause__, InvalidTokenError)


async def test_entrez_token_for_another_gateway(
    cloud: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """A valid token, but for another serial, is refused before anyone uses it."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    cloud.token_body_override = cloud.authority.issue("999999999999")
    await cloud_error(EnlightenInvalidResponseError, enlighten)


@pytest.mark.parametrize(
    ("enlighten_url", "entrez_url"),
    [
        ("http://127.0.0.1:1", "https://127.0.0.1:1"),
        ("https://127.0.0.1:1", "http://127.0.0.1:1"),
    ],
)
def test_plain_http_refused(
    cloud_session: aiohttp.ClientSession, enlighten_url: str, entrez_url: str
) -> None:
    """The cloud is only reached over HTTPS."""
    with pytest.raises(ValueError, match="HTTPS"):
        EnlightenClient(cloud_session, enlighten_url=enlighten_url, entrez_url=entrez_url)


def test_verification_cannot_be_turned_off(
    cloud: CloudSimulator, cloud_session: aiohttp.ClientSession
) -> None:
    """Neither a context that skips the chain nor one that skips the host name."""
    no_chain = ssl.create_default_context()
    no_chain.check_hostname = False
    no_chain.verify_mode = ssl.CERT_NONE
    no_host = cloud.certificate.client_context()
    no_host.check_hostname = False
    optional = cloud.certificate.client_context()
    optional.check_hostname = False
    optional.verify_mode = ssl.CERT_OPTIONAL
    for context in (no_chain, no_host, optional):
        with pytest.raises(ValueError, match="verification"):
            EnlightenClient(
                cloud_session, enlighten_url=cloud.url, entrez_url=cloud.url, ssl_context=context
            )


async def test_system_trust_refuses_the_simulators_certificate(
    cloud: CloudSimulator, cloud_session: aiohttp.ClientSession
) -> None:
    """Without the test CA the simulated cloud is not trusted: verification is on."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    client = EnlightenClient(cloud_session, enlighten_url=cloud.url, entrez_url=cloud.url)
    error = await cloud_error(EnlightenConnectionError, client)
    assert isinstance(error, EnlightenUnavailableError)
    assert "ClientConnectorCertificateError" in str(error)
    assert error.__cause__ is None  # aiohttp's errors hold the request's headers: left behind
    assert error.__context__ is None
    assert cloud.stats["login"] == 0


async def answer(status: int, text: str, content_type: str = "text/html") -> web.Response:
    """A canned answer."""
    return web.Response(status=status, text=text, content_type=content_type)


async def client_for(
    apps: Apps, cloud_session: aiohttp.ClientSession, routes: Mapping[str, Handler]
) -> EnlightenClient:
    """A cloud client of a small app serving ``routes`` over HTTPS (both cloud URLs)."""
    url = await apps.start(routes, tls=True)
    return EnlightenClient(
        cloud_session,
        enlighten_url=url,
        entrez_url=url,
        ssl_context=shared_certificate().client_context(),
    )


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (200, "<html>maintenance</html>", EnlightenUnavailableError),
        (200, "[1, 2]", EnlightenUnavailableError),
        (500, "oops", EnlightenUnavailableError),
        (401, "{}", EnlightenInvalidCredentialsError),
        # Refused for the moment (a rate limit, a firewall): nothing said about the password.
        (403, "{}", EnlightenUnavailableError),
        (429, '{"message": "Too many requests"}', EnlightenUnavailableError),
        (200, '{"message": "failed"}', EnlightenInvalidCredentialsError),
        (200, '{"session_id": ""}', EnlightenInvalidCredentialsError),
        (200, '{"requires_mfa": true}', EnlightenMFARequiredError),
        (406, '{"message": "Not acceptable"}', EnlightenUnknownReplyError),
    ],
)
async def test_odd_sign_in_answers(
    apps: Apps,
    cloud_session: aiohttp.ClientSession,
    status: int,
    text: str,
    kind: type[EnlightenError],
) -> None:
    """What Enlighten might answer instead of a session id."""

    async def login(request: web.Request) -> web.Response:
        assert "application/json" in request.headers["Accept"]
        return await answer(status, text)

    client = await client_for(apps, cloud_session, {"/login/login.json": login})
    error = await cloud_error(kind, client)
    if status == 406:
        assert str(error) == (
            "Enlighten did not accept the sign-in (HTTP 406, fields: message, cookies set: none)"
        )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, EnlightenUnavailableError),
        (502, EnlightenUnavailableError),
        (400, EnlightenSerialNotOnAccountError),
        (401, EnlightenSerialNotOnAccountError),
        (404, EnlightenSerialNotOnAccountError),
        (422, EnlightenSerialNotOnAccountError),
    ],
)
async def test_entrez_failures(
    apps: Apps,
    cloud_session: aiohttp.ClientSession,
    status: int,
    kind: type[EnlightenError],
) -> None:
    """Sign-in works, Entrez fails: 5xx is unavailable, a refusal is the serial."""
    seen: list[dict[str, str]] = []

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        assert form["user[email]"] == EMAIL
        assert form["user[password]"] == PASSWORD
        return web.json_response({"message": "success", "session_id": "abc"})

    async def tokens(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return await answer(status, "no")

    client = await client_for(apps, cloud_session, {"/login/login.json": login, "/tokens": tokens})
    await cloud_error(kind, client)
    assert seen == [{"session_id": "abc", "serial_num": SERIAL, "username": EMAIL}]


async def test_cloud_timeout(apps: Apps, cloud_session: aiohttp.ClientSession) -> None:
    """A cloud that does not answer in time is unavailable."""

    async def login(request: web.Request) -> web.Response:
        await apps.hang()
        return await answer(200, "{}")

    url = await apps.start({"/login/login.json": login}, tls=True)
    client = EnlightenClient(
        cloud_session,
        enlighten_url=url,
        entrez_url=url,
        ssl_context=shared_certificate().client_context(),
        timeout=0.1,
    )
    error = await cloud_error(EnlightenConnectionError, client)
    assert isinstance(error, EnlightenUnavailableError)
    assert "in time" in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None


async def test_cloud_unreachable(cloud_session: aiohttp.ClientSession, free_port: int) -> None:
    """Nothing listening: unavailable."""
    url = f"https://127.0.0.1:{free_port}"
    client = EnlightenClient(cloud_session, enlighten_url=url, entrez_url=url)
    error = await cloud_error(EnlightenConnectionError, client)
    assert isinstance(error, EnlightenUnavailableError)


# --------------------------------------------------------------------------- two-step sign-in

CODE_PATHS = ("/app-api/validate_login_otp", "/app-api/generate_mfa_login_otp")


def no_secrets(error: BaseException, *secrets: str) -> None:
    """Neither the message nor the repr of ``error`` (or its cause) holds a secret."""
    for shown in (str(error), repr(error), str(error.__cause__ or "")):
        for secret in (EMAIL, PASSWORD, *secrets):
            assert secret not in shown, (secret, shown)


async def sign_in_error[E: EnlightenError](kind: type[E], awaitable: Awaitable[object]) -> E:
    """The error ``awaitable`` raises, exactly ``kind``, nothing foreign, no secret in it."""
    with pytest.raises(EnlightenError) as caught:
        await awaitable
    assert type(caught.value) is kind, repr(caught.value)
    assert not isinstance(caught.value, FOREIGN_ERRORS)
    no_secrets(caught.value)
    return caught.value


@pytest.fixture
def two_step(cloud: CloudSimulator) -> CloudSimulator:
    """The simulated cloud with a two-step owner account."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL}, two_step=True)
    return cloud


def code(cloud: CloudSimulator) -> str:
    """The one-time code the cloud last sent (what the owner reads in the e-mail)."""
    sent = cloud.last_code(EMAIL)
    assert sent is not None
    return sent


def wrong(code: str) -> str:
    """Another six-digit code."""
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_two_step_sign_in(two_step: CloudSimulator, enlighten: EnlightenClient) -> None:
    """Password, then the code Enphase sent: a session, then a token for the gateway."""
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    assert sign_in.needs_code
    assert two_step.stats["codes_sent"] == 1
    assert repr(sign_in) == "SignIn(needs_code=True)"
    assert all(value not in repr(sign_in) for _, value in sign_in.cookies)

    done = await enlighten.submit_code(sign_in, f" {code(two_step)} ")
    assert not done.needs_code
    assert repr(done) == "SignIn(needs_code=False)"
    info = await enlighten.fetch_token_for(done, SERIAL)
    assert two_step.authority.verify(info.token, SERIAL)["enphaseUser"] == "owner"
    assert two_step.stats["otp_validations"] == 1
    assert two_step.stats["issued"] == 1


async def test_fetch_token_for_a_two_step_account(
    two_step: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """fetch_token (a password alone, as renewal does) recognises the real two-step reply."""
    error = await cloud_error(EnlightenCodeRequiredError, enlighten)
    assert isinstance(error, EnlightenMFARequiredError)  # callers without a code step
    assert two_step.stats["tokens"] == 0


async def test_password_sign_in_needs_no_code(
    cloud: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """An account without two-step sign-in is complete after the password."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    assert not sign_in.needs_code
    assert sign_in.cookies == ()
    with pytest.raises(ValueError, match="takes no code"):
        await enlighten.submit_code(sign_in, "123456")
    with pytest.raises(ValueError, match="takes no code"):
        await enlighten.request_new_code(sign_in)
    assert cloud.stats["otp_validations"] == cloud.stats["otp_requests"] == 0


async def test_no_token_before_the_code(
    two_step: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """A sign-in waiting for its code cannot ask Entrez for a token."""
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    with pytest.raises(ValueError, match="one-time code"):
        await enlighten.fetch_token_for(sign_in, SERIAL)
    assert two_step.stats["tokens"] == 0


async def test_wrong_code_then_the_right_one(
    two_step: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """A wrong code can be corrected within the same sign-in."""
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    right = code(two_step)
    await sign_in_error(EnlightenInvalidCodeError, enlighten.submit_code(sign_in, wrong(right)))
    done = await enlighten.submit_code(sign_in, right)
    assert not done.needs_code


@pytest.mark.parametrize("hint", [True, False], ids=["expiry-said", "expiry-unsaid"])
async def test_expired_code_then_a_new_one(
    two_step: CloudSimulator, enlighten: EnlightenClient, hint: bool
) -> None:
    """An expired code, and a new one that replaces it (the old one stops working).

    It is expired when the cloud says so, a refused code when it does not.
    """
    two_step.otp_expiry_hint = hint
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    old = code(two_step)
    two_step.clock.advance(two_step.otp_lifetime + 1)
    kind = EnlightenCodeExpiredError if hint else EnlightenInvalidCodeError
    error = await sign_in_error(kind, enlighten.submit_code(sign_in, old))
    assert isinstance(error, EnlightenInvalidCodeError)

    renewed = await enlighten.request_new_code(sign_in)
    assert two_step.stats["codes_sent"] == 2
    assert renewed.needs_code
    assert renewed.cookies != sign_in.cookies  # a new nonce: the old one stops working
    await sign_in_error(EnlightenCodeExpiredError, enlighten.submit_code(sign_in, code(two_step)))
    new = code(two_step)
    if new != old:  # one chance in a million that the new code is the old one
        await sign_in_error(EnlightenInvalidCodeError, enlighten.submit_code(renewed, old))
    assert not (await enlighten.submit_code(renewed, new)).needs_code


async def test_used_sign_in_has_expired(
    two_step: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """The login's cookies are used up by the code: the old sign-in has expired (401)."""
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    await enlighten.submit_code(sign_in, code(two_step))
    await sign_in_error(EnlightenCodeExpiredError, enlighten.submit_code(sign_in, code(two_step)))
    await sign_in_error(EnlightenCodeExpiredError, enlighten.request_new_code(sign_in))


async def test_blocked_account(cloud: CloudSimulator, enlighten: EnlightenClient) -> None:
    """An account Enphase blocks is told apart from a wrong password."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL}, blocked=True)
    await cloud_error(EnlightenAccountBlockedError, enlighten)
    await sign_in_error(EnlightenAccountBlockedError, enlighten.sign_in(EMAIL, "any password"))
    assert cloud.stats["codes_sent"] == cloud.stats["tokens"] == 0


@pytest.mark.parametrize("status", [200, 429])
async def test_too_many_wrong_codes_block(
    two_step: CloudSimulator, enlighten: EnlightenClient, status: int
) -> None:
    """After too many wrong codes the sign-in is blocked, right code or new code alike."""
    two_step.otp_block_status = status
    two_step.otp_max_tries = 2
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    right = code(two_step)
    await sign_in_error(EnlightenInvalidCodeError, enlighten.submit_code(sign_in, wrong(right)))
    await sign_in_error(EnlightenAccountBlockedError, enlighten.submit_code(sign_in, wrong(right)))
    await sign_in_error(EnlightenAccountBlockedError, enlighten.submit_code(sign_in, right))
    await sign_in_error(EnlightenAccountBlockedError, enlighten.request_new_code(sign_in))
    # A new password sign-in starts afresh.
    fresh = await enlighten.sign_in(EMAIL, PASSWORD)
    assert not (await enlighten.submit_code(fresh, code(two_step))).needs_code


@pytest.mark.parametrize(
    ("status", "kind", "new_code_kind"),
    [
        (404, EnlightenInvalidCodeError, EnlightenUnknownReplyError),  # as a peer reads it
        (410, EnlightenUnknownReplyError, EnlightenUnknownReplyError),
        (500, EnlightenUnavailableError, EnlightenUnavailableError),
        (503, EnlightenUnavailableError, EnlightenUnavailableError),
    ],
)
async def test_code_endpoints_not_offered(
    two_step: CloudSimulator,
    enlighten: EnlightenClient,
    status: int,
    kind: type[EnlightenError],
    new_code_kind: type[EnlightenError],
) -> None:
    """The real two-step reply, but no code step to be had.

    A status of no known meaning means paste a token, failing means try again later.
    """
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    two_step.otp_endpoints_status = status
    await sign_in_error(kind, enlighten.submit_code(sign_in, code(two_step)))
    await sign_in_error(new_code_kind, enlighten.request_new_code(sign_in))


async def test_code_step_outage(two_step: CloudSimulator, enlighten: EnlightenClient) -> None:
    """The cloud going down between password and code: unavailable, then the code works."""
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    two_step.outage = True
    await sign_in_error(EnlightenUnavailableError, enlighten.submit_code(sign_in, code(two_step)))
    two_step.outage_mode = "reset"
    await sign_in_error(EnlightenConnectionError, enlighten.request_new_code(sign_in))
    two_step.outage = False
    assert not (await enlighten.submit_code(sign_in, code(two_step))).needs_code


async def test_two_step_without_an_xsrf_cookie(
    two_step: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """Without an XSRF-TOKEN cookie no X-CSRF-Token is sent, and the code still works."""
    two_step.xsrf_cookie = False
    sign_in = await enlighten.sign_in(EMAIL, PASSWORD)
    assert "XSRF-TOKEN" not in dict(sign_in.cookies)
    sign_in = await enlighten.request_new_code(sign_in)
    assert not (await enlighten.submit_code(sign_in, code(two_step))).needs_code


async def test_two_sign_ins_keep_their_own_cookies(
    two_step: CloudSimulator, enlighten: EnlightenClient
) -> None:
    """Two sign-ins at once (two flows, two accounts) never mix their cookies."""
    other = "other@example.com"
    two_step.add_account(other, "other password", {"999999999999"}, two_step=True)
    first = await enlighten.sign_in(EMAIL, PASSWORD)
    first_code = code(two_step)
    second = await enlighten.sign_in(other, "other password")
    second_code = two_step.last_code(other)
    assert second_code is not None

    done_second = await enlighten.submit_code(second, second_code)
    done_first = await enlighten.submit_code(first, first_code)
    assert (await enlighten.fetch_token_for(done_first, SERIAL)).serial == SERIAL
    other_token = await enlighten.fetch_token_for(done_second, "999999999999")
    assert other_token.serial == "999999999999"


def test_a_session_that_keeps_cookies_is_refused(
    cloud: CloudSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A shared cookie jar would mix sign-ins: the cloud client does not take one."""
    with pytest.raises(ValueError, match="no cookies"):
        EnlightenClient(http_session, enlighten_url=cloud.url, entrez_url=cloud.url)


async def test_code_requests_as_the_sign_in_page_makes_them(
    apps: Apps, cloud_session: aiohttp.ClientSession
) -> None:
    """The code requests as the sign-in page makes them.

    Every login cookie goes back, the XSRF cookie URL-decoded into X-CSRF-Token, the
    fields base64-encoded, as an XMLHttpRequest; nothing else (no jar) is sent.
    """
    seen: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"success": True, "isBlocked": False})
        response.set_cookie("login_otp_nonce", "n0nce", path="/")
        response.set_cookie("_enlighten_4_session", "s3ss10n", path="/")
        response.set_cookie("XSRF-TOKEN", "abc%2Bdef%3D%3D", path="/")
        return response

    async def code_endpoint(request: web.Request) -> web.Response:
        form = await request.post()
        seen.append((request.path, dict(request.headers), {k: str(v) for k, v in form.items()}))
        if request.path.endswith("validate_login_otp"):
            return web.json_response({"message": "success", "session_id": "abc"})
        response = web.json_response({"success": True, "isBlocked": False})
        response.set_cookie("login_otp_nonce", "n3w", path="/")  # rotated with the code
        return response

    client = await client_for(
        apps, cloud_session, {"/login/login.json": login, "/app-api/{endpoint}": code_endpoint}
    )
    sign_in = await client.sign_in(EMAIL, PASSWORD)
    sign_in = await client.request_new_code(sign_in)
    assert (await client.submit_code(sign_in, "012345")).session_id == "abc"

    [(new_path, new_headers, new_form), (path, headers, form)] = seen
    assert new_path == "/app-api/generate_mfa_login_otp"
    assert new_form == {"locale": "en"}
    assert path == "/app-api/validate_login_otp"
    assert form == {
        "email": base64.b64encode(EMAIL.encode()).decode(),
        "otp": base64.b64encode(b"012345").decode(),
    }
    for sent, nonce in ((new_headers, "n0nce"), (headers, "n3w")):
        assert sent["X-Requested-With"] == "XMLHttpRequest"
        assert sent["X-CSRF-Token"] == "abc+def=="
        cookies = dict(part.split("=", 1) for part in sent["Cookie"].split("; "))
        assert cookies == {
            "login_otp_nonce": nonce,
            "_enlighten_4_session": "s3ss10n",
            "XSRF-TOKEN": "abc%2Bdef%3D%3D",
        }


LOGIN_TWO_STEP = '{"success": true, "isBlocked": false}'


@pytest.mark.parametrize(
    ("body", "nonce", "kind"),
    [
        (LOGIN_TWO_STEP, False, EnlightenMFARequiredError),  # no code step without it
        ('{"requires_mfa": true}', True, None),  # the other flag on record, with the cookie
        ('{"requires_mfa": true}', False, EnlightenMFARequiredError),
        ('{"success": false, "isBlocked": true}', True, EnlightenAccountBlockedError),
        ('{"success": false}', False, EnlightenInvalidCredentialsError),
    ],
)
async def test_odd_two_step_logins(
    apps: Apps,
    cloud_session: aiohttp.ClientSession,
    body: str,
    nonce: bool,
    kind: type[EnlightenError] | None,
) -> None:
    """A code step needs the login's nonce cookie; blocked beats everything else."""

    async def login(request: web.Request) -> web.Response:
        response = web.Response(text=body, content_type="application/json")
        if nonce:
            response.set_cookie("login_otp_nonce", "n0nce", path="/")
        return response

    client = await client_for(apps, cloud_session, {"/login/login.json": login})
    if kind is None:
        assert (await client.sign_in(EMAIL, PASSWORD)).needs_code
    else:
        await sign_in_error(kind, client.sign_in(EMAIL, PASSWORD))


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (400, '{"error": "bad"}', EnlightenInvalidCodeError),
        (404, "{}", EnlightenInvalidCodeError),
        (409, "{}", EnlightenInvalidCodeError),
        (422, '{"error": "InvalidAuthenticityToken"}', EnlightenInvalidCodeError),
        (403, "{}", EnlightenCodeExpiredError),
        (401, '{"message": "Login session expired"}', EnlightenCodeExpiredError),
        (302, "", EnlightenUnknownReplyError),
        (429, '{"isBlocked": true}', EnlightenAccountBlockedError),
        (502, "bad gateway", EnlightenUnavailableError),
        (200, "<html>maintenance</html>", EnlightenUnavailableError),
        (200, "[]", EnlightenUnavailableError),
        (200, '{"isValid": true}', EnlightenUnknownReplyError),
        (200, '{"message": "success"}', EnlightenUnknownReplyError),
        (200, '{"isValid": true, "session_id": 5}', EnlightenUnknownReplyError),
        (200, '{"status": "ok"}', EnlightenUnknownReplyError),
        (200, '{"isValid": false, "isBlocked": false}', EnlightenInvalidCodeError),
        (200, '{"isValid": false, "isBlocked": true}', EnlightenAccountBlockedError),
        (200, '{"isValid": false, "isExpired": true}', EnlightenCodeExpiredError),
        (200, '{"isValid": "no"}', EnlightenUnknownReplyError),
    ],
)
async def test_odd_code_answers(
    apps: Apps,
    cloud_session: aiohttp.ClientSession,
    status: int,
    text: str,
    kind: type[EnlightenError],
) -> None:
    """What the code endpoint might answer instead of a session."""

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"success": True, "isBlocked": False})
        response.set_cookie("login_otp_nonce", "n0nce", path="/")
        return response

    async def validate(request: web.Request) -> web.Response:
        headers = {"Location": "/login"} if status == 302 else None
        return web.Response(
            status=status, text=text, content_type="application/json", headers=headers
        )

    client = await client_for(
        apps, cloud_session, {"/login/login.json": login, "/app-api/validate_login_otp": validate}
    )
    sign_in = await client.sign_in(EMAIL, PASSWORD)
    error = await sign_in_error(kind, client.submit_code(sign_in, "012345"))
    no_secrets(error, "n0nce", "012345", "InvalidAuthenticityToken", "Login session expired")
    if kind is EnlightenUnknownReplyError:
        assert f"HTTP {status}, " in str(error)  # its shape, for the log


@pytest.mark.parametrize(
    ("body", "cookie", "session_id"),
    [
        # The reply on record today: no isValid at all.
        (
            (
                '{"message": "success", "session_id": "s1d", "manager_token": "m", '
                '"is_consumer": true, "system_id": 42, "redirect_url": ""}'
            ),
            None,
            "s1d",
        ),
        ('{"isValid": true, "session_id": "s1d"}', None, "s1d"),  # the older one
        ('{"success": true, "session_id": "s1d"}', None, "s1d"),
        ('{"session_id": "s1d"}', None, "s1d"),  # a session id is a session, whatever else
        ('{"message": "success"}', "c00k1e", "c00k1e"),  # the session in a cookie only
        ('{"isValid": true}', "c00k1e", "c00k1e"),
    ],
)
async def test_good_code_in_every_shape_on_record(
    apps: Apps,
    cloud_session: aiohttp.ClientSession,
    body: str,
    cookie: str | None,
    session_id: str,
) -> None:
    """A good code's reply is judged by what it carries: a session id completes it."""

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"success": True, "isBlocked": False})
        response.set_cookie("login_otp_nonce", "n0nce", path="/")
        return response

    async def validate(request: web.Request) -> web.Response:
        response = web.Response(text=body, content_type="application/json")
        if cookie is not None:
            response.set_cookie("session_id", cookie, path="/")
        return response

    client = await client_for(
        apps, cloud_session, {"/login/login.json": login, "/app-api/validate_login_otp": validate}
    )
    sign_in = await client.sign_in(EMAIL, PASSWORD)
    done = await client.submit_code(sign_in, "012345")
    assert not done.needs_code
    assert done.session_id == session_id
    assert session_id not in repr(done)


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (200, '{"success": false}', EnlightenInvalidResponseError),
        (200, '{"message": "sent"}', EnlightenUnknownReplyError),
        (401, "{}", EnlightenCodeExpiredError),
        (403, "{}", EnlightenCodeExpiredError),
        (429, "{}", EnlightenAccountBlockedError),
        (200, '{"success": true, "isBlocked": true}', EnlightenAccountBlockedError),
        (404, "{}", EnlightenUnknownReplyError),
    ],
)
async def test_odd_new_code_answers(
    apps: Apps,
    cloud_session: aiohttp.ClientSession,
    status: int,
    text: str,
    kind: type[EnlightenError],
) -> None:
    """What the new-code endpoint might answer instead of having sent one."""

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"success": True, "isBlocked": False})
        response.set_cookie("login_otp_nonce", "n0nce", path="/")
        return response

    async def generate(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text, content_type="application/json")

    client = await client_for(
        apps,
        cloud_session,
        {"/login/login.json": login, "/app-api/generate_mfa_login_otp": generate},
    )
    sign_in = await client.sign_in(EMAIL, PASSWORD)
    error = await sign_in_error(kind, client.request_new_code(sign_in))
    no_secrets(error, "n0nce")
