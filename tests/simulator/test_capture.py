"""Capture folders: loading, file names to paths and back, run-time changes."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import pytest

from simulator.capture import KNOWN_PATHS, Capture, CapturedResponse, file_for, path_for
from tests.conftest import CAPTURES, FIXTURES, LEGACY_CAPTURES, RICH_CAPTURE, TOKEN_CAPTURES

LOG = "_log.json"


def body_files(folder: Path) -> list[Path]:
    """The endpoint bodies of a capture folder (not logs, not notes)."""
    return [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(LOG) and not p.name.startswith("_")
    ]


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_loads_with_its_status_codes(name: str) -> None:
    """Every body is served under its path, with the status and type of its log."""
    folder = FIXTURES / name
    capture = Capture.load(folder)

    assert capture.name == name
    assert len(capture.responses) == len(body_files(folder))
    for file in body_files(folder):
        response = capture.responses[path_for(file.name)]
        assert response.body == file.read_bytes()
        log = folder / f"{file.name}{LOG}"
        if log.is_file():
            meta = json.loads(log.read_text())
            headers = {k.lower(): v for k, v in meta["headers"].items()}
            assert response.status == meta["code"]
            assert response.content_type == headers.get("content-type")
        else:
            assert response.status == 200
            assert response.content_type is None
    assert capture.serial
    assert capture.serial in capture.responses["/info"].body.decode()


def test_refused_and_absent_endpoints_keep_their_status() -> None:
    """401 and 404 captured from the gateway are served as such."""
    capture = Capture.load(FIXTURES / "4.10.35")
    assert capture.responses["/production"].status == 401
    assert capture.responses["/ivp/ss/dry_contact_settings"].status == 404
    assert capture.responses["/ivp/meters"].status == 200


def test_token_firmware_is_read_like_a_client() -> None:
    """web-tokens when present, else firmware 7 or newer."""
    assert TOKEN_CAPTURES
    assert LEGACY_CAPTURES
    assert all(Capture.load(FIXTURES / c).requires_token for c in TOKEN_CAPTURES)
    for name in LEGACY_CAPTURES:
        capture = Capture.load(FIXTURES / name)
        assert not capture.requires_token
        assert capture.firmware[1] in "345"


@pytest.mark.parametrize(
    ("file_name", "path"),
    [
        ("info", "/info"),
        ("ivp_meters_readings", "/ivp/meters/readings"),
        ("api_v1_production_inverters", "/api/v1/production/inverters"),
        ("production.json", "/production.json"),
        ("production.json_details_1", "/production.json?details=1"),
        ("inventory.json_deleted_1", "/inventory.json?deleted=1"),
        ("ivp_ss_dry_contact_settings", "/ivp/ss/dry_contact_settings"),
        ("ivp_ensemble_dry_contacts", "/ivp/ensemble/dry_contacts"),
        ("ivp_pdm_device_data", "/ivp/pdm/device_data"),
        ("auth_check_jwt", "/auth/check_jwt"),
        ("ivp_meters_gridReading", "/ivp/meters/gridReading"),
    ],
)
def test_path_for_and_file_for(file_name: str, path: str) -> None:
    """File names and request paths map both ways, underscores in segments included."""
    assert path_for(file_name) == path
    assert file_for(path) == file_name


@pytest.mark.parametrize("path", KNOWN_PATHS)
def test_known_paths_round_trip(path: str) -> None:
    """Paths whose segments hold underscores survive the round trip."""
    assert path_for(file_for(path)) == path


def test_every_capture_file_round_trips() -> None:
    """No two files of a capture collide, and each name comes back from its path."""
    for name in CAPTURES:
        files = [p.name for p in body_files(FIXTURES / name)]
        paths = [path_for(f) for f in files]
        assert len(set(paths)) == len(paths), name
        assert [file_for(p) for p in paths] == files


def test_get_falls_back_between_query_forms() -> None:
    """A query string the capture lacks is served its base, and the reverse."""
    capture = Capture.load(FIXTURES / "7.6.175_with_cts_3phase")
    assert "/production.json?details=1" not in capture.responses
    assert capture.get("/production.json?details=1") is capture.responses["/production.json"]

    variants = Capture.load(FIXTURES / "8.2.4345_with_device_data")
    exact = variants.get("/production.json?details=1")
    assert exact is variants.responses["/production.json?details=1"]
    assert variants.get("/production.json") is variants.responses["/production.json"]
    variants.remove("/production.json")
    assert variants.get("/production.json") is exact  # only the query form is left

    assert capture.get("/nothing") is None
    assert capture.get("/nothing?x=1") is None


def test_set_remove_and_firmware() -> None:
    """Bodies can be replaced, added and removed; the firmware rewritten."""
    capture = Capture.load(FIXTURES / RICH_CAPTURE)
    old = capture.responses["/ivp/meters"]
    capture.set("/ivp/meters", "[]", status=500)
    assert capture.responses["/ivp/meters"] == CapturedResponse(500, b"[]", old.content_type)
    capture.set("/new/endpoint", b"{}")
    assert capture.get("/new/endpoint") == CapturedResponse(200, b"{}")
    capture.remove("/new/endpoint")
    capture.remove("/never/there")
    assert capture.get("/new/endpoint") is None

    serial = capture.serial
    capture.set_firmware("D8.3.5433")
    assert capture.firmware == "D8.3.5433"
    assert capture.serial == serial
    assert capture.requires_token  # web-tokens still says so


def test_firmware_decides_without_web_tokens() -> None:
    """A legacy capture updated to firmware 7 wants tokens (it has no web-tokens flag)."""
    capture = Capture.load(FIXTURES / "5.0.62")
    assert not capture.requires_token
    capture.set_firmware("D7.0.88")
    assert capture.requires_token
    capture.set_firmware("unknown")
    assert not capture.requires_token


def test_set_firmware_needs_a_software_element() -> None:
    """An /info without device/software cannot be rewritten."""
    capture = Capture(name="x")
    capture.set("/info", "<envoy_info><device><sn>1</sn></device></envoy_info>")
    assert capture.firmware == ""
    with pytest.raises(ValueError, match="software"):
        capture.set_firmware("D8")


def test_load_tolerates_odd_files(tmp_path: Path) -> None:
    """Broken logs mean 200; notes and subfolders are skipped."""
    shutil.copy(FIXTURES / RICH_CAPTURE / "info", tmp_path / "info")
    (tmp_path / "ivp_meters").write_text("[]")
    (tmp_path / f"ivp_meters{LOG}").write_text("not json")
    (tmp_path / "api_v1_production").write_text("{}")
    (tmp_path / f"api_v1_production{LOG}").write_text('{"code": "x"}')
    (tmp_path / "production").write_text("<html/>")
    (tmp_path / f"production{LOG}").write_text('{"code": 401, "headers": null}')
    (tmp_path / "README.md").write_text("notes")
    (tmp_path / "_notes").write_text("notes")
    (tmp_path / "LICENSE").write_text("MIT")
    (tmp_path / "sub").mkdir()

    capture = Capture.load(str(tmp_path))

    assert set(capture.responses) == {"/info", "/ivp/meters", "/api/v1/production", "/production"}
    assert capture.responses["/ivp/meters"].status == 200
    assert capture.responses["/api/v1/production"].status == 200
    assert capture.responses["/production"].status == 401


def test_load_refuses_what_is_not_a_capture(tmp_path: Path) -> None:
    """A missing folder, or one without /info."""
    with pytest.raises(FileNotFoundError):
        Capture.load(tmp_path / "missing")
    (tmp_path / "ivp_meters").write_text("[]")
    with pytest.raises(ValueError, match="info"):
        Capture.load(tmp_path)


def test_the_demo_site_balances() -> None:
    """The development demo: its CTs and live data agree, and the house uses power."""
    demo = Capture.load(Path(__file__).parents[2] / "simulator" / "demo_site")
    meters = json.loads(demo.responses["/ivp/meters"].body)
    readings = {r["eid"]: r for r in json.loads(demo.responses["/ivp/meters/readings"].body)}
    ct = {m["measurementType"]: readings[m["eid"]] for m in meters if m["state"] == "enabled"}
    live = json.loads(demo.responses["/ivp/livedata/status"].body)["meters"]
    for flow, kind in (("pv", "production"), ("grid", "net-consumption"), ("storage", "storage")):
        assert live[flow]["agg_p_mw"] / 1000 == pytest.approx(ct[kind]["activePower"])
        for phase, channel in zip("ab", ct[kind]["channels"], strict=False):
            assert live[flow][f"agg_p_ph_{phase}_mw"] / 1000 == pytest.approx(
                channel["activePower"]
            )
    house = sum(ct[kind]["activePower"] for kind in ("production", "net-consumption", "storage"))
    assert live["load"]["agg_p_mw"] / 1000 == pytest.approx(house)
    assert house > 0
