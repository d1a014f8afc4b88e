"""Metadata: hacs.json, manifest.json, quality_scale.yaml, and translations.

Translations must be complete (every step, error, abort, exception, issue and entity has
text) with nothing unused.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.enphase_iq_gateway.const import DOMAIN, ISSUE_TOKEN_EXPIRING
from tests.conftest import CAPTURES, GatewayFactory

from .conftest import setup_capture

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "custom_components" / DOMAIN
TRANSLATIONS: dict[str, Any] = json.loads((PACKAGE / "translations" / "en.json").read_text())
# Reasons Home Assistant's own helpers abort with; their text still comes from us.
HA_ABORT_REASONS = {
    "already_configured",
    "already_in_progress",  # async_set_unique_id: the gateway is being added in another flow
    "reauth_successful",
    "reconfigure_successful",
}


def _tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text())


def _keyword_literals(tree: ast.AST, keyword: str) -> set[str]:
    return {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == keyword
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _function(tree: ast.Module, name: str) -> ast.AST:
    return next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    )


def _returned_literals(function: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and node.value is not None:
            for value in ast.walk(node.value):
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value:
                    found.add(value.value)
    return found


def _flow_errors(tree: ast.Module) -> set[str]:
    """Every error key the flow puts in ``errors`` (directly or via its check helpers)."""
    errors = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(
                isinstance(t, ast.Subscript) and getattr(t.value, "id", "") == "errors"
                for t in node.targets
            )
            and isinstance(node.value, ast.Constant)
        ):
            errors.add(node.value.value)
        if (
            isinstance(node, ast.keyword)
            and node.arg == "errors"
            and isinstance(node.value, ast.Dict)
        ):
            errors |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}
    errors |= _returned_literals(_function(tree, "_async_prove"))
    errors |= _returned_literals(_function(tree, "_async_read_info"))
    return errors


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


def test_config_flow_texts_complete_and_used() -> None:
    """Every step, error and abort of the flow has text, and every text is used."""
    tree = _tree("config_flow.py")
    config = TRANSLATIONS["config"]
    steps = _keyword_literals(tree, "step_id") - {"init"}  # "init" is the options flow's
    assert "init" in TRANSLATIONS["options"]["step"]
    assert steps <= set(config["step"]), steps - set(config["step"])
    assert set(config["step"]) <= steps, set(config["step"]) - steps

    errors = _flow_errors(tree)
    assert errors == set(config["error"]), errors ^ set(config["error"])

    aborts = _keyword_literals(tree, "reason") | HA_ABORT_REASONS
    aborts |= _returned_literals(_function(tree, "_async_read_info"))  # zeroconf aborts with them
    assert aborts == set(config["abort"]), aborts ^ set(config["abort"])

    for step in config["step"].values():
        assert step.get("title")
        assert set(step.get("data", {})) == set(step.get("data_description", {}))
    options = TRANSLATIONS["options"]["step"]["init"]
    assert (
        set(options["data"])
        == set(options["data_description"])
        == {
            "scan_interval",
            "inverter_entities",
        }
    )


def test_menus_have_texts() -> None:
    """Each menu step labels each of its options."""
    tree = _tree("config_flow.py")
    menus: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            name = getattr(node.targets[0], "id", "")
            if name.endswith("_MENU"):
                menus[name] = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    step_menus = {
        "auth": "AUTH_MENU",
        "reauth_confirm": "AUTH_MENU",
        "reconfigure_auth": "RECONFIGURE_AUTH_MENU",
    }
    for step, menu in step_menus.items():
        labels = TRANSLATIONS["config"]["step"][step]["menu_options"]
        assert set(labels) == set(menus[menu])


def test_exception_and_issue_texts_complete_and_used() -> None:
    """Every translated exception and repair issue raised in code has text, and no more."""
    used = set()
    for module in ("coordinator.py", "token_manager.py", "__init__.py"):
        tree = _tree(module)
        used |= _keyword_literals(tree, "translation_key")
    used |= _returned_literals(_function(_tree("coordinator.py"), "_error_key"))
    assert used == set(TRANSLATIONS["exceptions"]), used ^ set(TRANSLATIONS["exceptions"])
    assert set(TRANSLATIONS["issues"]) == {ISSUE_TOKEN_EXPIRING}


async def test_entity_texts_complete_and_used(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, start_gateway: GatewayFactory
) -> None:
    """Across every capture, the entities' translation keys are exactly those with text."""
    used: set[str] = set()
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        for capture in CAPTURES:
            entry, _ = await setup_capture(hass, start_gateway, capture)
            used |= {
                e.translation_key
                for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
                if e.translation_key
            }
            await hass.config_entries.async_remove(entry.entry_id)
            await hass.async_block_till_done()
    texts = set(TRANSLATIONS["entity"]["sensor"])
    assert used == texts, used ^ texts
    icons = json.loads((PACKAGE / "icons.json").read_text())["entity"]["sensor"]
    assert set(icons) <= texts
    states = TRANSLATIONS["entity"]["sensor"]["metering_status"]["state"]
    assert set(states) == {"normal", "not_metering", "check_wiring"}


@pytest.mark.parametrize("name", ["README.md", "DEVELOPERS.md"])
def test_docs_name_the_commands_ci_runs(name: str) -> None:
    """The README gives the commands .ci/run runs (and DEVELOPERS.md explains them)."""
    ci = (ROOT / ".ci" / "run").read_text()
    doc = (ROOT / name).read_text()
    for command in re.findall(r"^run (scripts/\S+(?: --all)?)$", ci, re.MULTILINE):
        assert command in doc, f"{command} missing from {name}"
