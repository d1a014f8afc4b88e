"""Capture folders: one real gateway's endpoint bodies and the status codes it sent.

A file's name is the endpoint's path with ``/`` turned into ``_`` and the leading ``/``
dropped (``ivp_meters_readings`` is ``GET /ivp/meters/readings``). ``NAME_log.json`` beside
it holds the status code and headers. A query string becomes ``_key_value``
(``production.json_details_1`` is ``GET /production.json?details=1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import json
from pathlib import Path
import re
from xml.etree import ElementTree as ET

LOG_SUFFIX = "_log.json"
# Captures made by other tools add these; they are not endpoint bodies.
IGNORED = re.compile(r"(^_|^README|\.md$|^LICENSE)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CapturedResponse:
    """One endpoint as captured."""

    status: int
    body: bytes
    content_type: str | None = None


@dataclass(slots=True)
class Capture:
    """All endpoints of one capture folder, by request path (with query string if any)."""

    name: str
    responses: dict[str, CapturedResponse] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path) -> Capture:
        """Read every body in ``folder`` with its status code (200 when no log says else)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no capture folder at {folder}")
        capture = cls(name=folder.name)
        for path in sorted(folder.iterdir()):
            name = path.name
            if not path.is_file() or name.endswith(LOG_SUFFIX) or IGNORED.search(name):
                continue
            status, content_type = 200, None
            log = folder / f"{name}{LOG_SUFFIX}"
            if log.is_file():
                try:
                    meta = json.loads(log.read_text())
                    status = int(meta.get("code", 200))
                    headers = {k.lower(): v for k, v in (meta.get("headers") or {}).items()}
                    content_type = headers.get("content-type")
                except (ValueError, TypeError, AttributeError):
                    pass
            capture.responses[path_for(name)] = CapturedResponse(
                status=status, body=path.read_bytes(), content_type=content_type
            )
        if "/info" not in capture.responses:
            raise ValueError(f"{folder} has no 'info' file: not a capture folder")
        return capture

    def get(self, path: str) -> CapturedResponse | None:
        """The captured response for a request path (query string included, if any).

        A real gateway answers a path with or without a query string; a capture holds one
        of them. When the exact request was not captured, the other form is served.
        """
        exact = self.responses.get(path)
        if exact is not None:
            return exact
        base = path.partition("?")[0]
        if base != path:
            return self.responses.get(base)
        return next((r for p, r in self.responses.items() if p.partition("?")[0] == base), None)

    def set(self, path: str, body: str | bytes, *, status: int = 200) -> None:
        """Replace or add an endpoint's body at run time."""
        data = body.encode() if isinstance(body, str) else body
        old = self.responses.get(path)
        self.responses[path] = (
            replace(old, body=data, status=status)
            if old
            else CapturedResponse(status=status, body=data)
        )

    def remove(self, path: str) -> None:
        """Make an endpoint absent (404) from now on."""
        self.responses.pop(path, None)

    @property
    def info_xml(self) -> ET.Element:
        """The parsed ``/info`` document."""
        return ET.fromstring(self.responses["/info"].body)  # noqa: S314 - our own fixture

    @property
    def serial(self) -> str:
        """The gateway's serial number, from ``/info``."""
        return (self.info_xml.findtext("device/sn") or "").strip()

    @property
    def firmware(self) -> str:
        """The firmware string from ``/info`` (e.g. ``D8.2.127``)."""
        return (self.info_xml.findtext("device/software") or "").strip()

    @property
    def requires_token(self) -> bool:
        """Whether this gateway wants a token, read like a client would read ``/info``."""
        web_tokens = self.info_xml.findtext("web-tokens")
        if web_tokens is not None:
            return web_tokens.strip().lower() == "true"
        match = re.search(r"(\d+)\.", self.firmware)
        return match is not None and int(match.group(1)) >= 7

    def set_firmware(self, firmware: str) -> None:
        """Rewrite ``/info`` as if the gateway had updated to ``firmware``."""
        root = self.info_xml
        software = root.find("device/software")
        if software is None:
            raise ValueError("the capture's /info has no device/software element")
        software.text = firmware
        self.set("/info", ET.tostring(root, encoding="unicode", xml_declaration=True))


# Paths whose segments contain underscores: the file name alone cannot tell them apart.
KNOWN_PATHS = (
    "/admin/lib/tariff",
    "/ivp/ensemble/dry_contacts",
    "/ivp/ss/dry_contact_settings",
    "/ivp/ss/gen_config",
    "/ivp/ss/gen_schedule",
    "/ivp/ss/pel_settings",
    "/ivp/pdm/device_data",
    "/ivp/sc/pvlimit",
    "/auth/check_jwt",
)


def path_for(file_name: str) -> str:
    """The request path a capture file holds (``ivp_meters_readings`` -> ``/ivp/meters/readings``)."""
    for known in KNOWN_PATHS:
        if file_name == file_for(known):
            return known
    query = ""
    base = file_name
    match = re.match(r"^(?P<base>.+?\.json)_(?P<key>[a-z]+)_(?P<value>\w+)$", file_name)
    if match:
        base = match["base"]
        query = f"?{match['key']}={match['value']}"
    if base.endswith(".json"):
        return f"/{base}{query}"
    return "/" + base.replace("_", "/") + query


def file_for(path: str) -> str:
    """The capture file name for a request path (the inverse of ``path_for``)."""
    base, _, query = path.lstrip("/").partition("?")
    name = base.replace("/", "_")
    if query:
        key, _, value = query.partition("=")
        name = f"{name}_{key}_{value}"
    return name
