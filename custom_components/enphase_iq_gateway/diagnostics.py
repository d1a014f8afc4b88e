"""Diagnostics: the entry without its secrets, what the gateway answers, and every raw body.

The raw bodies are laid out like a simulator capture folder (``ivp_meters_readings`` plus
``ivp_meters_readings_log.json``), so a user's download can be replayed:
``python -m simulator.from_diagnostics DOWNLOAD.json FOLDER`` then
``python -m simulator --capture FOLDER``.

Secrets never appear: the token, password and e-mail address are redacted, and the
serial numbers (the gateway's, and every device's its bodies name: microinverters,
batteries, ...) are masked the same way everywhere (entry, bodies, device names), each to
a masked form of its own, so the capture stays self-consistent and replays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import json
import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_REFUSED_CREDENTIALS
from .coordinator import IQGatewayConfigEntry

# The fingerprint of refused credentials reveals nothing, but is made from them.
TO_REDACT = {CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME, CONF_REFUSED_CREDENTIALS}
CAPTURE_FORMAT = 1


def mask_serial(serial: str, variant: int = 0) -> str:
    """The same masked form of a serial wherever it appears (its last four digits kept).

    ``variant`` tells apart serials that end alike (it replaces the last filler digits).
    """
    keep = serial[-4:] if len(serial) > 4 else ""
    filler = "9" * (len(serial) - len(keep))
    if variant and filler:
        filler = (filler + str(variant))[-len(filler) :]
    return filler + keep


# The shortest string taken for a device serial (shorter ones are ids, counts, codes).
MIN_SERIAL_LENGTH = 6


# Objects keyed by serial numbers under a key that does not say so: an IQ Battery's
# ``submodules`` in /ivp/ensemble/status (its cell modules, by their own serials).
SERIAL_KEYED = frozenset({"submodules"})


def _names_a_serial(key: str) -> bool:
    lowered = key.lower()
    return "serial" in lowered or lowered == "sn" or lowered in SERIAL_KEYED


def device_serials(bodies: Iterable[str]) -> set[str]:
    """The serial numbers the JSON bodies name, under keys that name a serial.

    Such a key has "serial" in its name, is ``sn`` (the device data's) or names an object
    keyed by serials (``submodules``). A value (``serialNumber``, ``serial_num``, ``sn``),
    the strings of a list, or the keys of an object (``serial_nums``: {serial: {...}},
    ``submodules``: {serial: {...}}).
    """

    def walk(value: Any, named: bool) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                if named:
                    yield str(key)
                yield from walk(item, _names_a_serial(str(key)))
        elif isinstance(value, list):
            for item in value:
                yield from walk(item, named)
        elif named and isinstance(value, str):
            yield value

    found: set[str] = set()
    for body in bodies:
        try:
            parsed = json.loads(body)
        except ValueError:
            continue  # XML (/info: the gateway's own serial) or HTML
        found.update(walk(parsed, False))
    return {serial for serial in found if len(serial) >= MIN_SERIAL_LENGTH and serial.isalnum()}


def serial_masks(gateway_serial: str, serials: Iterable[str]) -> dict[str, str]:
    """A masked form for each serial, the gateway's as ``mask_serial`` has it, all distinct."""
    masks = {gateway_serial: mask_serial(gateway_serial)}
    taken = set(masks.values())
    for serial in sorted(set(serials) - {gateway_serial}):
        variant = 0
        while (masked := mask_serial(serial, variant)) in taken:
            variant += 1
        masks[serial] = masked
        taken.add(masked)
    return masks


def capture_file(path: str) -> str:
    """The capture file name of an endpoint path (``/ivp/meters`` -> ``ivp_meters``)."""
    return path.lstrip("/").replace("/", "_")


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IQGatewayConfigEntry
) -> dict[str, Any]:
    """Everything needed to understand (and replay) this gateway, secrets left out."""
    coordinator = entry.runtime_data
    client = coordinator.client
    bodies = client.raw_bodies()
    masks = serial_masks(
        str(entry.unique_id), device_serials(body.body for body in bodies.values())
    )
    serials = re.compile(
        "(?<![0-9])("
        + "|".join(map(re.escape, sorted(masks, key=len, reverse=True)))
        + ")(?![0-9])"
    )

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return serials.sub(lambda match: masks[match[1]], value)
        if isinstance(value, dict):
            return {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(v) for v in value]
        return value

    capture: dict[str, Any] = {}
    for path, body in sorted(bodies.items()):
        name = capture_file(path)
        capture[name] = body.body
        headers = {"content-type": body.content_type} if body.content_type else {}
        capture[f"{name}_log.json"] = {"code": body.status, "headers": headers}

    token = coordinator.tokens.token_info
    info = client.info
    report: dict[str, Any] = scrub(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": async_redact_data(dict(entry.data), TO_REDACT),
                "options": dict(entry.options),
            },
            "gateway": {
                "serial": info.serial if info else None,
                "part_number": info.part_number if info else None,
                "firmware": info.firmware if info else None,
                "metered": info.metered if info else None,
                "web_tokens": info.web_tokens if info else None,
                "scheme": client.scheme,
            },
            "token": {
                "role": token.role if token else None,
                "issued_at": token.issued_at.isoformat() if token and token.issued_at else None,
                "expires_at": token.expires_at.isoformat() if token else None,
                "renewable": coordinator.tokens.can_renew,
                "renew_at": coordinator.tokens.renew_at.isoformat()
                if coordinator.tokens.renew_at
                else None,
            },
            "probe": client.probe_result.as_dict() if client.probe_result else None,
            "polled": [str(endpoint) for endpoint in client.polled()],
            "coordinator": {
                "last_update_success": coordinator.last_update_success,
                "last_poll": coordinator.last_poll.isoformat() if coordinator.last_poll else None,
                "update_interval_seconds": coordinator.update_interval.total_seconds()
                if coordinator.update_interval
                else None,
            },
            "capture_format": CAPTURE_FORMAT,
            "capture": capture,
        }
    )
    return report
