"""Turn a Home Assistant diagnostics download into a capture folder the simulator serves.

    python -m simulator.from_diagnostics DOWNLOAD.json FOLDER
    python -m simulator --capture FOLDER

The download's ``data.capture`` holds each endpoint body under its capture file name and
its status code under ``NAME_log.json``, exactly the layout of ``tests/fixtures``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any


def capture_from_diagnostics(download: dict[str, Any]) -> dict[str, Any]:
    """The ``capture`` mapping of a diagnostics download (whole file or its ``data``)."""
    data = download.get("data", download)
    capture = data.get("capture") if isinstance(data, dict) else None
    if not isinstance(capture, dict) or "info" not in capture:
        raise ValueError("this is not a diagnostics download of the Enphase IQ Gateway integration")
    return capture


def write_capture(capture: dict[str, Any], folder: Path) -> list[Path]:
    """Write every body and log file into ``folder``; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in capture.items():
        if "/" in name or name.startswith("."):
            raise ValueError(f"refusing to write {name!r} outside the capture folder")
        path = folder / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content, indent=2))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.from_diagnostics", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "download", type=Path, help="the diagnostics JSON downloaded from Home Assistant"
    )
    parser.add_argument("folder", type=Path, help="the capture folder to write")
    args = parser.parse_args(argv)
    try:
        capture = capture_from_diagnostics(json.loads(args.download.read_text()))
        written = write_capture(capture, args.folder)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"Wrote {len(written)} files to {args.folder}. Serve them with: python -m simulator --capture {args.folder}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
