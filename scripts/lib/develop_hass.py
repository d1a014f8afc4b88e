"""Run Home Assistant for scripts/develop, its Enphase cloud client pointed at the simulator.

    python scripts/lib/develop_hass.py SIMULATOR_JSON -c CONFIG_DIR [hass options]

A development aid, never part of the integration: Home Assistant runs unchanged, except
that the integration's ``connections.cloud_client`` gives a client for the simulated cloud
named in SIMULATOR_JSON (the simulator's ``--info-file``), over HTTPS verified against the
simulator's CA. So "Sign in with my Enphase account" (and a two-step account's one-time
code, with ``scripts/develop --mfa``) works against the simulator, and no request for the
simulated account goes to Enphase.
"""

from __future__ import annotations

import json
from pathlib import Path
import ssl
import sys
import time
from typing import Any


def _simulator_info(path: Path, timeout: float = 60) -> dict[str, Any]:
    """The simulator's details, once it has written them (it starts beside us)."""
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.stat().st_size):
        if time.monotonic() > deadline:
            raise SystemExit(f"no simulator details in {path} after {timeout:.0f} s")
        time.sleep(0.5)
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def _point_the_cloud_at(info: dict[str, Any], config_dir: Path) -> None:
    """Replace the integration's cloud client factory, as Home Assistant will import it."""
    sys.path.insert(0, str(config_dir))  # where Home Assistant finds custom_components
    try:
        from custom_components.enphase_iq_gateway import connections  # noqa: PLC0415
        from custom_components.enphase_iq_gateway.iqgateway import (  # noqa: PLC0415
            EnlightenClient,
        )
    finally:
        sys.path.remove(str(config_dir))
    context = ssl.create_default_context(cadata=info["ca_pem"])
    url = info["cloud_url"]

    def cloud_client(session: Any) -> EnlightenClient:
        return EnlightenClient(session, enlighten_url=url, entrez_url=url, ssl_context=context)

    connections.cloud_client = cloud_client


def main() -> int:
    """Patch, then hand over to Home Assistant's own entry point."""
    info_file, *hass_args = sys.argv[1:]
    config_dir = Path(hass_args[hass_args.index("-c") + 1]).resolve()
    _point_the_cloud_at(_simulator_info(Path(info_file)), config_dir)
    from homeassistant.__main__ import main as hass_main  # noqa: PLC0415

    sys.argv = ["hass", *hass_args]
    return hass_main()


if __name__ == "__main__":
    sys.exit(main())
