"""A diagnostics download turned back into a capture folder the simulator serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator import Capture
from simulator.from_diagnostics import capture_from_diagnostics, main, write_capture

INFO = "<envoy_info><device><sn>1234</sn><software>D8.2.127</software></device></envoy_info>"
CAPTURE = {
    "info": INFO,
    "ivp_meters": [{"eid": 1}],
    "ivp_meters_log.json": {"code": 200, "headers": {}},
}


def test_capture_from_the_whole_download_or_its_data() -> None:
    """Either the file or its ``data`` part."""
    assert capture_from_diagnostics({"data": {"capture": CAPTURE}}) == CAPTURE
    assert capture_from_diagnostics({"capture": CAPTURE}) == CAPTURE
    others: list[dict[str, Any]] = [
        {"data": {"something": "else"}},
        {"data": []},
        {"capture": {"x": 1}},
    ]
    for other in others:
        with pytest.raises(ValueError, match="not a diagnostics download"):
            capture_from_diagnostics(other)


def test_write_capture(tmp_path: Path) -> None:
    """Text as text, JSON pretty-printed; the folder loads as a capture."""
    written = write_capture(CAPTURE, tmp_path / "out")
    assert [p.name for p in written] == list(CAPTURE)
    assert (tmp_path / "out" / "info").read_text() == INFO
    assert json.loads((tmp_path / "out" / "ivp_meters").read_text()) == [{"eid": 1}]
    capture = Capture.load(tmp_path / "out")
    assert capture.serial == "1234"
    assert capture.responses["/ivp/meters"].status == 200


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a/b"])
def test_write_capture_stays_in_its_folder(tmp_path: Path, name: str) -> None:
    """Names that would write elsewhere are refused."""
    with pytest.raises(ValueError, match="outside"):
        write_capture({name: "x"}, tmp_path)


def test_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Success prints how to serve it; a missing or wrong file exits 2."""
    download = tmp_path / "download.json"
    download.write_text(json.dumps({"data": {"capture": CAPTURE}}))
    assert main([str(download), str(tmp_path / "capture")]) == 0
    assert "Wrote 3 files" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.json"), str(tmp_path / "x")]) == 2
    download.write_text("{}")
    assert main([str(download), str(tmp_path / "x")]) == 2
    assert "error:" in capsys.readouterr().err
