"""`python -m examples.lucky_bag --port 0 [--fault X] [--at -60] [--speed 1]`: serve the backend.

Prints the URL and the ops key, one line each, then serves until interrupted. Bad input is one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import random
import secrets
import socket
import sys

import uvicorn

from examples.lucky_bag.app import create_app
from examples.lucky_bag.campaign import Campaign
from examples.lucky_bag.clock import CampaignClock
from examples.lucky_bag.faults import FAULTS, FaultError, check_faults
from examples.lucky_bag.game import Game

LOOPBACK = "127.0.0.1"


class UsageError(Exception):
    """Bad command-line input: the message is the whole error line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m examples.lucky_bag", description="Serve the Lucky Bag campaign backend.",
                epilog="faults: " + "; ".join(f"{name}: {text}" for name, text in FAULTS.items()))
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--host", default=LOOPBACK, help="address to listen on (default: loopback only)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME", help="plant a fault (repeatable)")
    p.add_argument("--at", type=float, default=0.0, help="campaign seconds since launch to start at "
                   "(negative: in the preheat)")
    p.add_argument("--speed", type=float, default=1.0, help="campaign seconds per wall second")
    p.add_argument("--seed", type=int, default=None, help="seed of the bag amounts")
    p.add_argument("--admin-key", default=None, help="the X-Admin-Key of the ops routes (default: random)")
    return p


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise UsageError(f"--port {port}: cannot listen on {host}:{port} "
                         f"({getattr(exc, 'strerror', None) or exc}); pick another, or 0 for any free one") from None
    sock.listen(2048)
    return sock


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        faults = check_faults(args.fault)
        if not args.speed > 0:
            raise UsageError(f"--speed {args.speed:g}: must be > 0 (campaign seconds per wall second)")
        sock = bind(args.host, args.port)
    except (UsageError, FaultError) as exc:
        print(f"lucky_bag: error: {exc}", file=sys.stderr)
        return 2
    game = Game(Campaign(), CampaignClock(args.at, args.speed), faults, random.Random(args.seed))
    admin_key = args.admin_key or secrets.token_hex(16)  # never starts with "-": passes as a flag value
    host, port = sock.getsockname()[:2]
    print(f"Lucky Bag backend at http://{host}:{port}", flush=True)
    print(f"ops key (header X-Admin-Key): {admin_key}", flush=True)
    if faults:
        print(f"planted faults: {', '.join(sorted(faults))}", flush=True)
    config = uvicorn.Config(create_app(game, admin_key), log_level="warning", access_log=False,
                            backlog=2048, timeout_keep_alive=75)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
