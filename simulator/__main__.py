"""``python -m simulator``: serve a capture as a fake IQ Gateway, with a fake Enphase cloud.

Prints the address to enter in Home Assistant, the gateway serial and a token to paste,
then serves until interrupted (Ctrl-C).
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
from .cloud import CloudSimulator
from .gateway import CONTROL_PREFIX, GatewaySimulator
from .tokens import TokenAuthority, TokenRejectedError

DEFAULT_CAPTURE = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "fixtures"
    / "8.2.127_with_3cts_and_battery_split"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Serve a capture folder as a fake Enphase IQ Gateway (and a fake Enphase cloud).",
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
        "--latency", type=float, default=0.0, help="seconds to wait before each answer"
    )
    parser.add_argument(
        "--single-worker",
        action="store_true",
        help="answer one request at a time, like a real gateway",
    )
    parser.add_argument(
        "--info-file", type=Path, help="also write the printed details as JSON to this file"
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        help="keep the token signing key in this file, so tokens stay valid across restarts",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help="reuse the token stored in this file while it is valid (written when missing)",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Start both simulators, print how to use them, and serve until stopped.

    ``stop`` ends the serving when set; without one, SIGINT (Ctrl-C) or SIGTERM does.
    """
    capture = Capture.load(args.capture)
    authority = TokenAuthority.from_file(args.key_file) if args.key_file else TokenAuthority()
    gateway = GatewaySimulator(
        capture, authority=authority, host=args.host, port=args.port, tls=args.tls
    )
    gateway.latency = args.latency
    gateway.single_worker = args.single_worker
    cloud = CloudSimulator(authority, host=args.host, port=args.cloud_port)
    email, _, password = args.account.partition(":")
    role = "installer" if args.installer else "owner"
    cloud.add_account(email, password, {capture.serial}, role=role)
    await gateway.start()
    await cloud.start()
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
        "ca_file": str(cloud.certificate.ca_path),
        "control_url": f"{gateway.url}{CONTROL_PREFIX}",
    }
    if args.info_file:
        args.info_file.write_text(json.dumps(details, indent=2))
    print(
        f"IQ Gateway simulator: {capture.name} (firmware {capture.firmware}, serial {gateway.serial})\n"
        f"  Gateway:   {gateway.url}   (enter host {gateway.address} in Home Assistant)\n"
        + (
            f"  Token:     {token}\n"
            if capture.requires_token
            else "  Token:     not needed (firmware before 7)\n"
        )
        + f'  Try:       curl -k -H "Authorization: Bearer $TOKEN" {gateway.url}/ivp/meters/readings\n'
        f"  Cloud:     {cloud.url}   (account {email} / {password}, CA {cloud.certificate.ca_path})\n"
        f"  Control:   {gateway.url}{CONTROL_PREFIX}/stats | /faults | /settings | /token\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await cloud.stop()
        await gateway.stop()


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
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
