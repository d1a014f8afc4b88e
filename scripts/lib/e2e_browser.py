"""The browser half of scripts/e2e: Playwright driving Debian's Chromium, headless.

Logs in and checks Home Assistant asks nothing about its HTTP settings (no confirm
countdown, no repair issue: scripts/e2e writes them as 2026.x keeps them), adds the
integration through Settings -> Devices & services -> Add integration, takes the token
path (a bad token first: the translated error must show, not its key), finishes, then
opens the gateway's device page and checks the production power shown equals the
capture's value. Saves a screenshot of every step.

On the way it does what new users were seen to do: it leaves a setup at the sign-in menu
by reloading the page and adds the gateway again (the stale flow must give way), checks
the device names, and has the gateway refuse the token (four polls in a row: one refusal
is not final): first with a Reconfigure dialog left open (Home Assistant then starts no
reauthentication: the integration's repair must ask instead, and signs in again with a
pasted token), then without, to see the reauthentication card titled with the gateway's
serial (not a raw translation error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import re
import ssl
import sys
from typing import Any
import urllib.request

from playwright.async_api import Page, async_playwright, expect

DOMAIN = "enphase_iq_gateway"
REFUSED_POLLS = 4  # the integration's REFUSAL_POLLS
REFRESH_COOLDOWN = 11  # seconds: Home Assistant's coordinator refreshes at most every 10 s
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
TIMEOUT_MS = 60_000
BAD_TOKEN_TEXT = "This is not an Enphase token"  # noqa: S105 - an error message
# What Home Assistant 2026.x shows when its HTTP settings came from configuration.yaml.
HTTP_CONFIRM_TEXT = "Confirm new HTTP server configuration"
HTTP_YAML_REPAIR_TEXT = "HTTP YAML configuration"


def expected_production_power(capture: Path) -> float:
    """The production CT's active power, read from the capture (meters joined by eid)."""
    meters = json.loads((capture / "ivp_meters").read_text())
    readings = {r["eid"]: r for r in json.loads((capture / "ivp_meters_readings").read_text())}
    production = next(
        m for m in meters if m["measurementType"] == "production" and m["state"] == "enabled"
    )
    return float(readings[production["eid"]]["activePower"])


async def call_ws(page: Page, message: dict[str, Any]) -> Any:
    """A websocket command over the frontend's own connection (None: not in this release)."""
    await page.wait_for_function("() => document.querySelector('home-assistant')?.hass?.connected")
    return await page.evaluate(
        """message => document.querySelector('home-assistant').hass.callWS(message).catch(
            err => err.code === 'unknown_command' ? null : Promise.reject(err))""",
        message,
    )


async def check_http_settings_quiet(page: Page) -> None:
    """No pending HTTP settings to confirm, and no repair issue about them."""
    config = await call_ws(page, {"type": "http/config"})
    if config is not None:  # 2025.x has no HTTP settings in storage: nothing to confirm
        assert config["pending"] is None, f"pending HTTP settings: {config['pending']}"
        assert config["active_config_type"] == "stable", config["active_config_type"]
    issues = (await call_ws(page, {"type": "repairs/list_issues"}))["issues"]
    http_issues = [i["issue_id"] for i in issues if i["domain"] == "http"]
    assert not http_issues, f"repair issues about HTTP: {http_issues}"
    await expect(page.get_by_text(HTTP_CONFIRM_TEXT)).to_have_count(0)
    await expect(page.get_by_text(HTTP_YAML_REPAIR_TEXT)).to_have_count(0)


def simulator(info: dict[str, Any], method: str, action: str, body: Any = None) -> Any:
    """A call to the gateway simulator's control API (HTTPS with the simulator's own CA)."""
    request = urllib.request.Request(
        info["control_url"] + action,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=info["ca_file"])
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        return json.loads(answer.read())


async def add_gateway(page: Page, host: str, steps: Steps | None = None) -> None:
    """Settings -> Devices & services -> Add integration -> Enphase IQ Gateway -> host."""
    await page.goto(page.url.split("/config/", 1)[0] + "/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    await expect(page.get_by_text("Select brand")).to_be_visible()
    await page.keyboard.type("Enphase IQ")
    await page.get_by_text("Enphase IQ Gateway", exact=True).first.click()
    field = page.get_by_role("textbox", name="Host")
    await expect(field).to_be_visible()
    await field.fill(host)
    if steps is not None:
        await steps.shot("config-flow-host")
    await page.get_by_role("button", name="Submit").click()


async def refuse_the_token(page: Page, info: dict[str, Any]) -> None:
    """The gateway refuses every token, for as long as the refusal's grace lasts.

    A refusal is final at the fourth poll in a row (before that, the gateway may just have
    restarted): the sensor is updated four times, more than the coordinator's 10 s
    cooldown apart.
    """
    simulator(info, "POST", "/faults", {"kind": "unauthorized", "count": None})
    for poll in range(REFUSED_POLLS):
        if poll:
            await asyncio.sleep(REFRESH_COOLDOWN)
        await call_ws(
            page,
            {
                "type": "call_service",
                "domain": "homeassistant",
                "service": "update_entity",
                "target": {"entity_id": "sensor.iq_gateway_production_power"},
            },
        )


async def our_issues(page: Page) -> list[dict[str, Any]]:
    """The integration's repair issues that are up."""
    issues = (await call_ws(page, {"type": "repairs/list_issues"}))["issues"]
    return [i for i in issues if i["domain"] == DOMAIN and not i.get("dismissed_version")]


async def check_sign_in_repair(page: Page, url: str, info: dict[str, Any], steps: Steps) -> None:
    """A Reconfigure left open, then the token refused for good: a repair signs in again.

    Home Assistant starts no reauthentication while a flow of the entry is open, and does
    not show a reconfigure flow: the owner opens Reconfigure, then leaves the page (to get a
    token at Enphase's site in the same tab). The repair under Settings -> Repairs takes a
    pasted token, and the gateway is back.
    """
    await page.goto(f"{url}/config/integrations/integration/{DOMAIN}")
    await expect(page.locator("#ha-launch-screen")).to_have_count(0)
    await page.locator("ha-config-entry-row").get_by_role("button", name="Menu").first.click()
    await page.get_by_text("Reconfigure", exact=True).first.click()
    await expect(page.get_by_role("textbox", name="Host")).to_be_visible()
    await steps.shot("reconfigure-left-open")
    await page.reload()  # the page is left without closing the dialog: its flow stays
    await expect(page.locator("#ha-launch-screen")).to_have_count(0)

    await refuse_the_token(page, info)
    await page.goto(f"{url}/config/repairs")
    await expect(page.locator("#ha-launch-screen")).to_have_count(0)
    title = f"Sign in again for IQ Gateway {info['serial']}"
    await expect(page.get_by_text(title).first).to_be_visible()
    await expect(page.get_by_text("Translation", exact=False)).to_have_count(0)
    await steps.shot("sign-in-repair")
    await page.get_by_text(title).first.click()
    await expect(page.get_by_text("Sign in with my Enphase account")).to_be_visible()
    await page.get_by_text("Paste a token").click()
    token = page.get_by_role("textbox", name="Token")
    await expect(token).to_be_visible()
    simulator(info, "DELETE", "/faults")  # the owner got a new token: the gateway takes it
    await token.fill(simulator(info, "POST", "/token", {})["token"])
    await steps.shot("sign-in-repair-token")
    await page.get_by_role("button", name="Submit").click()
    for _ in range(60):
        if not [i for i in await our_issues(page) if i["translation_key"] == "sign_in_again"]:
            break
        await asyncio.sleep(1)
    else:
        raise AssertionError("the sign-in repair did not go")
    await steps.shot("sign-in-repair-done")
    entry: dict[str, Any] = {}
    for _ in range(60):
        [entry] = await call_ws(page, {"type": "config_entries/get", "domain": DOMAIN})
        if entry["state"] == "loaded":
            break
        await asyncio.sleep(1)
    assert entry["state"] == "loaded", entry
    await page.keyboard.press("Escape")


async def check_reauth_card(page: Page, url: str, info: dict[str, Any], steps: Steps) -> None:
    """The gateway refuses the token: a reauthentication card titled with its serial."""
    await refuse_the_token(page, info)
    await page.goto(f"{url}/config/integrations/dashboard")
    await expect(page.locator("#ha-launch-screen")).to_have_count(0)
    await expect(page.get_by_text(f"IQ Gateway {info['serial']}").first).to_be_visible()
    await expect(page.get_by_text("Translation", exact=False)).to_have_count(0)
    await expect(page.get_by_text("MISSING_VALUE", exact=False)).to_have_count(0)
    await steps.shot("reauth-card")
    simulator(info, "DELETE", "/faults")


class Steps:
    """Screenshots, numbered in the order they were taken."""

    def __init__(self, page: Page, folder: Path) -> None:
        """Number screenshots from one."""
        self.page = page
        self.folder = folder
        self.count = 0

    async def shot(self, name: str) -> None:
        """Save a screenshot of the page as it is now."""
        self.count += 1
        await self.page.screenshot(path=self.folder / f"{self.count:02d}-{name}.png")
        print(f"  step {self.count:02d}: {name}", flush=True)


async def run(args: argparse.Namespace, info: dict[str, Any], power: float, folder: Path) -> None:
    """The whole browser session."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=args.chromium, args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        steps = Steps(page, folder)
        try:
            await page.goto(f"{args.url}/")
            await page.get_by_role("textbox", name="Username").fill(args.user)
            await page.get_by_role("textbox", name="Password").fill(args.password)
            await steps.shot("login")
            await page.keyboard.press("Enter")
            await page.wait_for_url(lambda u: "auth_callback" not in u and "/auth/" not in u)

            # Settings, where the repairs are listed and a pending HTTP setting would ask.
            await page.goto(f"{args.url}/config/dashboard")
            await expect(page.get_by_text("Devices & services").first).to_be_visible()
            await expect(page.locator("#ha-launch-screen")).to_have_count(0)
            await check_http_settings_quiet(page)
            await steps.shot("settings")

            # A setup left at the sign-in menu by a page reload: adding again must work.
            await add_gateway(page, info["host"])
            await expect(page.get_by_text("Paste a token")).to_be_visible()
            await page.reload()
            await add_gateway(page, info["host"], steps)
            await expect(page.get_by_text("already being", exact=False)).to_have_count(0)

            await page.get_by_text("Paste a token").click()
            token = page.get_by_role("textbox", name="Token")
            await expect(token).to_be_visible()
            await token.fill("not-a-token")
            await page.get_by_role("button", name="Submit").click()
            await expect(page.get_by_text(BAD_TOKEN_TEXT)).to_be_visible()
            await expect(page.get_by_text("invalid_token", exact=True)).to_have_count(0)
            await steps.shot("config-flow-bad-token")

            await token.fill(info["token"])
            await steps.shot("config-flow-token")
            await page.get_by_role("button", name="Submit").click()
            # The success dialog: 2026.x names the new devices, 2025.x only says it is done.
            done = page.get_by_text("Name and assign").or_(
                page.get_by_text("Created configuration for")
            )
            await expect(done.first).to_be_visible()
            await steps.shot("config-flow-done")
            finish = page.get_by_role("button", name="Skip and finish").or_(
                page.get_by_role("button", name="Finish")
            )
            await finish.first.click()

            await page.goto(f"{args.url}/config/integrations/integration/enphase_iq_gateway")
            for device in ("IQ Gateway", "Battery system", "Production CT", "Net consumption CT"):
                await expect(page.get_by_text(device, exact=True).first).to_be_visible()
            await steps.shot("integration-page")
            await page.get_by_text("IQ Gateway", exact=True).first.click()
            for sensor in ("Grid power", "House load power", "Lifetime production"):
                await expect(page.get_by_text(sensor, exact=True).first).to_be_visible()
            name = page.get_by_text("Production power", exact=True)
            await expect(name.first).to_be_visible()
            await steps.shot("device-page")
            # The entity's own dialog shows its state alone, big: that is the value shown.
            await name.first.click()
            value = page.locator("ha-more-info-dialog").get_by_text(
                re.compile(rf"^\s*{round(power):,}\s*W\s*$")
            )
            await expect(value.first).to_be_visible()
            await steps.shot("production-power")
            print(f"  production power shown: {round(power):,} W (capture: {power} W)", flush=True)

            await check_sign_in_repair(page, args.url, info, steps)
            await check_reauth_card(page, args.url, info, steps)
        except Exception:
            await steps.shot("failure")
            raise
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--simulator", required=True, help="the simulator's --info-file")
    parser.add_argument("--capture", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args(argv)
    folder = Path(args.screenshots)
    folder.mkdir(parents=True, exist_ok=True)
    info = json.loads(Path(args.simulator).read_text())
    asyncio.run(run(args, info, expected_production_power(Path(args.capture)), folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
