"""``python -m simulator``: serve a capture as a fake IQ Gateway, with a fake Enphase cloud.

Prints the address to enter in Home Assistant, the gateway serial and a token to paste,
then serves until interrupted (Ctrl-C). Examples::

    python -m simulator                                   # the rich 3-CT battery site
    python -m simulator --inverters 200 --moving          # 200 microinverters, live numbers
    python -m simulator --scenario dip:polls=5            # counters 5 % low for 5 polls
    python -m simulator --mfa                             # a two-step account; codes printed

While it runs, ``curl -k URL/__simulator/...`` changes it (see ``--help``'s epilog).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path
import signal
import sys

from .capture import Capture
from .clock import Clock
from .cloud import CloudSimulator
from .gateway import GatewaySimulator
from .scenarios import CounterScenario
from .site import DEFAULT_STREAM_TIMEOUT
from .synthetic import with_inverters
from .tokens import TokenAuthority, TokenRejectedError

EPILOG = """\
control API (JSON; curl -k; bodies are JSON objects):
  gateway  GATEWAY/__simulator/stats       GET, DELETE  requests, JWT checks, stream posts
           GATEWAY/__simulator/settings    GET, POST    latency, session_idle, single_worker,
                                                        outage, moving, report_interval,
                                                        stream_timeout, stream_owner_refusal
           GATEWAY/__simulator/clock       GET, POST    {"advance": 300}: five minutes on
           GATEWAY/__simulator/faults      GET, POST, DELETE  {"kind": "server_error", ...}
           GATEWAY/__simulator/counters    GET, POST, DELETE  {"kind": "dip", "polls": 5}
           GATEWAY/__simulator/token       POST         {"role": "installer"}
           GATEWAY/__simulator/sessions    DELETE       forget cookie sessions
  cloud    CLOUD/__simulator/stats | settings | clock (as above; settings: outage,
           outage_mode, login_status, login_reply, otp_lifetime, otp_max_tries,
           otp_expiry_hint, otp_block_status, otp_endpoints_status, otp_reply,
           otp_wrong_status, otp_expired_status, xsrf_cookie)
           CLOUD/__simulator/codes         GET          {email: last one-time code}

moving numbers (--moving, or POST GATEWAY/__simulator/settings {"moving": true}):
  every power is its captured value times one factor (0.65-1.35) that changes over the
  minutes; every lifetime counter grows by the energy of its power; microinverters report
  every report_interval (300) s, each at its own moment. POST .../clock {"advance": 300}
  jumps ahead.

live stream: POST GATEWAY/ivp/livedata/stream {"enable": 1} (with a token) switches it on
  for --stream-timeout seconds; /ivp/livedata/status moves only while it is on.

counter scenarios (--scenario KIND[:NAME=VALUE,...], or POST .../counters):
  dip       factor (0.95) of the value for the next `polls` polls (1; none = until cleared)
  drop      factor (0.5) of the value from the next poll on, growing from there
  rollover  the counter counts modulo `modulus` (default: wraps at once to ~1 %)
  phase_lost  a split-phase meter's channel `phase` (1) reads 0, its totals the other's
  inactive  /production.json's meter entries say activeCount 0
  unknown   every number of `path` reads "unknown" (after a gateway reboot)
  path=/ivp/meters/readings and field=actEnergyRcvd narrow it; a poll is one request to a
  path. DELETE .../counters ends them all.
"""
# The development demo: a real capture whose storage CT and live data are made to balance
# (see its _README.md). Tests use the real captures in tests/fixtures.
DEFAULT_CAPTURE = Path(__file__).resolve().parent / "demo_site"


def parse_scenario(text: str) -> CounterScenario:
    """``KIND[:NAME=VALUE,...]`` (e.g. ``dip:polls=5,path=/ivp/meters/readings``)."""
    kind, _, rest = text.partition(":")
    data: dict[str, object] = {"kind": kind.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{item!r} is not NAME=VALUE")
        data[name] = _scenario_value(name, value.strip())
    try:
        return CounterScenario.from_dict(data)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"bad scenario {text!r}: {err}") from err


def _scenario_value(name: str, value: str) -> object:
    if name not in ("polls", "factor", "modulus", "phase", "meter"):
        return value  # path, field (and names from_dict will refuse)
    if value.lower() in ("none", "null"):
        return None
    try:
        return int(value) if name in ("polls", "phase", "meter") else float(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{name} must be a number, not {value!r}") from err


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Serve a capture folder as a fake Enphase IQ Gateway (and a fake Enphase cloud).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--capture",
        type=Path,
        default=DEFAULT_CAPTURE,
        help="capture folder (default: %(default)s)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="gateway port (default: any free port)")
    scheme = parser.add_mutually_exclusive_group()
    scheme.add_argument(
        "--https", dest="tls", action="store_true", default=None, help="force HTTPS"
    )
    scheme.add_argument("--http", dest="tls", action="store_false", help="force plain HTTP")
    parser.add_argument(
        "--cloud-port", type=int, default=0, help="Enphase cloud port (default: any free port)"
    )
    parser.add_argument(
        "--account",
        default="owner@example.com:owner-password",
        help="Enlighten account EMAIL:PASSWORD with this gateway on it (default: %(default)s)",
    )
    parser.add_argument(
        "--installer",
        action="store_true",
        help="issue installer tokens (12 h) instead of owner ones (1 year)",
    )
    parser.add_argument(
        "--mfa",
        action="store_true",
        help="the account signs in in two steps: password, then a one-time code "
        "(printed here each time the cloud sends one)",
    )
    site = parser.add_argument_group("the site's numbers")
    site.add_argument(
        "--inverters",
        type=int,
        metavar="N",
        help="list N microinverters (the captured ones, then made-up ones like them)",
    )
    site.add_argument(
        "--moving",
        action="store_true",
        help="powers change over time and energy counters grow with them",
    )
    site.add_argument(
        "--scenario",
        action="append",
        default=[],
        type=parse_scenario,
        metavar="KIND[:NAME=VALUE,...]",
        help="play a counter scenario (dip, drop, rollover; see below); repeatable",
    )
    site.add_argument(
        "--stream-timeout",
        type=float,
        default=DEFAULT_STREAM_TIMEOUT,
        metavar="SECONDS",
        help="the live stream lapses this long after it is switched on (default: %(default)s)",
    )
    site.add_argument(
        "--live-stream",
        choices=("off", "on", "captured"),
        default="off",
        help="the live stream at start: off (the live data is stale until a client "
        "switches the stream on), on, or captured (the capture's body as it is) "
        "(default: %(default)s)",
    )
    site.add_argument(
        "--stream-owner-refusal",
        type=int,
        choices=(401, 403),
        help="refuse owner tokens switching the live stream on, with this status",
    )
    behaviour = parser.add_argument_group("the gateway's behaviour")
    behaviour.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before each answer"
    )
    behaviour.add_argument(
        "--single-worker",
        action="store_true",
        help="answer one request at a time, like a real gateway",
    )
    files = parser.add_argument_group("files")
    files.add_argument(
        "--info-file", type=Path, help="also write the printed details as JSON to this file"
    )
    files.add_argument(
        "--key-file",
        type=Path,
        help="keep the token signing key in this file, so tokens stay valid across restarts",
    )
    files.add_argument(
        "--token-file",
        type=Path,
        help="reuse the token stored in this file while it is valid (written when missing)",
    )
    return parser.parse_args(argv)


def print_code(email: str, code: str) -> None:
    """Show a one-time code the simulated cloud "sent" (the developer types it in)."""
    print(f"Enlighten one-time code for {email}: {code}", flush=True)


async def serve(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Start both simulators, print how to use them, and serve until stopped.

    ``stop`` ends the serving when set; without one, SIGINT (Ctrl-C) or SIGTERM does.
    """
    capture = Capture.load(args.capture)
    if args.inverters is not None:
        capture = with_inverters(capture, args.inverters)
    authority = TokenAuthority.from_file(args.key_file) if args.key_file else TokenAuthority()
    clock = Clock()
    gateway = GatewaySimulator(
        capture,
        authority=authority,
        host=args.host,
        port=args.port,
        tls=args.tls,
        clock=clock,
        moving=args.moving,
        stream_timeout=args.stream_timeout,
        live_stream={"off": False, "on": True}.get(args.live_stream),
    )
    gateway.latency = args.latency
    gateway.single_worker = args.single_worker
    gateway.stream_owner_refusal = args.stream_owner_refusal
    for scenario in args.scenario:
        gateway.site.scenarios.add(scenario)
    cloud = CloudSimulator(
        authority, host=args.host, port=args.cloud_port, clock=clock, on_code=print_code
    )
    email, _, password = args.account.partition(":")
    role = "installer" if args.installer else "owner"
    cloud.add_account(email, password, {capture.serial}, role=role, two_step=args.mfa)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as running:
        await running.enter_async_context(gateway)
        await running.enter_async_context(cloud)
        token = _reuse_token(args.token_file, authority, capture.serial) or gateway.issue_token(
            role, username=email
        )
        if args.token_file:
            args.token_file.write_text(token)
        details = {
            "capture": str(args.capture),
            "gateway_url": gateway.url,
            "host": gateway.address,
            "serial": gateway.serial,
            "firmware": capture.firmware,
            "token_required": capture.requires_token,
            "token": token,
            "role": role,
            "cloud_url": cloud.url,
            "account_email": email,
            "account_password": password,
            "account_two_step": args.mfa,
            "ca_file": str(cloud.certificate.ca_path),
            # The CA itself, for a client in another file system (a chroot) than ours.
            "ca_pem": cloud.certificate.ca_path.read_text(),
            "control_url": gateway.control_url,
            "cloud_control_url": cloud.control_url,
            "inverters": args.inverters,
            "moving": gateway.moving,
            "scenarios": gateway.site.scenarios.as_list(),
        }
        if args.info_file:
            _write_whole(args.info_file, json.dumps(details, indent=2))
        numbers = "moving" if gateway.moving else "as captured"
        if args.inverters is not None:
            numbers += f", {args.inverters} microinverters"
        scenarios = ", ".join(s.kind for s in args.scenario) or "none"
        print(
            f"IQ Gateway simulator: {capture.name} (firmware {capture.firmware}, serial {gateway.serial})\n"
            f"  Gateway:   {gateway.url}   (enter host {gateway.address} in Home Assistant)\n"
            + (
                f"  Token:     {token}\n"
                if capture.requires_token
                else "  Token:     not needed (firmware before 7)\n"
            )
            + f'  Try:       curl -k -H "Authorization: Bearer $TOKEN" {gateway.url}/ivp/meters/readings\n'
            f"  Numbers:   {numbers}; counter scenarios: {scenarios}\n"
            f"  Cloud:     {cloud.url}   (account {email}"
            + (", two-step sign-in: codes are printed here" if args.mfa else "")
            + f"; CA {cloud.certificate.ca_path})\n"
            f"  Control:   {gateway.control_url}/stats | /settings | /clock | /faults | /counters | /token | /sessions\n"
            f"             {cloud.control_url}/stats | /settings | /clock | /codes\n"
            "Ctrl-C stops it.",
            flush=True,
        )
        await stop.wait()


def _reuse_token(path: Path | None, authority: TokenAuthority, serial: str) -> str | None:
    """A token kept from an earlier run, if it is still one this gateway accepts."""
    if path is None or not path.is_file():
        return None
    token = path.read_text().strip()
    try:
        authority.verify(token, serial)
    except TokenRejectedError:
        return None
    return token


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _write_whole(path: Path, text: str) -> None:
    """Write ``path`` so that a reader waiting for it never sees it half written."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())
