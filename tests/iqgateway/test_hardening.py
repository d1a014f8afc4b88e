"""The client against hostile answers and host strings (issue 11).

Bounded bodies, no token over plain HTTP, no host string that escapes the error tree, and
no error that carries the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import gzip
import tracemalloc
import zlib

import aiohttp
from aiohttp import web
import pytest
from yarl import URL

from custom_components.enphase_iq_gateway.iqgateway import (
    IQGateway,
    IQGatewayConnectionError,
    IQGatewayError,
    IQGatewayResponseError,
)
from custom_components.enphase_iq_gateway.iqgateway.client import (
    MAX_BODY,
    gateway_lock,
    gateway_url,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    CHECK_JWT,
    INFO,
    METER_READINGS,
    PRODUCTION,
)
from simulator import GatewaySimulator
from simulator.tls import shared_certificate
from tests.conftest import FIXTURES

from .common import FOREIGN_ERRORS, raises
from .conftest import Apps, ClientFactory

MIB = 1024 * 1024
PRODUCTION_BODY = (FIXTURES / "7.6.175" / "api_v1_production").read_bytes()
LEGACY_INFO = (FIXTURES / "5.0.62" / "info").read_text()
LEGACY_SERIAL = LEGACY_INFO.split("<sn>")[1].split("</sn>")[0]


def _gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzipped (about a thousandth of that), made without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MIB)
    parts = [packer.compress(block) for _ in range(size // MIB)]
    return b"".join(parts) + packer.flush()


def _plain(body: bytes, **headers: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json", **headers})

    return handler


# --------------------------------------------------------------------------- 5: bodies


async def test_a_body_over_the_limit_is_refused(
    apps: Apps, http_session: aiohttp.ClientSession
) -> None:
    """A body larger than MAX_BODY is an unreadable answer; one just under it is read."""
    url = await apps.start(
        {
            PRODUCTION.path: _plain(b'{"wattsNow": 1}' + b" " * MAX_BODY),  # valid JSON
            METER_READINGS.path: _plain(b"[]" + b" " * (MAX_BODY - 2)),
        }
    )
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    await raises(IQGatewayResponseError, client.get(PRODUCTION))
    assert await client.get(METER_READINGS) == {}
    assert MAX_BODY >= 4 * MIB  # ample: the largest real body is under 100 KB


async def test_an_endless_body_is_not_read_to_its_end(
    apps: Apps, http_session: aiohttp.ClientSession
) -> None:
    """A body that never ends: reading stops at the limit and the connection is dropped."""
    sent: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * (256 * 1024)
        try:
            for _ in range(256):  # 64 MiB at most: the test stops by itself
                await response.write(chunk)
                sent.append(len(chunk))
        except (ConnectionError, RuntimeError):
            pass  # the client went away, as it should
        return response

    url = await apps.start({PRODUCTION.path: endless})
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    await raises(IQGatewayResponseError, client.get(PRODUCTION))
    await asyncio.sleep(0.1)
    assert sum(sent) < 32 * MIB


async def test_a_gzip_bomb_is_refused_without_inflating_it(
    apps: Apps, http_session: aiohttp.ClientSession
) -> None:
    """256 MiB of zeros in 256 KB of gzip: refused, and memory never grows by that much."""
    bomb = _gzip_bomb(256 * MIB)
    assert len(bomb) < MAX_BODY
    url = await apps.start({PRODUCTION.path: _plain(bomb, **{"Content-Encoding": "gzip"})})
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    tracemalloc.start()
    try:
        await raises(IQGatewayResponseError, client.get(PRODUCTION))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * MIB  # the limit and its compressed form, not 256 MiB


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # with a zlib header, as the standard says
        ("deflate", lambda body: zlib.compress(body, wbits=-15)),  # raw, as some servers do
        ("identity", lambda body: body),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "identity"],
)
async def test_compressed_bodies_are_read(
    apps: Apps,
    http_session: aiohttp.ClientSession,
    encoding: str,
    pack: Callable[[bytes], bytes],
) -> None:
    """What the client asks for (gzip, deflate) is inflated by the client itself."""
    handler = _plain(pack(PRODUCTION_BODY), **{"Content-Encoding": encoding})
    url = await apps.start({PRODUCTION.path: handler})
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    assert (await client.get(PRODUCTION)).wh_lifetime is not None


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("br", b"\x0b\x02\x80{}\x03"), ("gzip", b"not gzip at all"), ("gzip, gzip", b"")],
)
async def test_unreadable_encodings_are_bad_answers(
    apps: Apps, http_session: aiohttp.ClientSession, encoding: str, body: bytes
) -> None:
    """An encoding not asked for, or a body that does not inflate: an unreadable answer."""
    url = await apps.start({PRODUCTION.path: _plain(body, **{"Content-Encoding": encoding})})
    client = IQGateway(url.removeprefix("http://"), http_session, scheme="http", retry_delay=0)
    await raises(IQGatewayResponseError, client.get(PRODUCTION))


# --------------------------------------------------------------------------- 6: plain HTTP


class Recorder:
    """A plain-HTTP app that records what every request carried."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.seen: list[tuple[str, str | None, str | None]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(
            (request.path, request.headers.get("Authorization"), request.headers.get("Cookie"))
        )
        if request.path == INFO.path:
            return web.Response(text=LEGACY_INFO, content_type="application/xml")
        if request.path == CHECK_JWT.path:
            response = web.Response(text="<h2>Valid token.</h2>")
            response.set_cookie("sessionId", "plain-http-session")
            return response
        return web.Response(body=PRODUCTION_BODY, content_type="application/json")

    async def start(self, apps: Apps) -> str:
        """Serve on every path; the host:port."""
        url = await apps.start({"/{tail:.*}": self.handle})
        return url.removeprefix("http://")


async def test_a_token_is_never_sent_over_plain_http(
    apps: Apps, http_session: aiohttp.ClientSession
) -> None:
    """HTTPS fails and plain HTTP claims old firmware with the right serial: no fallback.

    A client with a token only speaks HTTPS, so the impostor on port 80 sees nothing.
    """
    recorder = Recorder()
    host = await recorder.start(apps)
    client = IQGateway(host, http_session, token="secret.token.value", serial=LEGACY_SERIAL)
    await raises(IQGatewayConnectionError, client.setup())
    assert recorder.seen == []
    assert client.scheme is None

    # Told to use HTTP (a stale setting, a caller's mistake): still not sent.
    told = IQGateway(host, http_session, token="secret.token.value", scheme="http")
    await raises(IQGatewayConnectionError, told.get(PRODUCTION))
    await raises(IQGatewayConnectionError, told.check_jwt())
    assert recorder.seen == []


async def test_a_gateway_known_to_use_tokens_never_falls_back_to_http(
    gateway: GatewaySimulator, make_client: ClientFactory
) -> None:
    """Without a token in hand, an /info that asked for tokens keeps the client on HTTPS."""
    client = make_client(gateway, token=None)
    info = await client.detect()
    assert info.tokens_required
    await gateway.stop()
    await raises(IQGatewayConnectionError, client.detect())
    assert client.scheme == "https"


async def test_the_session_cookie_is_never_sent_over_plain_http(
    apps: Apps, http_session: aiohttp.ClientSession
) -> None:
    """A session cookie in the jar for the gateway's host stays out of plain-HTTP requests."""
    recorder = Recorder()
    host = await recorder.start(apps)
    http_session.cookie_jar.update_cookies({"sessionId": "kept-from-https"}, URL(f"http://{host}"))
    client = IQGateway(host, http_session, scheme="http")
    await client.detect()
    await client.get(PRODUCTION)
    assert [seen[0] for seen in recorder.seen] == [INFO.path, PRODUCTION.path]
    assert all(cookie is None or "sessionId" not in cookie for _, _, cookie in recorder.seen)
    assert all(authorization is None for _, authorization, _ in recorder.seen)


# --------------------------------------------------------------------------- 7: host strings

BAD_HOSTS = [
    "user@{host}",
    "owner:secret@{host}",
    "{host}/path",
    "{host}?query=1",
    "{host}#fragment",
    "a" * 64 + ".example",  # a label over 63 characters: IDNA refuses it
    "b" * 250 + ".example",  # a name over 253 characters
    "xn--" + "c" * 70,
    "ex ample",
    "[::1",
    "{host}:abc",
    "{host}:99999",
    "",
    "   ",
    "a..b",
    "-lead.example",
    "under_score.example",
    "\u2603" * 70 + ".example",  # a long non-ASCII label
    "host\\path",
    "%41.example",
]


@pytest.mark.parametrize("template", BAD_HOSTS)
@pytest.mark.parametrize("token", [None, "a.b.c"], ids=["no-token", "token"])
async def test_no_host_string_escapes_the_error_tree(
    apps: Apps, http_session: aiohttp.ClientSession, template: str, token: str | None
) -> None:
    """Every call raises an IQGatewayError, and nothing is sent (no Basic auth from userinfo)."""
    recorder = Recorder()
    host = await recorder.start(apps)
    client = IQGateway(template.format(host=host), http_session, token=token, retry_delay=0)
    for call in (client.detect, client.setup, client.poll, client.check_jwt):
        with pytest.raises(IQGatewayError) as caught:
            await call()
        assert not isinstance(caught.value, FOREIGN_ERRORS)
        assert "secret" not in str(caught.value)
    legacy = IQGateway(template.format(host=host), http_session, scheme="http", retry_delay=0)
    with pytest.raises(IQGatewayError):
        await legacy.get(INFO)
    assert recorder.seen == []


async def test_an_ip_host_with_a_port(apps: Apps, http_session: aiohttp.ClientSession) -> None:
    """An IPv4 address with a port is a host like any other."""
    recorder = Recorder()
    address = await recorder.start(apps)
    client = IQGateway(address, http_session, scheme="http")
    assert (await client.detect()).serial == LEGACY_SERIAL


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("envoy.local", "https://envoy.local/info"),
        ("Envoy.Local:8443", "https://envoy.local:8443/info"),
        ("192.168.1.50", "https://192.168.1.50/info"),
        ("192.168.1.50:8080", "https://192.168.1.50:8080/info"),
        ("fe80::1", "https://[fe80::1]/info"),
        ("[fe80::1]", "https://[fe80::1]/info"),
        ("[fe80::1]:8443", "https://[fe80::1]:8443/info"),
        (" envoy.local ", "https://envoy.local/info"),
    ],
)
def test_accepted_hosts(host: str, url: str) -> None:
    """Host names and IP addresses (IPv6 bare or in brackets), each with an optional port."""
    assert str(gateway_url("https", host, INFO.path)) == url


# --------------------------------------------------------------------------- 9: no headers


def _chain(error: BaseException) -> list[BaseException]:
    """The error, its cause and its context, and theirs."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


@pytest.fixture
async def raw_tls_server(loopback: None) -> AsyncIterator[Callable[[bytes], Awaitable[str]]]:
    """A TLS server that answers every request with the given bytes, however malformed."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(
            handle, "127.0.0.1", 0, ssl=shared_certificate().server_context()
        )
        servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


MALFORMED = {
    "bad-header": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
    "bad-status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
    "bad-chunks": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("answer", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_no_error_carries_the_token(
    raw_tls_server: Callable[[bytes], Awaitable[str]],
    http_session: aiohttp.ClientSession,
    answer: bytes,
) -> None:
    """Malformed answers: aiohttp's errors (which hold the request) are left behind.

    None of them is the cause or context of what the client raises.
    """
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzZWNyZXQiOiJ0b2tlbiJ9.c2lnbmF0dXJlLW5ldmVyLWxvZ2dlZA"
    host = await raw_tls_server(answer)
    client = IQGateway(host, http_session, token=token, scheme="https", retry_delay=0)
    for call in (client.check_jwt, lambda: client.get(PRODUCTION)):
        with pytest.raises(IQGatewayError) as caught:
            await call()
        chain = _chain(caught.value)
        assert all(isinstance(error, IQGatewayError) for error in chain), chain
        for error in chain:
            assert token not in repr(error)
            assert token not in str(error)
            assert "Bearer" not in repr(error)


async def test_one_lock_per_gateway_whatever_its_address() -> None:
    """Clients of one gateway share its lock; two gateways never share one.

    A flow that knows only the host waits for the entry's polls; a client that knows the
    serial finds the lock under another spelling of the host; and an address that now
    belongs to another gateway (DHCP handed it on) does not tie the two together.
    """
    entry = gateway_lock("envoy.local", "111111111111")
    assert gateway_lock("ENVOY.local ") is entry  # a flow reading /info first
    assert gateway_lock("192.168.1.20", "111111111111") is entry  # the same gateway, by IP
    assert gateway_lock("192.168.1.20") is entry
    other = gateway_lock("envoy.local", "222222222222")  # another gateway at that name now
    assert other is not entry
    assert gateway_lock("10.0.0.9", "111111111111") is entry
