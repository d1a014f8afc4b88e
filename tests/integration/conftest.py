"""Fixtures for the Home Assistant tests: the integration against the simulators."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
import json
from pathlib import Path
import re
import socket
import threading
from typing import Any
from unittest.mock import PropertyMock, patch

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import frame, issue_registry as ir
from homeassistant.helpers.data_entry_flow import _BaseFlowManagerView
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components import enphase_iq_gateway as integration
from custom_components.enphase_iq_gateway.const import CONF_SERIAL, CONF_TWO_STEP, DOMAIN
from custom_components.enphase_iq_gateway.iqgateway import EnlightenClient
from simulator import CloudSimulator, GatewaySimulator
from tests.conftest import GatewayFactory

FROZEN_TIME = "2026-06-21T12:00:00+00:00"
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


STALL_SECONDS = 120
"""Real seconds after which waiting for Home Assistant to finish its work fails the test."""


@pytest.fixture(autouse=True)
def no_wait_on_the_frozen_clock(hass: HomeAssistant) -> None:
    """Waiting for Home Assistant's work fails the test, rather than hang, if it never ends.

    On the frozen clock, work that waits on a timer (a retry's sleep, a request's timeout,
    a request a dead handler never answers) waits until the test moves the clock:
    ``async_block_till_done()`` would wait for it forever. After STALL_SECONDS of real time
    (the longest such wait takes seconds, even on a busy machine) it raises an
    AssertionError naming the unfinished work instead.
    """
    original = hass.async_block_till_done

    async def block_till_done(wait_background_tasks: bool = False) -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        stalled = threading.Event()

        def stall() -> None:
            stalled.set()
            loop.call_soon_threadsafe(task.cancel)

        watchdog = threading.Timer(STALL_SECONDS, stall)
        watchdog.daemon = True
        watchdog.start()
        try:
            await original(wait_background_tasks)
        except asyncio.CancelledError:
            if not stalled.is_set():
                raise
            task.uncancel()
            pending = [
                repr(work) for work in hass._tasks | hass._background_tasks if not work.done()
            ]
            raise AssertionError(
                f"Home Assistant's work did not end within {STALL_SECONDS} s of real time "
                f"(does it wait on the frozen clock?): {pending}"
            ) from None
        finally:
            watchdog.cancel()
            watchdog.join()  # at once: no thread outlives the wait (Home Assistant checks)

    hass.async_block_till_done = block_till_done  # type: ignore[method-assign]


@pytest.fixture
def cloud_client(hass: HomeAssistant, cloud: CloudSimulator) -> Iterator[None]:
    """Point the integration's Enphase cloud client at the simulated cloud (HTTPS, verified).

    The session stays the integration's own (``connections.cloud_session``: no cookie jar).
    """

    def factory(session: aiohttp.ClientSession) -> EnlightenClient:
        return EnlightenClient(
            session,
            enlighten_url=cloud.url,
            entrez_url=cloud.url,
            ssl_context=cloud.certificate.client_context(),
        )

    with patch("custom_components.enphase_iq_gateway.connections.cloud_client", factory):
        yield


@pytest.fixture
def owner_account(cloud: CloudSimulator, gateway: GatewaySimulator) -> None:
    """An Enlighten owner account with the rich gateway on it."""
    cloud.add_account(OWNER_EMAIL, OWNER_PASSWORD, {gateway.serial})


def token_entry(gateway: GatewaySimulator, token: str, **data: object) -> MockConfigEntry:
    """A config entry with a pasted token."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        title=f"IQ Gateway {gateway.serial}",
        data={CONF_HOST: gateway.address, CONF_SERIAL: gateway.serial, CONF_TOKEN: token, **data},
    )


def credentials_entry(gateway: GatewaySimulator, token: str) -> MockConfigEntry:
    """A config entry with Enlighten credentials (renewable token)."""
    return token_entry(
        gateway, token, **{CONF_USERNAME: OWNER_EMAIL, CONF_PASSWORD: OWNER_PASSWORD}
    )


def two_step_entry(gateway: GatewaySimulator, token: str) -> MockConfigEntry:
    """A config entry of an account with two-step sign-in: e-mail kept, password not."""
    return token_entry(gateway, token, **{CONF_USERNAME: OWNER_EMAIL, CONF_TWO_STEP: True})


async def setup_capture(
    hass: HomeAssistant,
    start_gateway: GatewayFactory,
    capture: str,
    *,
    without: tuple[str, ...] = (),
    bodies: Mapping[str, Any] | None = None,
    **options: object,
) -> tuple[MockConfigEntry, GatewaySimulator]:
    """Serve ``capture`` and set up an entry for it (a pasted token where one is needed).

    ``without``: paths the simulated gateway does not answer (404), as on a gateway
    that lacks them. ``bodies``: paths answered with these bodies (JSON) instead.
    """
    gateway = await start_gateway(capture)
    for path in without:
        gateway.capture.remove(path)
    for path, body in (bodies or {}).items():
        gateway.capture.set(path, json.dumps(body))
    data: dict[str, object] = {CONF_HOST: gateway.address, CONF_SERIAL: gateway.serial}
    if gateway.capture.requires_token:
        data[CONF_TOKEN] = gateway.issue_token()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=gateway.serial,
        title=f"IQ Gateway {gateway.serial}",
        data=data,
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry, gateway


# --------------------------------------------------------------------------- flows, time

TRANSLATIONS: dict[str, Any] = json.loads(
    (Path(integration.__file__).parent / "translations" / "en.json").read_text()
)
_PLACEHOLDER = re.compile(r"{(\w+)}")


def free_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SHOWN: dict[str, set[str]] = defaultdict(set)
"""Every text of translations/en.json some test saw the integration show, by section
(``config.step``, ``config.error``, ``exceptions``, ...): see ``pytest_sessionfinish``."""


def texts(section: str) -> dict[str, Any]:
    """A section of translations/en.json by its dotted path (``issues.ID.fix_flow``)."""
    found: dict[str, Any] = TRANSLATIONS
    for part in section.split("."):
        found = found[part]
    return found


def assert_translated(result: Mapping[str, Any], section: str = "config") -> None:
    """Every text a flow result shows exists in translations/en.json.

    ``section``: ``config``, ``options``, or a repair flow's ``issues.ID.fix_flow``.

    A form's step has a title, and every field a label and a data_description; every
    error and abort reason has a message; every placeholder a text uses is given.
    """
    strings = texts(section)
    kind = result["type"]
    if kind is FlowResultType.ABORT:
        if result.get("translation_domain") not in (None, DOMAIN):
            return  # Home Assistant's own text (reauth_successful on 2026.x)
        assert result["reason"] in strings["abort"], result["reason"]
        given = set(result.get("description_placeholders") or {})
        text = strings["abort"][result["reason"]]
        assert set(_PLACEHOLDER.findall(text)) <= given, (result["reason"], text, given)
        SHOWN[f"{section}.abort"].add(result["reason"])
        return
    if kind is FlowResultType.CREATE_ENTRY:
        return
    step = strings["step"][result["step_id"]]
    SHOWN[f"{section}.step"].add(result["step_id"])
    given = set(result.get("description_placeholders") or {})
    for text in (step.get("title", ""), step.get("description", "")):
        assert set(_PLACEHOLDER.findall(text)) <= given, (result["step_id"], text, given)
    if kind is FlowResultType.MENU:
        assert set(result["menu_options"]) <= set(step["menu_options"])
        SHOWN[f"{section}.menu"] |= {f"{result['step_id']}.{o}" for o in result["menu_options"]}
        return
    assert kind is FlowResultType.FORM, kind
    schema = result["data_schema"]
    for key in schema.schema if schema is not None else ():
        assert str(key) in step["data"], (result["step_id"], str(key))
        assert str(key) in step["data_description"], (result["step_id"], str(key))
    # The form as the frontend receives it (serialized by this Home Assistant's own view).
    sent = _BaseFlowManagerView._prepare_result_json(None, result)  # type: ignore[arg-type]
    fields = {field["name"]: field for field in json.loads(json.dumps(sent["data_schema"]))}
    assert set(fields) == {str(key) for key in (schema.schema if schema is not None else ())}
    for key in schema.schema if schema is not None else ():
        if (key.description or {}).get("suggested_value") is not None:
            assert fields[str(key)]["description"] == key.description
    for error in (result.get("errors") or {}).values():
        assert error in strings["error"], error
        for text in (strings["error"][error],):
            assert set(_PLACEHOLDER.findall(text)) <= given, (error, text, given)
        SHOWN[f"{section}.error"].add(error)


type Result = dict[str, Any]


async def flow_step(
    hass: HomeAssistant, result: Result, user_input: dict[str, Any] | None = None
) -> Result:
    """Answer a config flow's step; what it shows next is checked to be translated."""
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], user_input))
    assert_translated(result)
    return result


async def flow_choose(hass: HomeAssistant, result: Result, option: str) -> Result:
    """Pick ``option`` of a config flow's menu."""
    assert result["type"] is FlowResultType.MENU, result
    assert option in result["menu_options"]
    return await flow_step(hass, result, {"next_step_id": option})


def suggested(result: Mapping[str, Any], field: str) -> Any:
    """The value a form suggests for ``field``."""
    for key in result["data_schema"].schema:
        if str(key) == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)


async def fire(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Let ``delta`` pass on the frozen clock and run what became due."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)  # polls run in background


async def run_clock(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, total: timedelta, step: timedelta
) -> None:
    """Move the clock by ``step`` until ``total`` has passed, running what comes due.

    Unlike ``fire``, it does not wait for background tasks: a poll that outlasts a step
    (a stalled gateway) goes on while the clock moves, as it would in Home Assistant.
    """
    passed = timedelta()
    while passed < total:
        freezer.tick(step)
        passed += step
        async_fire_time_changed(hass)
        for _ in range(300):  # let the loop handle I/O without moving the clock
            await asyncio.sleep(0)


async def until(condition: Callable[[], bool], rounds: int = 2000) -> None:
    """Let the event loop run (without the clock moving) until ``condition`` holds."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add ``entry`` and set it up, whatever the outcome."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def reauth_flows(hass: HomeAssistant) -> list[Any]:
    """The reauthentication flows in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"].get("source") == SOURCE_REAUTH
    ]


def issued_at(seconds_ago: float) -> float:
    """A UNIX time ``seconds_ago`` before the (possibly frozen) clock."""
    return dt_util.utcnow().timestamp() - seconds_ago


@pytest.fixture
def all_entities_enabled() -> Iterator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def no_usage_reports(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail when Home Assistant reports a deprecated use by this integration.

    Home Assistant reports each use once per process: forget what it reported before, so
    every test that requests this sees its own.
    """
    frame._REPORTED_INTEGRATIONS.clear()
    yield
    reports = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.getMessage().startswith(f"Detected that custom integration '{DOMAIN}'")
    ]
    assert not reports, reports


@pytest.fixture(autouse=True)
def record_shown_errors() -> Iterator[None]:
    """Record the translated errors and repair issues the integration raises (SHOWN)."""
    original = HomeAssistantError.__init__

    def init(self: HomeAssistantError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.translation_domain == DOMAIN and self.translation_key:
            assert self.translation_key in TRANSLATIONS["exceptions"], self.translation_key
            SHOWN["exceptions"].add(self.translation_key)

    create_issue = ir.async_create_issue

    def issue(hass: HomeAssistant, domain: str, issue_id: str, **kwargs: Any) -> None:
        if domain == DOMAIN:
            assert kwargs["translation_key"] in TRANSLATIONS["issues"]
            SHOWN["issues"].add(kwargs["translation_key"])
            strings = TRANSLATIONS["issues"][kwargs["translation_key"]]
            given = set(kwargs.get("translation_placeholders") or {})
            for text in (strings["title"], strings.get("description", "")):
                assert set(_PLACEHOLDER.findall(text)) <= given, (text, given)
        create_issue(hass, domain, issue_id, **kwargs)

    with (
        patch.object(HomeAssistantError, "__init__", init),
        patch.object(ir, "async_create_issue", issue),
    ):
        yield


def all_texts() -> dict[str, set[str]]:
    """The texts of translations/en.json that the integration's behaviour shows."""
    config = TRANSLATIONS["config"]
    return {
        "config.step": set(config["step"]),
        "config.error": set(config["error"]),
        "config.abort": set(config["abort"]) - HA_ABORT_TEXTS,
        "config.menu": {
            f"{step_id}.{option}"
            for step_id, step in config["step"].items()
            for option in step.get("menu_options", {})
        },
        "options.step": set(TRANSLATIONS["options"]["step"]),
        "options.error": set(TRANSLATIONS["options"]["error"]),
        "exceptions": set(TRANSLATIONS["exceptions"]),
        "issues": set(TRANSLATIONS["issues"]),
    } | {
        f"issues.{issue_id}.fix_flow.{part}": set(issue["fix_flow"].get(part, {}))
        for issue_id, issue in TRANSLATIONS["issues"].items()
        if "fix_flow" in issue
        for part in ("step", "error", "abort")
    }


# Abort reasons whose text Home Assistant 2026.x brings itself (our copy serves 2025.x).
HA_ABORT_TEXTS = {"reauth_successful", "reconfigure_successful", "already_in_progress"}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a full, green run of these tests: every text was shown by some test.

    A text no test shows is either dead or untested. Checked only when every integration
    test was collected and passed (a filtered run shows only part of them).
    """
    if exitstatus != 0 or session.config.option.keyword or session.config.option.markexpr:
        return
    here = Path(__file__).parent
    collected = {Path(str(item.path)) for item in session.items}
    if not set(here.glob("test_*.py")) <= collected:
        return
    unshown = {
        section: sorted(texts - SHOWN[section])
        for section, texts in all_texts().items()
        if texts - SHOWN[section]
    }
    if unshown:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"Translations no test shows (dead or untested): {unshown}", red=True
            )
