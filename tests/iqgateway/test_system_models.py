"""The system's models and rules: Ensemble devices, device data, settings, the grid.

Shapes no capture has (an off-grid site, a generator, two combiners, odd values) are
written out here; the captures' own values are checked in test_captures (snapshots) and
in the Home Assistant tests against their raw bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime
import logging
from typing import Any

import pytest

from custom_components.enphase_iq_gateway.iqgateway import (
    GatewayData,
    IQGatewayResponseError,
    site_values,
)
from custom_components.enphase_iq_gateway.iqgateway.endpoints import (
    AC_BATTERIES,
    BATTERY_CONTROL,
    DEVICE_DATA,
    DRY_CONTACT_SETTINGS,
    DRY_CONTACTS,
    ENSEMBLE_INVENTORY,
    ENSEMBLE_STATUS,
    GENERATOR,
    GENERATOR_CONFIG,
    INVERTERS,
    POLLED,
    STORAGE_SETTINGS,
    Endpoint,
)
from custom_components.enphase_iq_gateway.iqgateway.models import (
    BatteryControl,
    GatewayInfo,
    join_dry_contacts,
)

from .test_models import parsed

INFO = GatewayInfo("1", None, "D8.3.1598", True, True)


def poll_data(bodies: dict[Endpoint[Any], Any]) -> GatewayData:
    return GatewayData(info=INFO, polled=frozenset(bodies), bodies=bodies)


def inventory(*groups: tuple[str, list[dict[str, Any]]]) -> Any:
    return parsed(
        ENSEMBLE_INVENTORY, [{"type": kind, "devices": devices} for kind, devices in groups]
    )


ENPOWER = {"serial_num": "100", "mains_oper_state": "closed", "mains_admin_state": "closed"}
COLLAR = {
    "serial_num": "200",
    "mid_state": "close",
    "grid_state": "on_grid",
    "admin_state_str": "ENCMN_MDE_ON_GRID",
}
BATTERY = {"serial_num": "300", "reported_enc_grid_state": "grid-tied", "percentFull": 50}


# --------------------------------------------------------------------------- inventory


def test_inventory_by_kind_and_serial(caplog: pytest.LogCaptureFixture) -> None:
    """Devices are kept by group type and serial; unknown types are ignored, said once."""
    caplog.set_level(logging.DEBUG)
    found = inventory(
        ("ENCHARGE", [BATTERY, {"percentFull": 5}, {"serial_num": 301}]),  # no serial; a number
        ("ENPOWER", [ENPOWER]),
        ("IQ FLUX CAPACITOR", [{"serial_num": "900"}]),
        ("IQ FLUX CAPACITOR", [{"serial_num": "901"}]),
        ("COLLAR", "not a list"),
    )
    assert set(found.batteries) == {"300", "301"}
    assert found.batteries["300"].soc == 50
    assert found.system_controller is not None
    assert found.system_controller.grid_relay_closed is True
    assert found.collar is None
    assert not found.empty
    ignored = [r for r in caplog.records if "IQ FLUX CAPACITOR" in r.getMessage()]
    assert len(ignored) == 1
    assert ignored[0].levelno == logging.DEBUG
    assert inventory(("ENCHARGE", [{**BATTERY, "percentFull": 250}])).batteries["300"].soc is None
    assert inventory().empty
    assert inventory(("ENCHARGE", [])).empty


def test_combiner_and_its_meter() -> None:
    """One combiner and one meter are one device; with two combiners, meters are left out."""
    controller = {"serial_num": "10", "fw_version": "0.1", "admin_state_str": "READY"}
    meter = {"serial_num": "11", "FW Version": "2.2", "Device State": 80}
    [combiner] = inventory(
        ("C6 COMBINER CONTROLLER", [controller]), ("C6 RGM", [meter])
    ).combiners.values()
    assert (combiner.serial, combiner.firmware, combiner.status) == ("10", "0.1", "READY")
    assert (combiner.meter_firmware, combiner.meter_state) == ("2.2", 80)
    two = inventory(
        ("C6 COMBINER CONTROLLER", [controller, {**controller, "serial_num": "12"}]),
        ("C6 RGM", [meter]),
    )
    assert all(c.meter_firmware is None for c in two.combiners.values())


@pytest.mark.parametrize(
    ("value", "closed"),
    [
        ("closed", True),
        ("close", True),
        ("open", False),
        (" CLOSED ", True),
        ("ajar", None),
        (1, None),
    ],
)
def test_relay_positions(value: Any, closed: bool | None) -> None:
    """A relay is closed or open as the device spells it; anything else is not known."""
    found = inventory(("ENPOWER", [{"serial_num": "1", "mains_oper_state": value}]))
    assert found.system_controllers["1"].grid_relay_closed is closed


def test_status_by_serial() -> None:
    """The status adds the interface and rated power of each device, by serial."""
    status = parsed(
        ENSEMBLE_STATUS,
        {
            "inventory": {
                "serial_nums": {
                    "300": {"com_interface_str": "CAN", "encharge_rated_power": 3840},
                    "400": "not a device",
                }
            },
            "relay": {"mains_oper_state": "closed"},
        },
    )
    assert set(status.devices) == {"300"}
    assert status.devices["300"].rated_power == 3840
    assert status.devices["300"].interface == "CAN"
    assert parsed(ENSEMBLE_STATUS, {"relay": {}}).empty


# --------------------------------------------------------------------------- device data


def pcu(serial: str, *, active: bool = True, gone: bool = False, **reading: Any) -> dict[str, Any]:
    return {
        "devName": "pcu",
        "sn": serial,
        "active": active,
        "modGone": gone,
        "channels": [
            {
                "lastReading": {
                    "endDate": 1700000000,
                    "dcVoltageINmV": 32000,
                    "dcCurrentINmA": 2500,
                    "acVoltageINmV": 240500,
                    "acCurrentInmA": 1000,
                    "acFrequencyINmHz": 50010,
                    "channelTemp": 31,
                    **reading,
                },
                "lifetime": {"joulesProduced": 7_200_000_000_000},  # > 2**32
            }
        ],
    }


def test_device_data_units_and_devices() -> None:
    """mV, mA, mHz and J become V, A, Hz and Wh; only microinverters, by serial."""
    details = parsed(
        DEVICE_DATA,
        {
            "1": pcu("A"),
            "2": pcu("B", gone=True),
            "3": pcu("C", active=False),
            "4": {**pcu("D"), "devName": "acb"},
            "5": {**pcu("E"), "devName": "eim"},
            "6": pcu("F", acCurrentInmA=None, acCurrentINmA=2000),
            "7": {"devName": "pcu", "sn": "G", "channels": "none"},  # says no more
            "deviceCount": 7,
            "deviceDataLimit": 50,
        },
    )
    assert set(details) == {"A", "B", "C", "F", "G"}
    a = details["A"]
    assert a.reporting
    assert (a.dc_voltage, a.dc_current, a.dc_power) == (32.0, 2.5, 80.0)
    assert (a.ac_voltage, a.ac_current, a.ac_frequency) == (240.5, 1.0, 50.01)
    assert a.temperature == 31
    assert a.lifetime_energy == 2_000_000_000  # Wh
    assert not details["B"].reporting  # gone
    assert not details["C"].reporting  # inactive
    assert details["F"].ac_current == 2.0  # the other spelling
    assert details["G"].dc_power is None  # nothing read: nothing invented
    assert details["G"].reporting  # it does not say it is gone
    odd = parsed(
        DEVICE_DATA, {"1": {**pcu("A"), "channels": [{"lifetime": {"joulesProduced": -5}}]}}
    )
    assert odd["A"].lifetime_energy is None  # a negative count is no count
    assert parsed(DEVICE_DATA, {"deviceCount": 0}) == {}


def test_device_data_serial_listed_twice_is_left_out() -> None:
    """Which of two entries of one serial is right cannot be told."""
    details = parsed(DEVICE_DATA, {"1": pcu("A"), "2": pcu("A", channelTemp=99), "3": pcu("B")})
    assert set(details) == {"B"}


# --------------------------------------------------------------------------- AC Batteries


def test_ac_batteries_from_the_inventory() -> None:
    """The ACB group's devices, decommissioned ones (admin_state 0) left out."""
    batteries = parsed(
        AC_BATTERIES,
        [
            {"type": "PCU", "devices": [{"serial_num": "P1", "admin_state": 2}]},
            {
                "type": "ACB",
                "devices": [
                    {
                        "serial_num": "A1",
                        "admin_state": 2,
                        "last_rpt_date": "1781991008",
                        "percentFull": 40,
                        "charge_status": "charging",
                        "sleep_enabled": False,
                    },
                    {"serial_num": "A2", "admin_state": 0},
                ],
            },
        ],
    )
    assert set(batteries) == {"A1"}
    assert batteries["A1"].last_report == datetime.fromtimestamp(1781991008, tz=UTC)
    assert batteries["A1"].soc == 40
    assert batteries["A1"].sleeping is False


# --------------------------------------------------------------------------- settings


def test_storage_settings() -> None:
    """The battery settings; a tariff without them is no settings endpoint."""
    settings = parsed(
        STORAGE_SETTINGS,
        {
            "tariff": {
                "storage_settings": {
                    "mode": "economy",
                    "reserved_soc": 20,
                    "very_low_soc": 5,
                    "charge_from_grid": "true",
                }
            }
        },
    )
    assert (settings.mode, settings.reserve_soc, settings.very_low_soc) == ("economy", 20, 5)
    assert settings.charge_from_grid is True
    with pytest.raises(IQGatewayResponseError, match="no storage settings"):
        parsed(STORAGE_SETTINGS, {"tariff": {"currency": {"code": "EUR"}}})


def test_dry_contacts_joined_by_id() -> None:
    """Positions from the status, names and types from the settings, joined by id."""
    status = parsed(
        DRY_CONTACTS,
        {"dry_contacts": [{"id": "NC1", "status": "closed"}, {"id": "NO1", "status": "open"}, {}]},
    )
    settings = parsed(
        DRY_CONTACT_SETTINGS,
        {
            "dry_contacts": [
                {"id": "NO1", "type": "NONE", "load_name": " "},
                {"id": "NC1", "type": "LOAD", "load_name": "Furnace", "mode": "soc"},
                {"id": "NC2", "type": "LOAD", "load_name": "Pool"},
            ]
        },
    )
    contacts = join_dry_contacts(status, settings)
    assert list(contacts) == ["NC1", "NO1"]  # the settings alone make no contact
    assert (contacts["NC1"].closed, contacts["NC1"].name, contacts["NC1"].wired) == (
        True,
        "Furnace",
        True,
    )
    assert (contacts["NO1"].closed, contacts["NO1"].name, contacts["NO1"].wired) == (
        False,
        "NO1",
        False,
    )
    assert join_dry_contacts(status, {})["NC1"].wired  # type unknown: assumed wired


def test_generator() -> None:
    """A generator is configured when its configuration says anything."""
    assert not parsed(GENERATOR_CONFIG, {}).configured
    assert parsed(GENERATOR_CONFIG, {"name_plate_rating_wat": 9000}).configured
    assert parsed(GENERATOR, {"oper_state": "closed", "present": 1}).relay_closed is True


# --------------------------------------------------------------------------- rules


def test_what_the_poll_needs() -> None:
    """Contacts and a generator only with a System Controller; settings only with batteries."""
    with_controller = {ENSEMBLE_INVENTORY: inventory(("ENPOWER", [ENPOWER]))}
    without = {ENSEMBLE_INVENTORY: inventory(("ENCHARGE", [BATTERY]))}
    for endpoint in (DRY_CONTACTS, DRY_CONTACT_SETTINGS, GENERATOR_CONFIG):
        assert endpoint.wanted(with_controller)
        assert not endpoint.wanted(without)
        assert not endpoint.wanted({})
    assert not GENERATOR.wanted(with_controller)
    configured = {**with_controller, GENERATOR_CONFIG: parsed(GENERATOR_CONFIG, {"a": 1})}
    assert GENERATOR.wanted(configured)
    assert STORAGE_SETTINGS.wanted(without)
    assert not STORAGE_SETTINGS.wanted(with_controller)
    control = BatteryControl(50, 5000, 2000, 5000, None, 10)
    assert STORAGE_SETTINGS.wanted({BATTERY_CONTROL: control})
    assert DEVICE_DATA.wanted({INVERTERS: {}})
    assert DEVICE_DATA.wanted({})  # it names the microinverters where that list is missing
    # Only what entities alone show can be skipped by the caller.
    assert {ep for ep in POLLED if ep.on_demand} == {
        DRY_CONTACTS,
        DRY_CONTACT_SETTINGS,
        GENERATOR,
        DEVICE_DATA,
    }
    # Each rule asks only for what the poll has read before it.
    order = list(POLLED)
    assert order.index(ENSEMBLE_INVENTORY) < order.index(DRY_CONTACTS)
    assert order.index(GENERATOR_CONFIG) < order.index(GENERATOR)
    assert order.index(AC_BATTERIES) < order.index(STORAGE_SETTINGS)
    assert order.index(INVERTERS) < order.index(DEVICE_DATA)


def grid(*groups: tuple[str, list[dict[str, Any]]]) -> bool | None:
    data = poll_data({ENSEMBLE_INVENTORY: inventory(*groups)})
    return site_values.grid_status(data) if site_values.has_grid_status(data) else "absent"  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        # The System Controller's relay decides, whatever the others say.
        ((("ENPOWER", [ENPOWER]), ("COLLAR", [{**COLLAR, "mid_state": "open"}])), True),
        ((("ENPOWER", [{**ENPOWER, "mains_oper_state": "open"}]),), False),
        ((("ENPOWER", [{"serial_num": "100"}]),), None),  # it does not say: unknown
        # Else the Meter Collar: any of its indicators saying "off grid" is enough.
        ((("COLLAR", [COLLAR]),), True),
        ((("COLLAR", [{**COLLAR, "mid_state": "open"}]),), False),
        ((("COLLAR", [{**COLLAR, "admin_state_str": "ENCMN_MDE_OFF_GRID"}]),), False),
        ((("COLLAR", [{**COLLAR, "grid_state": "synchronizing"}]),), False),
        ((("COLLAR", [{"serial_num": "200", "grid_state": "new"}]),), None),
        # Else what the batteries report.
        ((("ENCHARGE", [BATTERY]),), True),
        ((("ENCHARGE", [{**BATTERY, "reported_enc_grid_state": "multimode-ongrid"}]),), True),
        (
            (
                (
                    "ENCHARGE",
                    [
                        BATTERY,
                        {
                            **BATTERY,
                            "serial_num": "301",
                            "reported_enc_grid_state": "multimode-offgrid",
                        },
                    ],
                ),
            ),
            False,
        ),
        ((("ENCHARGE", [{**BATTERY, "reported_enc_grid_state": "??"}]),), None),
        # No witness at all: no grid status.
        ((("ENCHARGE", [{"serial_num": "300"}]),), "absent"),
        ((("C6 COMBINER CONTROLLER", [{"serial_num": "10"}]),), "absent"),
        ((), "absent"),
    ],
)
def test_grid_status_by_witness(groups: Any, expected: bool | str | None) -> None:
    """The best witness the site has tells whether it is on the grid."""
    assert grid(*groups) == expected


def test_no_inventory_no_grid_status() -> None:
    """A poll without the inventory (it failed) cannot tell."""
    data = poll_data({})
    assert not site_values.has_grid_status(data)
    assert site_values.grid_status(data) is None
