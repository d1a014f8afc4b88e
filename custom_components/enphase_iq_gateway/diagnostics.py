"""Diagnostics: the entry without its secrets, what the gateway answers, and every raw body.

The raw bodies are laid out like a simulator capture folder (``ivp_meters_readings`` plus
``ivp_meters_readings_log.json``), so a user's download can be replayed:
``python -m simulator.from_diagnostics DOWNLOAD.json FOLDER`` then
``python -m simulator --capture FOLDER``.

Secrets never appear: the token, password and e-mail address are redacted, and the
gateway serial is masked the same way everywhere (entry, bodies, device names), so the
capture stays self-consistent.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .coordinator import IQGatewayConfigEntry

TO_REDACT = {CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME}
CAPTURE_FORMAT = 1


def mask_serial(serial: str) -> str:
    """The same masked form of a serial wherever it appears (its last four digits kept)."""
    keep = serial[-4:] if len(serial) > 4 else ""
    return "9" * (len(serial) - len(keep)) + keep


def capture_file(path: str) -> str:
    """The capture file name of an endpoint path (``/ivp/meters`` -> ``ivp_meters``)."""
    return path.lstrip("/").replace("/", "_")


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IQGatewayConfigEntry
) -> dict[str, Any]:
    """Everything needed to understand (and replay) this gateway, secrets left out."""
    coordinator = entry.runtime_data
    client = coordinator.client
    serial = str(entry.unique_id)
    masked = mask_serial(serial)

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(serial, masked)
        if isinstance(value, dict):
            return {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(v) for v in value]
        return value

    capture: dict[str, Any] = {}
    for path, body in sorted(client.raw_bodies().items()):
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
