"""Fixtures for the Home Assistant tests: the integration against the simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant

from custom_components.enphase_iq_gateway.const import CONF_SERIAL, DOMAIN
from custom_components.enphase_iq_gateway.iqgateway import EnlightenClient
from simulator import CloudSimulator, GatewaySimulator
from tests.conftest import GatewayFactory

FROZEN_TIME = "2026-06-21T12:00:00+00:00"
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture
def cloud_client(hass: HomeAssistant, cloud: CloudSimulator) -> Iterator[None]:
    """Point the integration's Enphase cloud client at the simulated cloud (HTTPS, verified)."""

    def factory(hass: HomeAssistant) -> EnlightenClient:
        from homeassistant.helpers.aiohttp_client import async_get_clientsession

        return EnlightenClient(
            async_get_clientsession(hass),
            enlighten_url=cloud.url,
            entrez_url=cloud.url,
            ssl_context=cloud.certificate.client_context(),
        )

    with patch("custom_components.enphase_iq_gateway.connections.cloud_client", factory):
        yield


@pytest.fixture
def owner_account(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    """An Enlighten owner account with the rich gateway on it."""
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial})


def token_entry(gateway: GatewaySimulator, token: str, **data: object) -> MockConfigEntry:
    """A config entry with a pasted token."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        title=f"IQ Gateway {gateway.serial}",
        data={CONF_HOST: gateway.address, CONF_SERIAL: gateway.serial, CONF_TOKEN: token, **data},
    )


def credentials_entry(gateway: GatewaySimulator, token: str) -> MockConfigEntry:
    """A config entry with Enlighten credentials (renewable token)."""
    return token_entry(gateway, token, **{CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: OWNER_PASSWORD})


async def setup_capture(
    hass: HomeAssistant, start_gateway: GatewayFactory, capture: str, **options: object
) -> tuple[MockConfigEntry, GatewaySimulator]:
    """Serve ``capture`` and set up an entry for it (a pasted token where one is needed)."""
    gateway = await start_gateway(capture)
    data: dict[str, object] = {CONF_HOST: gateway.address, CONF_SERIAL: gateway.serial}
    if gateway.capture.requires_token:
        data[CONF_TOKEN] = gateway.issue_token()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        title=f"IQ Gateway {gateway.serial}",
        data=data,
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry, gateway
