"""How the integration reaches the gateway and the Enphase cloud (one seam for tests)."""

from __future__ import annotations

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import (
    async_create_clientsession,
    async_get_clientsession,
)

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


def cloud_client(hass: HomeAssistant) -> EnlightenClient:
    """The Enphase cloud client: HTTPS through Home Assistant's verifying session."""
    return EnlightenClient(async_get_clientsession(hass))
