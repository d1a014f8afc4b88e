"""``python -m simulator``: options, serving until stopped, and the process itself."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
import signal
import socket
import ssl
import subprocess
import sys
import time
from typing import Any
import urllib.request

import aiohttp
import pytest

from custom_components.enphase_iq_gateway.iqgateway import EnlightenClient
from simulator import __main__ as cli
from tests.conftest import FIXTURES, RICH_CAPTURE

REPO = Path(__file__).resolve().parents[2]


def test_parse_args_defaults_and_flags(tmp_path: Path) -> None:
    """The defaults serve the demo site on any free ports; flags are read."""
    defaults = cli.parse_args([])
    assert defaults.capture == REPO / "simulator" / "demo_site"
    assert defaults.capture == cli.DEFAULT_CAPTURE
    assert (defaults.host, defaults.port, defaults.cloud_port) == ("127.0.0.1", 0, 0)
    assert defaults.tls is None
    assert defaults.account == "owner@example.com:owner-password"
    assert not defaults.installer
    assert not defaults.single_worker
    assert defaults.latency == 0.0
    assert defaults.info_file is None

    args = cli.parse_args(
        [
            "--capture",
            str(tmp_path),
            "--http",
            "--port",
            "8080",
            "--cloud-port",
            "8443",
            "--installer",
            "--latency",
            "0.5",
            "--single-worker",
            "--info-file",
            str(tmp_path / "info.json"),
            "--key-file",
            str(tmp_path / "key.pem"),
            "--token-file",
            str(tmp_path / "token"),
        ]
    )
    assert args.capture == tmp_path
    assert args.tls is False
    assert (args.port, args.cloud_port, args.latency) == (8080, 8443, 0.5)
    assert args.installer
    assert args.single_worker
    assert args.key_file == tmp_path / "key.pem"
    assert cli.parse_args(["--https"]).tls is True
    with pytest.raises(SystemExit):
        cli.parse_args(["--http", "--https"])


def test_parse_args_for_the_site_and_the_account() -> None:
    """Inverters, moving numbers, scenarios, the live stream, two-step sign-in."""
    defaults = cli.parse_args([])
    assert defaults.inverters is None
    assert not defaults.moving
    assert defaults.scenario == []
    assert defaults.stream_timeout == 900
    assert defaults.stream_owner_refusal is None
    assert defaults.live_stream == "off"
    assert not defaults.mfa

    args = cli.parse_args(
        [
            "--inverters",
            "200",
            "--moving",
            "--scenario",
            "dip:polls=5,factor=0.9,path=/ivp/meters/readings",
            "--scenario",
            "rollover:modulus=1000, field=actEnergyDlvd",
            "--scenario",
            "drop",
            "--stream-timeout",
            "60",
            "--stream-owner-refusal",
            "403",
            "--live-stream",
            "on",
            "--mfa",
        ]
    )
    assert args.live_stream == "on"
    assert args.inverters == 200
    assert args.moving
    assert [s.as_dict() for s in args.scenario] == [
        {
            "kind": "dip",
            "path": "/ivp/meters/readings",
            "field": None,
            "polls": 5,
            "factor": 0.9,
            "modulus": None,
            "phase": 1,
            "meter": None,
            "seen": {},
        },
        {
            "kind": "rollover",
            "path": None,
            "field": "actEnergyDlvd",
            "polls": 1,
            "factor": None,
            "modulus": 1000.0,
            "phase": 1,
            "meter": None,
            "seen": {},
        },
        {
            "kind": "drop",
            "path": None,
            "field": None,
            "polls": 1,
            "factor": 0.5,
            "modulus": None,
            "phase": 1,
            "meter": None,
            "seen": {},
        },
    ]
    assert cli.parse_args(["--scenario", "dip:polls=none"]).scenario[0].polls is None
    assert (args.stream_timeout, args.stream_owner_refusal, args.mfa) == (60, 403, True)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("melt", "bad scenario"),
        ("dip:polls", "is not NAME=VALUE"),
        ("dip:polls=many", "polls must be a number"),
        ("dip:factor=-1", "factor must be at least 0"),
        ("dip:colour=red", "unknown field"),
    ],
)
def test_bad_scenario_options(spec: str, error: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario the command line cannot read stops it with a message."""
    with pytest.raises(SystemExit):
        cli.parse_args(["--scenario", spec])
    assert error in capsys.readouterr().err


def test_help_lists_the_options_and_the_control_api(capsys: pytest.CaptureFixture[str]) -> None:
    """--help is where a developer discovers it all."""
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    text = capsys.readouterr().out
    for needle in (
        "--inverters N",
        "--moving",
        "--scenario",
        "--mfa",
        "--stream-timeout",
        "--stream-owner-refusal",
        "--live-stream",
        "/__simulator/counters",
        "/__simulator/clock",
        "/__simulator/codes",
        "otp_endpoints_status",
        "rollover",
    ):
        assert needle in text, needle


async def run_until_announced(
    argv: list[str], info_file: Path
) -> tuple[asyncio.Task[None], asyncio.Event, dict[str, Any]]:
    """Start serve() as a task and wait until it wrote its details."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        cli.serve(cli.parse_args([*argv, "--info-file", str(info_file)]), stop)
    )
    async with asyncio.timeout(10):
        while not info_file.exists():  # noqa: ASYNC240 - a small local file
            assert not task.done(), task
            await asyncio.sleep(0.01)
    return task, stop, json.loads(info_file.read_text())  # noqa: ASYNC240


async def stop_serving(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Set the stop event; serve() returns after closing both ports."""
    stop.set()
    async with asyncio.timeout(5):
        await task


async def test_serve_until_stopped(
    tmp_path: Path, loopback: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed token opens the gateway, the printed account the cloud; stop ends it."""
    info_file = tmp_path / "info.json"
    task, stop, details = await run_until_announced(
        ["--capture", str(FIXTURES / RICH_CAPTURE), "--latency", "0.01", "--single-worker"],
        info_file,
    )
    try:
        out = capsys.readouterr().out
        assert details["token"] in out
        assert details["host"] in out
        assert "Ctrl-C stops it." in out
        assert details["token_required"] is True
        assert details["role"] == "owner"
        assert details["control_url"] == f"{details['gateway_url']}/__simulator"

        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {details['token']}"}
            url = f"{details['gateway_url']}/ivp/meters/readings"
            async with session.get(url, headers=headers, ssl=False) as response:
                assert response.status == 200
            async with session.get(url, ssl=False) as response:
                assert response.status == 401
            async with session.get(f"{details['control_url']}/settings", ssl=False) as response:
                settings = await response.json()
                assert settings["latency"] == 0.01
                assert settings["single_worker"] is True
                assert settings["moving"] is False
            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as jarless:
                cloud = EnlightenClient(
                    jarless,
                    enlighten_url=details["cloud_url"],
                    entrez_url=details["cloud_url"],
                    ssl_context=ssl.create_default_context(cafile=details["ca_file"]),
                )
                info = await cloud.fetch_token(
                    details["account_email"], details["account_password"], details["serial"]
                )
            async with session.get(
                url, headers={"Authorization": f"Bearer {info.token}"}, ssl=False
            ) as response:
                assert response.status == 200
    finally:
        await stop_serving(task, stop)

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get(f"{details['gateway_url']}/info", ssl=False)


async def test_serve_a_large_moving_two_step_site(
    tmp_path: Path, loopback: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """200 inverters that move, a dip scenario, and a printed code that signs in."""
    task, stop, details = await run_until_announced(
        ["--inverters", "200", "--moving", "--scenario", "dip:polls=2", "--mfa"],
        tmp_path / "info.json",
    )
    try:
        assert details["inverters"] == 200
        assert details["moving"] is True
        assert details["account_two_step"] is True
        assert [s["kind"] for s in details["scenarios"]] == ["dip"]
        banner = capsys.readouterr().out
        assert "moving, 200 microinverters" in banner
        assert details["account_password"] not in banner
        headers = {"Authorization": f"Bearer {details['token']}"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            url = f"{details['gateway_url']}/api/v1/production/inverters"
            async with session.get(url, headers=headers, ssl=False) as response:
                assert len(await response.json()) == 200
            url = f"{details['gateway_url']}/ivp/livedata/status"
            async with session.get(url, headers=headers, ssl=False) as response:
                assert (await response.json())["connection"]["sc_stream"] == "disabled"
            async with session.get(f"{details['control_url']}/counters", ssl=False) as response:
                # Each request to a path with numbers counts as a poll of that path.
                assert (await response.json())[0]["seen"] == {
                    "/api/v1/production/inverters": 1,
                    "/ivp/livedata/status": 1,
                }

            cloud = details["cloud_url"]
            # The CA as text too, for a client in another file system (scripts/develop).
            context = ssl.create_default_context(cadata=details["ca_pem"])
            async with session.post(
                f"{cloud}/login/login.json",
                data={
                    "user[email]": details["account_email"],
                    "user[password]": details["account_password"],
                },
                ssl=context,
            ) as response:
                assert await response.json() == {"success": True, "isBlocked": False}
            printed = capsys.readouterr().out
            assert printed.startswith(f"Enlighten one-time code for {details['account_email']}: ")
            code = printed.split(": ")[1].strip()
            async with session.get(
                f"{details['cloud_control_url']}/codes", ssl=context
            ) as response:
                assert await response.json() == {details["account_email"]: code}
            xsrf = next(m.value for m in session.cookie_jar if m.key == "XSRF-TOKEN")
            async with session.post(
                f"{cloud}/app-api/validate_login_otp",
                data={
                    "email": base64.b64encode(details["account_email"].encode()).decode(),
                    "otp": base64.b64encode(code.encode()).decode(),
                },
                headers={"X-Requested-With": "XMLHttpRequest", "X-CSRF-Token": xsrf},
                ssl=context,
            ) as response:
                # The default reply is the one the cloud gives today: a session, no isValid.
                assert (await response.json())["session_id"]
    finally:
        await stop_serving(task, stop)


def test_main_when_the_port_is_taken(loopback: None, capsys: pytest.CaptureFixture[str]) -> None:
    """A port in use: exit code 2 and the reason."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["--port", str(port)]) == 2
    assert "error:" in capsys.readouterr().err


async def test_token_and_key_files_survive_a_restart(tmp_path: Path, loopback: None) -> None:
    """With a key file the token file's token is reused; a useless one is replaced."""
    files = ["--key-file", str(tmp_path / "key.pem"), "--token-file", str(tmp_path / "token")]
    argv = ["--capture", str(FIXTURES / "7.6.175_with_cts"), "--installer", *files]
    task, stop, first = await run_until_announced(argv, tmp_path / "1.json")
    await stop_serving(task, stop)
    assert (tmp_path / "token").read_text() == first["token"]
    assert first["role"] == "installer"

    task, stop, second = await run_until_announced(argv, tmp_path / "2.json")
    await stop_serving(task, stop)
    assert second["token"] == first["token"]

    (tmp_path / "token").write_text("not a token")
    task, stop, third = await run_until_announced(argv, tmp_path / "3.json")
    await stop_serving(task, stop)
    assert third["token"] != first["token"]
    assert (tmp_path / "token").read_text() == third["token"]


async def test_legacy_capture(
    tmp_path: Path, loopback: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Firmware before 7 needs no token; --https serves it over TLS all the same."""
    task, stop, details = await run_until_announced(
        ["--capture", str(FIXTURES / "5.0.62"), "--https"], tmp_path / "info.json"
    )
    await stop_serving(task, stop)
    assert details["token_required"] is False
    assert details["gateway_url"].startswith("https://")
    assert "not needed" in capsys.readouterr().out


def test_main_without_a_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing folder, or one that is not a capture: exit code 2 and a message."""
    assert cli.main(["--capture", str(tmp_path / "missing")]) == 2
    assert "error: no capture folder" in capsys.readouterr().err
    assert cli.main(["--capture", str(tmp_path)]) == 2
    assert "no 'info' file" in capsys.readouterr().err


def test_main_returns_0_after_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean stop exits 0."""
    served: list[Any] = []

    async def serve(args: Any) -> None:
        served.append(args)

    monkeypatch.setattr(cli, "serve", serve)
    assert cli.main(["--latency", "1"]) == 0
    assert served[0].latency == 1


def test_process_stops_on_sigint(tmp_path: Path, loopback: None) -> None:
    """The real command: serves, answers with the printed token, ends cleanly on Ctrl-C."""
    info_file = tmp_path / "info.json"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "simulator",
            "--capture",
            str(FIXTURES / RICH_CAPTURE),
            "--info-file",
            str(info_file),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not info_file.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        details = json.loads(info_file.read_text())  # written whole, once the ports listen
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{details['gateway_url']}/api/v1/production",
            headers={"Authorization": f"Bearer {details['token']}"},
        )
        with urllib.request.urlopen(request, context=context, timeout=5) as response:  # noqa: S310
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert details["token"] in out
    assert "Traceback" not in err
