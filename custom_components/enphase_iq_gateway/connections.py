"""How the integration reaches the gateway and the Enphase cloud (one seam for tests)."""

from __future__ import annotations

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_create_clientsession

from .iqgateway import EnlightenClient


def gateway_session(hass: HomeAssistant, *, auto_cleanup: bool = True) -> aiohttp.ClientSession:
    """A session for one gateway.

    No certificate check (the gateway's certificate is self-signed), and a cookie jar of
    its own that keeps cookies for IP hosts, so the gateway's session cookie is reused.
    With ``auto_cleanup`` (in entry setup) the session is detached when the entry unloads;
    without it the caller must call ``detach()``.
    """
    return async_create_clientsession(
        hass,
        verify_ssl=False,
        auto_cleanup=auto_cleanup,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    )


def cloud_session(hass: HomeAssistant, *, auto_cleanup: bool = True) -> aiohttp.ClientSession:
    """A session for the Enphase cloud: verified HTTPS, and no cookie jar.

    The cloud client carries each sign-in's cookies itself (a two-step sign-in sends the
    login's cookies with its one-time code), so nothing is kept between sign-ins or shared
    with other integrations, as Home Assistant's shared session and its jar would. With
    ``auto_cleanup`` (in entry setup) the session is detached when the entry unloads;
    without it the caller must call ``detach()``.
    """
    return async_create_clientsession(
        hass, auto_cleanup=auto_cleanup, cookie_jar=aiohttp.DummyCookieJar()
    )


def cloud_client(session: aiohttp.ClientSession) -> EnlightenClient:
    """The Enphase cloud client on a ``cloud_session``."""
    return EnlightenClient(session)
