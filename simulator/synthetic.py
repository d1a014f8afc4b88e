"""A large site made from a small capture: the same gateway with N microinverters.

    big = with_inverters(Capture.load(folder), 200)

``/api/v1/production/inverters`` then lists ``count`` microinverters (``devType`` 1): the
captured ones first, with their serials (fewer if ``count`` is smaller), then new ones made
like them, each with a serial of its own, its own watts (85-115 % of the captured ones', or, for a
capture taken at night, 50-80 % of ``maxReportWatts``; captured microinverters at 0 W get
60 % of theirs) and report time. Entries that are not microinverters (AC Batteries,
``devType`` 11) stay as they are.

What follows the inverters, by meaning: ``wattsNow`` of ``/api/v1/production`` and of
``pcu`` in ``/ivp/pdm/energy``, and ``wNow`` / ``activeCount`` of the ``inverters`` line of
``/production.json`` become the inverters' sum; ``/ivp/pdm/device_data``, where captured,
lists one ``pcu`` device per microinverter (made like a captured one). CT meters, energy
counters and everything else stay as captured: the new site is a benchmark's load, not an
energy balance.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .capture import Capture
from .site import INVERTERS_PATH, is_microinverter, typical_watts

PRODUCTION_PATH = "/api/v1/production"
PDM_ENERGY_PATH = "/ivp/pdm/energy"
DEVICE_DATA_PATH = "/ivp/pdm/device_data"
PRODUCTION_JSON_PATH = "/production.json"
DEFAULT_PEAK = 366
DEFAULT_SERIAL = "482200000000"


def with_inverters(capture: Capture, count: int, *, name: str | None = None) -> Capture:
    """A copy of ``capture`` whose site has ``count`` microinverters (see the module doc)."""
    if count < 0:
        raise ValueError("the number of microinverters cannot be negative")
    captured = capture.get(INVERTERS_PATH)
    listed = _json(captured.body) if captured is not None and captured.status == 200 else None
    if not isinstance(listed, list):
        raise ValueError(f"{capture.name} has no inverters list to grow")  # noqa: TRY004
    site = Capture(
        name=name or f"{capture.name}_{count}_inverters", responses=dict(capture.responses)
    )
    micros = [e for e in listed if is_microinverter(e)]
    others = [e for e in listed if not is_microinverter(e)]
    inverters = _inverters(micros, others, count)
    site.set(INVERTERS_PATH, json.dumps([*inverters, *others], indent=2))
    watts = sum(int(e["lastReportWatts"]) for e in inverters)
    _rewrite(site, PRODUCTION_PATH, lambda body: _set_number(body, "wattsNow", watts))
    _rewrite(site, PDM_ENERGY_PATH, lambda body: _pdm_energy(body, watts))
    for path in [p for p in site.responses if p.partition("?")[0] == PRODUCTION_JSON_PATH]:
        _rewrite(site, path, lambda body: _production_json(body, watts, count))
    _rewrite(site, DEVICE_DATA_PATH, lambda body: _device_data(body, inverters))
    return site


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _rewrite(site: Capture, path: str, change: Any) -> None:
    """Apply ``change`` to the JSON body at ``path`` (if captured, 200 and JSON)."""
    response = site.responses.get(path)
    if response is None or response.status != 200:
        return
    body = _json(response.body)
    if isinstance(body, dict):
        site.set(path, json.dumps(change(body), indent=2))


def _serials(micros: list[dict[str, Any]], taken: set[str], count: int) -> list[str]:
    """Serials for the new microinverters, near the captured ones, all distinct."""
    first = str(micros[0]["serialNumber"]) if micros else DEFAULT_SERIAL
    prefix = first[:6] if first[:6].isdigit() else DEFAULT_SERIAL[:6]
    serials: list[str] = []
    number = 0
    while len(serials) < count:
        serial = f"{prefix}{number:06d}"
        number += 1
        if serial not in taken:
            taken.add(serial)
            serials.append(serial)
    return serials


def _inverters(
    micros: list[dict[str, Any]], others: list[dict[str, Any]], count: int
) -> list[dict[str, Any]]:
    kept = [dict(e) for e in micros[:count]]
    taken = {str(e.get("serialNumber")) for e in [*micros, *others]}
    templates = micros or [{"devType": 1, "maxReportWatts": DEFAULT_PEAK}]
    latest = max((int(e.get("lastReportDate") or 0) for e in templates), default=0)
    for index, serial in enumerate(_serials(micros, taken, count - len(kept))):
        template = templates[index % len(templates)]
        peak = int(template.get("maxReportWatts") or DEFAULT_PEAK)
        captured = int(template.get("lastReportWatts") or 0)
        spread = ((index * 37) % 100) / 100  # 0 to 0.99, varied from one to the next
        if captured > 0:
            watts = round(captured * (0.85 + 0.3 * spread))
        else:
            watts = round(peak * (0.5 + 0.3 * spread))
        kept.append(
            {
                **template,
                "serialNumber": serial,
                "devType": template.get("devType", 1),
                "lastReportWatts": min(watts, peak),
                "maxReportWatts": peak,
                "lastReportDate": max(latest - index % 300, 0),
            }
        )
    for entry in kept:  # a night capture's own microinverters get watts too
        if not entry.get("lastReportWatts"):
            entry["lastReportWatts"] = round(typical_watts(0, entry.get("maxReportWatts")))
    return kept


def _set_number(body: dict[str, Any], name: str, value: float) -> dict[str, Any]:
    if name in body:
        body[name] = value
    return body


def _pdm_energy(body: dict[str, Any], watts: int) -> dict[str, Any]:
    production = body.get("production")
    if isinstance(production, dict):
        for source in ("pcu", "pou"):
            if isinstance(production.get(source), dict):
                _set_number(production[source], "wattsNow", watts)
    return body


def _production_json(body: dict[str, Any], watts: int, count: int) -> dict[str, Any]:
    for line in body.get("production") or []:
        if isinstance(line, dict) and line.get("type") == "inverters":
            _set_number(line, "wNow", watts)
            _set_number(line, "activeCount", count)
    return body


def _device_data(body: dict[str, Any], inverters: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``pcu`` device per microinverter, keeping the captured ones that stay."""
    pcus = {
        key: value
        for key, value in body.items()
        if isinstance(value, dict) and value.get("devName") == "pcu"
    }
    if not pcus:
        return body
    by_serial = {str(v.get("sn")): (k, v) for k, v in pcus.items()}
    template = next(iter(pcus.values()))
    out = {k: v for k, v in body.items() if k not in pcus}
    used = {int(k) for k in body if k.isdigit()}
    next_eid = max(used, default=0) + 256
    for inverter in inverters:
        serial = str(inverter["serialNumber"])
        if serial in by_serial:
            key, device = by_serial[serial]
            out[key] = device
            continue
        device = copy.deepcopy(template)
        device["sn"] = serial
        for channel in device.get("channels") or []:
            if not isinstance(channel, dict):
                continue
            channel["chanEid"] = next_eid + 1
            if isinstance(channel.get("watts"), dict):
                channel["watts"]["now"] = inverter["lastReportWatts"]
                channel["watts"]["max"] = inverter["maxReportWatts"]
            if isinstance(channel.get("lastReading"), dict) and "eid" in channel["lastReading"]:
                channel["lastReading"]["eid"] = next_eid + 1
        out[str(next_eid)] = device
        next_eid += 256
    if "deviceCount" in out:
        out["deviceCount"] = sum(1 for v in out.values() if isinstance(v, dict) and "devName" in v)
    return out
