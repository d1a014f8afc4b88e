"""Tokens: reading their claims, and getting them from the (simulated) Enphase cloud."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
import ssl
import time

import aiohttp
from aiohttp import web
import jwt
import pytest

from custom_components.enphase_iq_gateway.iqgateway import (
    EnlightenClient,
    EnlightenConnectionError,
    EnlightenError,
    EnlightenInvalidCredentialsError,
    EnlightenInvalidResponseError,
    EnlightenMFARequiredError,
    EnlightenSerialNotOnAccountError,
    EnlightenUnavailableError,
    InvalidTokenError,
    IQGatewayError,
    parse_token,
)
from simulator import CloudSimulator, TokenAuthority
from simulator.tls import shared_certificate

from .common import FOREIGN_ERRORS
from .conftest import Apps

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
def enlighten(cloud: CloudSimulator, http_session: aiohttp.ClientSession) -> EnlightenClient:
    """A client for the simulated cloud, over HTTPS that verifies its certificate."""
    return EnlightenClient(
        http_session,
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
    http_session: aiohttp.ClientSession, enlighten_url: str, entrez_url: str
) -> None:
    """The cloud is only reached over HTTPS."""
    with pytest.raises(ValueError, match="HTTPS"):
        EnlightenClient(http_session, enlighten_url=enlighten_url, entrez_url=entrez_url)


def test_verification_cannot_be_turned_off(
    cloud: CloudSimulator, http_session: aiohttp.ClientSession
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
                http_session, enlighten_url=cloud.url, entrez_url=cloud.url, ssl_context=context
            )


async def test_system_trust_refuses_the_simulators_certificate(
    cloud: CloudSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Without the test CA the simulated cloud is not trusted: verification is on."""
    cloud.add_account(EMAIL, PASSWORD, {SERIAL})
    client = EnlightenClient(http_session, enlighten_url=cloud.url, entrez_url=cloud.url)
    error = await cloud_error(EnlightenConnectionError, client)
    assert isinstance(error, EnlightenUnavailableError)
    assert "ClientConnectorCertificateError" in str(error)
    assert error.__cause__ is None  # aiohttp's errors hold the request's headers: left behind
    assert error.__context__ is None
    assert cloud.stats["login"] == 0


async def answer(status: int, text: str, content_type: str = "text/html") -> web.Response:
    """A canned answer."""
    return web.Response(status=status, text=text, content_type=content_type)


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (200, "<html>maintenance</html>", EnlightenUnavailableError),
        (200, "[1, 2]", EnlightenUnavailableError),
        (500, "oops", EnlightenUnavailableError),
        (403, "{}", EnlightenInvalidCredentialsError),
        (200, '{"message": "failed"}', EnlightenInvalidCredentialsError),
        (200, '{"session_id": ""}', EnlightenInvalidCredentialsError),
        (200, '{"requires_mfa": true}', EnlightenMFARequiredError),
    ],
)
async def test_odd_sign_in_answers(
    apps: Apps,
    http_session: aiohttp.ClientSession,
    status: int,
    text: str,
    kind: type[EnlightenError],
) -> None:
    """What Enlighten might answer instead of a session id."""

    async def login(request: web.Request) -> web.Response:
        return await answer(status, text)

    url = await apps.start({"/login/login.json": login}, tls=True)
    client = EnlightenClient(
        http_session,
        enlighten_url=url,
        entrez_url=url,
        ssl_context=shared_certificate().client_context(),
    )
    await cloud_error(kind, client)


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
    http_session: aiohttp.ClientSession,
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

    url = await apps.start({"/login/login.json": login, "/tokens": tokens}, tls=True)
    client = EnlightenClient(
        http_session,
        enlighten_url=url,
        entrez_url=url,
        ssl_context=shared_certificate().client_context(),
    )
    await cloud_error(kind, client)
    assert seen == [{"session_id": "abc", "serial_num": SERIAL, "username": EMAIL}]


async def test_cloud_timeout(apps: Apps, http_session: aiohttp.ClientSession) -> None:
    """A cloud that does not answer in time is unavailable."""

    async def login(request: web.Request) -> web.Response:
        await apps.hang()
        return await answer(200, "{}")

    url = await apps.start({"/login/login.json": login}, tls=True)
    client = EnlightenClient(
        http_session,
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


async def test_cloud_unreachable(http_session: aiohttp.ClientSession, free_port: int) -> None:
    """Nothing listening: unavailable."""
    url = f"https://127.0.0.1:{free_port}"
    client = EnlightenClient(http_session, enlighten_url=url, entrez_url=url)
    error = await cloud_error(EnlightenConnectionError, client)
    assert isinstance(error, EnlightenUnavailableError)
