"""Faults a simulated gateway or cloud can be told to show, switchable at run time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    """What goes wrong."""

    UNAUTHORIZED = "unauthorized"  # 401 whatever the token (a 401 storm when count > 1)
    SERVER_ERROR = "server_error"  # a 5xx status (``status``, default 503)
    TIMEOUT = "timeout"  # accepts the request and never answers
    RESET = "reset"  # closes the connection without an answer
    TRUNCATED = "truncated"  # 200 with the body cut in half
    HTML = "html"  # 200 with an HTML error page where JSON belongs


@dataclass(slots=True)
class Fault:
    """A fault for the next ``count`` requests (None: until cleared) to ``path`` (None: any)."""

    kind: FaultKind
    count: int | None = 1
    path: str | None = None
    status: int = 503

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for ``path`` (query string ignored)."""
        if self.count is not None and self.count <= 0:
            return False
        return self.path is None or self.path == path.partition("?")[0]

    def consume(self) -> None:
        """Count one use."""
        if self.count is not None:
            self.count -= 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from the control API's JSON (ValueError or KeyError if it is bad)."""
        count = data.get("count", 1)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError(f"count must be a whole number or null, not {count!r}")
        path = data.get("path")
        if path is not None and not isinstance(path, str):
            raise ValueError(f"path must be a string or null, not {path!r}")
        return cls(
            kind=FaultKind(data["kind"]),
            count=count,
            path=path,
            status=int(data.get("status", 503)),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "kind": str(self.kind),
            "count": self.count,
            "path": self.path,
            "status": self.status,
        }


class FaultList:
    """Active faults, first match wins; used-up faults drop out."""

    def __init__(self) -> None:
        """Start with none."""
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Activate a fault."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """The fault that applies to this request, counting its use."""
        for fault in self._faults:
            if fault.matches(path):
                fault.consume()
                self._faults = [f for f in self._faults if f.count is None or f.count > 0]
                return fault
        return None

    def as_list(self) -> list[dict[str, Any]]:
        """JSON form for the control API."""
        return [fault.as_dict() for fault in self._faults]

    def __len__(self) -> int:
        """How many faults are active."""
        return len(self._faults)
