"""A fake Enphase IQ Gateway and Enphase cloud, for tests, benchmarks and development.

Nothing here imports Home Assistant. ``python -m simulator --capture DIR`` serves a capture
folder (the layout of the project's ``tests/fixtures``) like the gateway it was taken from.
"""

from .capture import Capture, CapturedResponse
from .cloud import Account, CloudSimulator
from .faults import Fault, FaultKind
from .gateway import GatewaySimulator
from .tokens import TokenAuthority

__all__ = [
    "Account",
    "Capture",
    "CapturedResponse",
    "CloudSimulator",
    "Fault",
    "FaultKind",
    "GatewaySimulator",
    "TokenAuthority",
]
