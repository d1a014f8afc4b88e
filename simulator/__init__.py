"""A fake Enphase IQ Gateway and Enphase cloud, for tests, benchmarks and development.

Nothing here imports Home Assistant. ``python -m simulator --capture DIR`` serves a capture
folder (the layout of the project's ``tests/fixtures``) like the gateway it was taken from;
``python -m simulator --help`` lists the options and the control API.

Where to look:

* ``gateway.py``   the gateway: tokens, cookie sessions, faults, the live stream's POST;
* ``site.py``      numbers that move with the clock, and the live stream's effect on them;
* ``scenarios.py`` counter scenarios: one-poll or K-poll dips, drops, roll-overs;
* ``synthetic.py`` a large site from a small capture (``with_inverters(capture, 200)``);
* ``cloud.py``     Enlighten sign-in (password, two-step codes, blocked accounts) + Entrez;
* ``server.py``    what both servers share: start/stop and the ``/__simulator/`` control API;
* ``clock.py``     the clock they run on (wall clock, or frozen and advanced by hand).

The names below load on first use, so ``python -m simulator.from_diagnostics`` (standard
library only) runs where aiohttp is not installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capture import Capture, CapturedResponse
    from .clock import Clock
    from .cloud import Account, CloudSimulator
    from .faults import Fault, FaultKind
    from .gateway import GatewaySimulator
    from .scenarios import CounterScenario, ScenarioKind
    from .site import SiteModel
    from .synthetic import with_inverters
    from .tokens import TokenAuthority

_EXPORTS = {
    "Account": ".cloud",
    "Capture": ".capture",
    "CapturedResponse": ".capture",
    "Clock": ".clock",
    "CloudSimulator": ".cloud",
    "CounterScenario": ".scenarios",
    "Fault": ".faults",
    "FaultKind": ".faults",
    "GatewaySimulator": ".gateway",
    "ScenarioKind": ".scenarios",
    "SiteModel": ".site",
    "TokenAuthority": ".tokens",
    "with_inverters": ".synthetic",
}

__all__ = [
    "Account",
    "Capture",
    "CapturedResponse",
    "Clock",
    "CloudSimulator",
    "CounterScenario",
    "Fault",
    "FaultKind",
    "GatewaySimulator",
    "ScenarioKind",
    "SiteModel",
    "TokenAuthority",
    "with_inverters",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` when it is first asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
