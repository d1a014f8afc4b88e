"""Prepare and drive a development Home Assistant (standard library only).

    ha_bootstrap.py http-settings CONFIG_DIR PORT      before it starts: listen on 127.0.0.1:PORT
    ha_bootstrap.py wait URL [--timeout S]
    ha_bootstrap.py onboard URL USER PASSWORD          prints an access token
    ha_bootstrap.py add-gateway URL TOKEN INFO_JSON    adds the simulator's gateway (token path)
        [--sign-in]                                    ... signing in with the simulated account
                                                       instead (and its one-time code, if any)

Used by scripts/develop and scripts/e2e. Onboarding creates the owner account through the
same endpoints the onboarding screens use; an already onboarded instance is signed in to
with the login flow instead.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import socket
import ssl
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

DOMAIN = "enphase_iq_gateway"
# Onboarding adds these; they need the internet, which a development machine may lack,
# and would only fill the log with their errors.
ONBOARDING_EXTRAS = {"met", "radio_browser", "google_translate", "shopping_list"}


def http_settings(config_dir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Write Home Assistant's HTTP settings where 2026.x keeps them, before it starts.

    Since 2026.x the ``http:`` block of configuration.yaml is deprecated: Home Assistant
    imports it once as an unconfirmed ("pending") setting, asks in the browser to confirm
    it within five minutes (or reverts and restarts), and raises a repair issue until the
    block is gone. Its settings live in ``.storage/http`` instead (edited under Settings >
    System > Network): a confirmed ("stable") setting, nothing pending, the YAML import
    done. Without the file it would listen on every interface; this development instance
    has the password "dev", so it listens on the loopback interface only. The layout is
    the one Home Assistant 2026.10 writes itself (storage version 2.2).
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise SystemExit(
                f"{host}:{port} is in use ({err.strerror}): choose another port"
            ) from None
    stable = {
        "server_host": [host],
        "server_port": port,
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "modern",
        "use_x_frame_options": True,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "error": None,
        "error_message": None,
    }
    store = {
        "version": 2,
        "minor_version": 2,
        "key": "http",
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path = config_dir / ".storage" / "http"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private, as HA keeps it
    with os.fdopen(fd, "w") as file:
        json.dump(store, file, indent=2)


def request(
    url: str,
    *,
    data: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
    method: str | None = None,
    context: ssl.SSLContext | None = None,
) -> Any:
    """One HTTP request; JSON in and out."""
    headers = {}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=60, context=context) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def wait(url: str, timeout: float) -> None:
    """Until Home Assistant answers HTTP (any status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/manifest.json", timeout=5).close()
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Home Assistant did not answer at {url} within {timeout:.0f} s"
                ) from None
            time.sleep(1)
        else:
            return


def onboard(url: str, username: str, password: str) -> str:
    """Create the owner account (or sign in to it) and finish onboarding; an access token."""
    client_id = f"{url}/"
    try:
        steps = {s["step"]: s["done"] for s in request(f"{url}/api/onboarding")}
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise
        # Onboarding removes its endpoints once it is complete: sign in instead.
        steps = dict.fromkeys(("user", "core_config", "analytics", "integration"), True)
    if not steps.get("user"):
        code = request(
            f"{url}/api/onboarding/users",
            data={
                "client_id": client_id,
                "name": "Developer",
                "username": username,
                "password": password,
                "language": "en",
            },
        )["auth_code"]
    else:
        flow = request(
            f"{url}/auth/login_flow",
            data={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{url}/?auth_callback=1",
            },
        )
        result = request(
            f"{url}/auth/login_flow/{flow['flow_id']}",
            data={"client_id": client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise SystemExit(f"could not sign in as {username}: {result.get('errors')}")
        code = result["result"]
    token = str(
        request(
            f"{url}/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": client_id},
        )["access_token"]
    )
    fresh = not all(steps.values())
    for step, payload in (
        ("core_config", {}),
        ("analytics", {}),
        ("integration", {"client_id": client_id, "redirect_uri": f"{url}/?auth_callback=1"}),
    ):
        if not steps.get(step):
            try:
                request(f"{url}/api/onboarding/{step}", data=payload, token=token)
            except urllib.error.HTTPError as err:
                if err.code != 403:  # 403: this step is already done
                    raise
    if fresh:
        # Onboarding sets these up in the background: give them a few seconds to appear.
        deadline = time.monotonic() + 15
        removed: set[str] = set()
        while time.monotonic() < deadline and removed != ONBOARDING_EXTRAS:
            for entry in request(f"{url}/api/config/config_entries/entry", token=token):
                if entry["domain"] in ONBOARDING_EXTRAS:
                    request(
                        f"{url}/api/config/config_entries/entry/{entry['entry_id']}",
                        token=token,
                        method="DELETE",
                    )
                    removed.add(entry["domain"])
            time.sleep(1)
    return token


def add_gateway(url: str, token: str, info: dict[str, Any], *, sign_in: bool = False) -> str:
    """Add the simulator's gateway through the real config flow.

    By pasting its token; or, with ``sign_in``, by signing in with the simulated account,
    entering the one-time code the simulated cloud sent when it asks for one (read from
    the cloud's control API, as its owner would read the e-mail).
    """
    flow_url = f"{url}/api/config/config_entries/flow"
    flow = request(flow_url, data={"handler": DOMAIN, "show_advanced_options": False}, token=token)
    step = request(f"{flow_url}/{flow['flow_id']}", data={"host": info["host"]}, token=token)
    if step.get("type") == "abort" and step.get("reason") == "already_configured":
        return "already configured (host kept up to date)"
    if step.get("step_id") == "auth":
        how = "credentials" if sign_in else "token"
        step = request(f"{flow_url}/{flow['flow_id']}", data={"next_step_id": how}, token=token)
        answer = (
            {
                "username": info["account_email"],
                "password": info["account_password"],
                "serial": info["serial"],
            }
            if sign_in
            else {"token": info["token"], "serial": info["serial"]}
        )
        step = request(f"{flow_url}/{flow['flow_id']}", data=answer, token=token)
        if step.get("step_id") == "code":
            codes = request(
                f"{info['cloud_control_url']}/codes",
                context=ssl.create_default_context(cadata=info["ca_pem"]),
            )
            code = codes[info["account_email"].lower()]
            step = request(f"{flow_url}/{flow['flow_id']}", data={"code": code}, token=token)
    elif step.get("step_id") == "confirm":
        step = request(f"{flow_url}/{flow['flow_id']}", data={}, token=token)
    if step.get("type") != "create_entry":
        raise SystemExit(f"the config flow did not finish: {json.dumps(step)}")
    return "added" + (" (two-step sign-in, with the code the cloud sent)" if sign_in else "")


def set_options(url: str, token: str, changes: dict[str, Any]) -> str:
    """Change options of the integration's entry through its options flow.

    The options not named keep the values the form suggests (the entry's current ones).
    """
    entries = request(f"{url}/api/config/config_entries/entry", token=token)
    entry = next((e for e in entries if e["domain"] == DOMAIN), None)
    if entry is None:
        raise SystemExit("no IQ Gateway entry to set options on")
    form = request(
        f"{url}/api/config/config_entries/options/flow",
        data={"handler": entry["entry_id"]},
        token=token,
    )
    data = {
        field["name"]: (field.get("description") or {}).get("suggested_value", field.get("default"))
        for field in form["data_schema"]
    }
    data.update(changes)
    step = request(
        f"{url}/api/config/config_entries/options/flow/{form['flow_id']}", data=data, token=token
    )
    if step.get("type") != "create_entry":
        raise SystemExit(f"the options flow did not finish: {json.dumps(step)}")
    return ", ".join(f"{name} {value}" for name, value in changes.items())


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="ha_bootstrap.py")
    sub = parser.add_subparsers(dest="command", required=True)
    p_http = sub.add_parser("http-settings")
    p_http.add_argument("config_dir", type=Path)
    p_http.add_argument("port", type=int)
    p_wait = sub.add_parser("wait")
    p_wait.add_argument("url")
    p_wait.add_argument("--timeout", type=float, default=180)
    p_onboard = sub.add_parser("onboard")
    p_onboard.add_argument("url")
    p_onboard.add_argument("username")
    p_onboard.add_argument("password")
    p_add = sub.add_parser("add-gateway")
    p_add.add_argument("url")
    p_add.add_argument("token")
    p_add.add_argument("info", type=Path)
    p_add.add_argument("--sign-in", action="store_true")
    p_options = sub.add_parser("set-options")
    p_options.add_argument("url")
    p_options.add_argument("token")
    p_options.add_argument("options", nargs="+", metavar="NAME=SECONDS")
    args = parser.parse_args(argv)
    if args.command == "http-settings":
        http_settings(args.config_dir, args.port)
    elif args.command == "wait":
        wait(args.url, args.timeout)
    elif args.command == "onboard":
        print(onboard(args.url, args.username, args.password))
    elif args.command == "set-options":
        changes = dict(option.split("=", 1) for option in args.options)
        print(set_options(args.url, args.token, {k: int(v) for k, v in changes.items()}))
    else:
        info = json.loads(args.info.read_text())
        print(add_gateway(args.url, args.token, info, sign_in=args.sign_in))
    return 0


if __name__ == "__main__":
    sys.exit(main())
