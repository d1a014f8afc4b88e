"""Metadata: hacs.json, manifest.json, quality_scale.yaml, and translations.

Translations must be complete (every step, error, abort, exception, issue and entity has
text) with nothing unused.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.enphase_iq_gateway.const import DOMAIN
from tests.conftest import CAPTURES, GatewayFactory

from .conftest import setup_capture

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "custom_components" / DOMAIN
TRANSLATIONS: dict[str, Any] = json.loads((PACKAGE / "translations" / "en.json").read_text())


def test_hacs_json_names_the_minimum_leg() -> None:
    """hacs.json's minimum Home Assistant is the one the minimum test leg runs."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"] == "Enphase IQ Gateway"
    assert hacs["render_readme"] is True
    minimum = (ROOT / "requirements_test_min.txt").read_text()
    assert "pytest-homeassistant-custom-component==0.13.236" in minimum
    assert tuple(int(p) for p in hacs["homeassistant"].split(".")) <= tuple(
        int(p) for p in ha_version.split(".")[:3]
    )
    if ha_version.startswith("2025.4."):
        assert hacs["homeassistant"] == ha_version


def test_manifest() -> None:
    """The manifest declares what the integration is and does."""
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    assert manifest["domain"] == DOMAIN
    assert manifest["name"] == "Enphase IQ Gateway"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["codeowners"]
    assert all(o.startswith("@") for o in manifest["codeowners"])
    for url in ("documentation", "issue_tracker"):
        assert manifest[url].startswith("https://")
    assert manifest["iot_class"] == "local_polling"
    assert manifest["integration_type"] == "hub"
    assert manifest["config_flow"] is True
    assert manifest["zeroconf"] == [{"type": "_enphase-envoy._tcp.local."}]
    assert all("==" in req for req in manifest["requirements"])


def test_quality_scale_lists_every_rule_once() -> None:
    """quality_scale.yaml states each rule with a known status."""
    text = (PACKAGE / "quality_scale.yaml").read_text()
    rules = re.findall(r"^  ([a-z-]+):(.*)$", text, re.MULTILINE)
    names = [name for name, _ in rules]
    assert len(names) == len(set(names))
    assert len(names) >= 50
    statuses = re.findall(r"(?:^  [a-z-]+: |status: )(\w+)", text, re.MULTILINE)
    assert set(statuses) <= {"done", "todo", "exempt"}


def test_every_step_text_is_whole() -> None:
    """Every step (repair flows too) has a title, and a description for each field.

    That each text is used, and each shown text exists, is checked by the flow tests
    themselves (``assert_translated``, and the end-of-session check in conftest.py).
    """
    flows = [TRANSLATIONS["config"], TRANSLATIONS["options"]]
    flows += [issue["fix_flow"] for issue in TRANSLATIONS["issues"].values() if "fix_flow" in issue]
    for flow in flows:
        for step_id, step in flow["step"].items():
            assert step.get("title"), step_id
            assert set(step.get("data", {})) == set(step.get("data_description", {})), step_id
    for issue_id, issue in TRANSLATIONS["issues"].items():
        assert issue.get("title"), issue_id
        assert "description" in issue or "fix_flow" in issue, issue_id


# What hassfest takes for a URL (and refuses in a translation: URLs are passed as
# placeholders): a scheme or "www." before a dotted name ending in a 2-5 letter domain.
URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[a-z0-9.-]*\.[a-z]{2,5}\b", re.IGNORECASE)


def _texts(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _texts(value, f"{path}.{key}")]
    return [(path, node)]


def test_no_text_holds_a_url() -> None:
    """Hassfest refuses translations with URLs: the Entrez address is a placeholder."""
    texts = _texts(TRANSLATIONS)
    assert len(texts) > 100
    assert URL.search("create one at https://entrez.enphaseenergy.com (sign in)")
    assert URL.search("see www.example.com")
    assert not URL.search("such as https://192.168.1.50/ works")  # an address is no URL here
    assert [path for path, text in texts if URL.search(text)] == []


# No capture has a generator: one is configured on this System Controller site, so that
# the generator's texts are shown too.
GENERATOR_SITE = "7.3.517"
GENERATOR_CONFIG = {"name_plate_rating_wat": 9000, "gen_type": "standby"}


@pytest.mark.usefixtures("all_entities_enabled")
async def test_entity_and_device_texts_complete_and_used(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    start_gateway: GatewayFactory,
) -> None:
    """Across every capture, the entity and device texts are exactly those used.

    Every device has a name, from the device texts.
    """
    used: dict[str, set[str]] = {platform: set() for platform in TRANSLATIONS["entity"]}
    devices: set[str] = set()
    for capture in CAPTURES:
        bodies = {"/ivp/ss/gen_config": GENERATOR_CONFIG} if capture == GENERATOR_SITE else {}
        entry, _ = await setup_capture(hass, start_gateway, capture, bodies=bodies)
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
            if e.translation_key:
                used[e.domain].add(e.translation_key)
            if e.original_device_class == "energy":  # every energy shows two decimals (kWh)
                precision = e.options.get("sensor", {}).get("suggested_display_precision")
                assert precision == 2, e.entity_id
            if options := (e.capabilities or {}).get("options"):
                # An enum sensor: every state it can show has a text of its own.
                text = TRANSLATIONS["entity"][e.domain][e.translation_key]
                assert set(text.get("state", {})) == set(options), e.entity_id
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
            assert device.name, device
            devices.add(device.name)
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
    icons = json.loads((PACKAGE / "icons.json").read_text())["entity"]
    assert set(icons) <= set(TRANSLATIONS["entity"])
    for platform, texts in TRANSLATIONS["entity"].items():
        assert used[platform] == set(texts), (platform, used[platform] ^ set(texts))
        assert set(icons.get(platform, {})) <= set(texts), platform
    states = TRANSLATIONS["entity"]["sensor"]["metering_status"]["state"]
    assert set(states) == {"normal", "not_metering", "check_wiring"}
    # Device names, with the gateway's suffix (none here) and a serial's end filled in.
    named = [
        re.compile(
            re.escape(text["name"].replace("{suffix}", "")).replace(r"\{serial_end\}", r"\w{1,6}")
        )
        for text in TRANSLATIONS["device"].values()
    ]
    for name in devices:
        assert any(pattern.fullmatch(name) for pattern in named), name


@pytest.mark.parametrize("name", ["README.md", "DEVELOPERS.md"])
def test_docs_name_the_commands_ci_runs(name: str) -> None:
    """The README gives the commands .ci/run runs (and DEVELOPERS.md explains them)."""
    ci = (ROOT / ".ci" / "run").read_text()
    doc = (ROOT / name).read_text()
    for command in re.findall(r"^run (scripts/\S+(?: --all)?)$", ci, re.MULTILINE):
        assert command in doc, f"{command} missing from {name}"
