"""Reading the gateway's bodies: tolerant value helpers, and a body as received."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import math
from typing import Any

from ..exceptions import IQGatewayResponseError

JSON = Any


def _num(data: Mapping[str, JSON], *keys: str) -> float | None:
    """The first of ``keys`` holding a finite number (bools and strings are not numbers)."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        try:
            number = float(value)  # an int of hundreds of digits overflows a float
        except OverflowError:
            continue
        if math.isfinite(number):
            return number
    return None


def _sum(values: Iterable[float]) -> float | None:
    """A sum that is a number: huge parts that add up to infinity make it unknown."""
    total = sum(values, 0.0)
    return total if math.isfinite(total) else None


def _int(data: Mapping[str, JSON], *keys: str) -> int | None:
    value = _num(data, *keys)
    return None if value is None else int(value)


def _str(data: Mapping[str, JSON], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _share(data: Mapping[str, JSON], key: str) -> float | None:
    """A percentage: unknown unless within 0-100."""
    value = _num(data, key)
    return value if value is not None and 0 <= value <= 100 else None


def _bool(data: Mapping[str, JSON], key: str) -> bool | None:
    """A JSON boolean (or the strings "true"/"false" some settings use)."""
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _epoch(data: Mapping[str, JSON], *keys: str) -> float | None:
    """A number, or a string of digits (``/inventory.json`` sends its times as strings)."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip().isdecimal():
            return float(value.strip())
        number = _num(data, key)
        if number is not None:
            return number
    return None


def _time(data: Mapping[str, JSON], *keys: str) -> datetime | None:
    """A UNIX timestamp as an aware datetime; 0 and absurd values mean "never"."""
    value = _epoch(data, *keys)
    if value is None or value <= 0 or value > 32503680000:  # year 3000
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _dict(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: JSON) -> list[Mapping[str, JSON]]:
    """The mappings in a list (anything else in it is skipped)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _serial(data: Mapping[str, JSON], key: str) -> str | None:
    """A serial number (a few firmware send it as a number)."""
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _milli(value: float | None) -> float | None:
    """A value in thousandths (mW, mWh) as units (W, Wh)."""
    return None if value is None else value / 1000


def expect_list(body: JSON, path: str) -> list[Mapping[str, JSON]]:
    """A body that must be a JSON list of objects."""
    if not isinstance(body, list):
        raise IQGatewayResponseError(f"{path} did not return a list")
    return _dicts(body)


def expect_dict(body: JSON, path: str) -> Mapping[str, JSON]:
    """A body that must be a JSON object."""
    if not isinstance(body, Mapping):
        raise IQGatewayResponseError(f"{path} did not return an object")
    return body


@dataclass(frozen=True, slots=True)
class RawBody:
    """An endpoint's body as received, kept for diagnostics."""

    path: str
    status: int
    content_type: str | None
    body: str
