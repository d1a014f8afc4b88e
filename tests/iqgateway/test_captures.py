"""Every real capture, through the real client over loopback: detect, probe, poll.

The parsed models (without the raw bodies), the probe result and the site values derived
from them are snapshotted; each endpoint the probe found is then asked alone and must give
what the poll gave.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.enphase_iq_gateway.iqgateway import site_values
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    BATTERY_CONTROL,
    BATTERY_POWER,
    CONSUMPTION_REPORTS,
    DRY_CONTACT_SETTINGS,
    DRY_CONTACTS,
    ENSEMBLE_INVENTORY,
    ENSEMBLE_STATUS,
    GENERATOR,
    GENERATOR_CONFIG,
    INFO,
    LIVEDATA,
    METER_READINGS,
    METERS,
    POLLED,
    PRODUCTION,
    PRODUCTION_JSON,
    STORAGE_SETTINGS,
)
from custom_components.enphase_iq_gateway.iqgateway.models import MeasurementType
from tests.conftest import CAPTURES, TOKEN_CAPTURES, GatewayFactory

from .common import plain
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
    "has_batteries",
    "battery_power",
    "battery_soc",
    "battery_backup_reserve",
    "battery_available_energy",
    "battery_capacity",
    "battery_charged_energy",
    "battery_discharged_energy",
    "reads_live_data",
    "storage_settings",
    "has_grid_status",
    "grid_status",
)
TOTAL = MeasurementType.TOTAL_CONSUMPTION


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

    data = await client.poll()  # the first poll identifies and probes the gateway

    info = client.info
    probe = client.probe_result
    assert info is not None
    assert probe is not None
    assert client.scheme == ("https" if token_firmware else "http")
    assert info.serial == simulator.serial
    assert info.tokens_required is token_firmware
    assert data.info == info

    polled = client.polled()
    assert data.polled == frozenset(polled)
    assert polled == tuple(endpoint for endpoint in POLLED if endpoint in data.polled)
    assert probe.supported, "every capture answers at least one production endpoint"
    # Nothing failed, so nothing is left to ask again; but a page where JSON belongs is
    # a garbled answer (firmware 3.x serves /production.json as HTML), asked again later.
    html = {
        endpoint
        for endpoint in POLLED
        if (captured := simulator.capture.get(endpoint.path)) is not None
        and captured.status == 200
        and captured.body.lstrip().startswith(b"<")
        and endpoint.path != "/production"
    }
    assert probe.retry == html
    assert not (probe.supported & probe.empty)
    # Nothing failed: every polled endpoint answered (captured live data is long out of
    # date: it is set aside as stale).
    assert set(data.bodies) | set(data.stale) == data.polled
    assert set(data.stale) <= {LIVEDATA}
    # The latest raw body of every endpoint that answered readably is kept, and only those.
    raw = client.raw_bodies()
    assert set(raw) == {str(endpoint) for endpoint in {INFO, *probe.supported, *probe.empty}}
    assert raw[INFO.path].status == 200
    assert INFO.parse(raw[INFO.path]) == info
    for endpoint, body in {**data.bodies, **data.stale}.items():
        assert raw[endpoint.path].path == endpoint.path
        assert endpoint.parse(raw[endpoint.path]) == body, endpoint

    assert {
        "scheme": client.scheme,
        "info": plain(info),
        "firmware_version": list(info.firmware_version),
        "probe": plain(probe.as_dict()),
        "polled": [str(endpoint) for endpoint in polled],
        "data": plain(data),
        "ct_meters": plain(data.ct_meters),
    } == snapshot(name="parsed")
    site = {name: plain(getattr(site_values, name)(data)) for name in SITE_VALUES}
    reports = data.get(CONSUMPTION_REPORTS) or {}
    site["total_report_copies_net"] = site_values.consumption_report(data, TOTAL) != reports.get(
        TOTAL
    )
    site["report_lines"] = {
        report_type: len(site_values.report_lines(data, report_type)) for report_type in reports
    }
    assert site == snapshot(name="site")

    # Each endpoint the probe found, asked alone, gives what the poll gave.
    enabled_meters = any(m.enabled for m in data.get(METERS) or ())
    inventory = data.get(ENSEMBLE_INVENTORY)
    requests_so_far = dict(simulator.stats.requests)
    for endpoint in (endpoint for endpoint in POLLED if endpoint in probe.supported):
        alone = await client.get(endpoint)
        assert alone is not None
        if endpoint in polled:
            assert alone == data.latest(endpoint), endpoint
            continue
        # Found, but not polled: something else has what it would give.
        assert data.get(endpoint) is None
        if endpoint is BATTERY_POWER:
            assert "storage" in data.enabled_cts or LIVEDATA in probe.supported
        elif endpoint in (METER_READINGS, CONSUMPTION_REPORTS):
            # No enabled CT: the poll does not read what the meters would measure.
            assert not enabled_meters
            assert requests_so_far[endpoint.path] == 1  # the probe's request only
        elif endpoint in (DRY_CONTACTS, DRY_CONTACT_SETTINGS, GENERATOR_CONFIG):
            # Every 7.x/8.x gateway answers these; they are a System Controller's.
            assert not (inventory and inventory.system_controllers)
        elif endpoint is GENERATOR:
            # Its "present" says nothing: a generator is there when one is configured.
            config = data.get(GENERATOR_CONFIG)
            assert config is None or not config.configured
        elif endpoint is STORAGE_SETTINGS:
            # Settings of batteries the site does not have (the gateway has defaults).
            assert BATTERY_CONTROL not in data.polled
            assert not (inventory and inventory.batteries)
            assert not site_values.has_batteries(data)
        elif endpoint is ENSEMBLE_STATUS:
            assert inventory is None  # it describes the inventory's devices
        else:
            # /production.json, slow, with nothing of its own here: no AC Batteries, and
            # any active CT in it is read from the meter readings.
            assert endpoint is PRODUCTION_JSON
            assert PRODUCTION in probe.supported
            assert not alone.has_batteries
            assert METER_READINGS in probe.supported or all(
                meter.active_count == 0 for meter in alone.meters.values()
            )

    # One token validation for everything above (the cookie session carries the rest).
    assert sum(simulator.stats.jwt_validations.values()) == (1 if token_firmware else 0)
    assert simulator.stats.max_in_flight == 1
