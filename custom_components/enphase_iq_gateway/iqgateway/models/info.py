"""``/info``: the gateway's serial, firmware and whether it wants a token."""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Self
from xml.etree import ElementTree as ET

from ..exceptions import IQGatewayUnsupportedError

# Parts of at most 9 digits: a longer run is no version, and int() refuses huge ones.
_FIRMWARE_RE = re.compile(r"(?<!\d)(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?(?!\d)")


def parse_firmware(text: str) -> tuple[int, int, int]:
    """``D8.2.127`` / ``R3.9.36`` / ``8.3.5289`` -> ``(8, 2, 127)``; unknown -> (0, 0, 0)."""
    match = _FIRMWARE_RE.search(text)
    if match is None:
        return (0, 0, 0)
    major, minor, patch = match.groups()
    return (int(major), int(minor), int(patch or 0))


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """``GET /info`` (XML, no authentication)."""

    serial: str
    part_number: str | None
    firmware: str
    metered: bool | None
    web_tokens: bool | None

    @property
    def firmware_version(self) -> tuple[int, int, int]:
        """The firmware as a comparable tuple."""
        return parse_firmware(self.firmware)

    @property
    def tokens_required(self) -> bool:
        """Firmware 7 and newer needs a token; older firmware has no token auth at all."""
        if self.web_tokens is not None:
            return self.web_tokens
        return self.firmware_version >= (7, 0, 0)

    @classmethod
    def from_xml(cls, text: str) -> Self:
        """Parse the XML; anything that is not an ``envoy_info`` document is refused."""
        try:
            # The gateway on the local network; expat refuses entity-expansion bombs.
            root = ET.fromstring(text)  # noqa: S314
        except ET.ParseError as err:
            raise IQGatewayUnsupportedError("/info is not XML: not an IQ Gateway") from err
        if root.tag != "envoy_info":
            raise IQGatewayUnsupportedError("/info is not an IQ Gateway's envoy_info")
        device = root.find("device")
        serial = _xml_text(device, "sn")
        if device is None or not serial:
            raise IQGatewayUnsupportedError("/info has no serial number")
        return cls(
            serial=serial,
            part_number=_xml_text(device, "pn"),
            firmware=_xml_text(device, "software") or "",
            metered=_xml_bool(_xml_text(device, "imeter")),
            web_tokens=_xml_bool(_xml_text(root, "web-tokens")),
        )


def _xml_text(node: ET.Element | None, tag: str) -> str | None:
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _xml_bool(text: str | None) -> bool | None:
    if text is None:
        return None
    return text.strip().lower() in ("true", "1", "yes")
