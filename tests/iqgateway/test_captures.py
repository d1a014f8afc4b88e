"""Every real capture, through the real client over loopback: detect, probe, poll.

The parsed models (without the raw bodies), the probe result and the site values derived
from them are snapshotted; each endpoint method the probe found is then asked alone and
must give what the poll gave.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.enphase_iq_gateway.iqgateway import Endpoint, site_values
from custom_components.enphase_iq_gateway.iqgateway.models import ENDPOINT_FIELDS
from tests.conftest import CAPTURES, TOKEN_CAPTURES, GatewayFactory

from .common import METHODS, plain
from .conftest import ClientFactory

SITE_VALUES = (
    "production_power",
    "production_energy_lifetime",
    "production_energy_today",
    "production_energy_last_seven_days",
    "net_consumption_power",
    "consumption_power",
    "consumption_energy_lifetime",
    "grid_import_energy",
    "grid_export_energy",
    "total_report_copies_net",
    "has_batteries",
    "battery_power",
    "battery_soc",
    "battery_backup_reserve",
    "battery_available_energy",
    "battery_capacity",
    "battery_charged_energy",
    "battery_discharged_energy",
)


@pytest.mark.parametrize("capture", CAPTURES)
async def test_capture(
    capture: str,
    start_gateway: GatewayFactory,
    make_client: ClientFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """Detect, probe and poll one capture; snapshot what was parsed."""
    simulator = await start_gateway(capture)
    token_firmware = capture in TOKEN_CAPTURES
    client = make_client(simulator)
    assert (client.token is not None) is token_firmware

    info = await client.detect()
    assert client.scheme == ("https" if token_firmware else "http")
    assert info.serial == simulator.serial
    assert info.tokens_required is token_firmware
    assert client.info == info
    assert client.info_raw is not None
    assert client.info_raw.status == 200

    probe = await client.probe()
    data = await client.poll(probe, info)

    assert data.info == info
    assert data.polled == frozenset(probe.polled())
    assert probe.supported, "every capture answers at least one production endpoint"
    assert not probe.retry, "nothing failed, so nothing is left to ask again"
    assert not (probe.supported & probe.empty)
    # The raw body of every field that was read is kept, and only those.
    read = {ep for ep, name in ENDPOINT_FIELDS.items() if getattr(data, name) is not None}
    assert set(data.raw) == read
    assert read <= set(probe.polled())

    assert {
        "scheme": client.scheme,
        "info": plain(info),
        "firmware_version": list(info.firmware_version),
        "probe": plain(probe.as_dict()),
        "polled": [str(ep) for ep in probe.polled()],
        "data": plain(data),
        "ct_meters": plain(data.ct_meters),
    } == snapshot(name="parsed")
    assert {name: getattr(site_values, name)(data) for name in SITE_VALUES} == snapshot(name="site")

    # Each endpoint the probe found, asked alone, gives what the poll gave.
    enabled_meters = any(m.enabled for m in data.meters or ())
    requests_so_far = dict(simulator.stats.requests)
    for endpoint in sorted(probe.supported):
        alone = await METHODS[endpoint](client)
        polled = getattr(data, ENDPOINT_FIELDS[endpoint])
        if endpoint not in probe.polled():
            # Found, but with nothing of its own here: not polled.
            if endpoint is Endpoint.BATTERY_POWER:
                assert "storage" in probe.enabled_cts or Endpoint.LIVEDATA in probe.supported
            else:
                assert endpoint is Endpoint.PRODUCTION_JSON
                assert not probe.needs_production_json
            assert polled is None
        elif polled is None:
            # No enabled CT: the poll does not read what the meters would measure.
            assert endpoint in (Endpoint.METER_READINGS, Endpoint.CONSUMPTION_REPORTS)
            assert not enabled_meters
            assert requests_so_far[endpoint] == 1  # the probe's request only
        else:
            assert alone == polled, endpoint
        assert alone is not None

    # One token validation for everything above (the cookie session carries the rest).
    assert sum(simulator.stats.jwt_validations.values()) == (1 if token_firmware else 0)
    assert simulator.stats.max_in_flight == 1
