"""`python -m examples.flash_sale --port 0 [--fault NAME] [--stock N]`: serve the sale.

Prints its URL on the first line, then serves until interrupted (SIGINT or SIGTERM). State is
a fresh SQLite database in a private temporary folder, removed at exit (`--db PATH` keeps it
there instead, replaced at start). Bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import textwrap
import threading
import time

from examples.flash_sale import sale as sale_module
from examples.flash_sale import store
from examples.flash_sale.app import create_app
from examples.flash_sale.faults import EXHAUSTED_POOL_SIZE, FAULTS, FaultError, check_faults
from examples.flash_sale.pool import ConnectionPool
from examples.flash_sale.server import BindError, bind, make_server

LOOPBACK = "127.0.0.1"
POOL_SIZE = 8
POOL_WAIT_S = 2.0


class UsageError(Exception):
    """Bad command-line input: the message is the whole error line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m examples.flash_sale", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Serve the Flash Sale backend: one SKU in limited stock, one unit per customer, "
                            "a 2-hour sale from start on the server's wall clock.",
                epilog="planted faults (--fault NAME):\n" + "\n".join(
                    textwrap.fill(f"{name}: {text}", 88, initial_indent="  ", subsequent_indent="      ")
                    for name, text in FAULTS.items()))
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--host", default=LOOPBACK, help="address to listen on (default: loopback only)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME", choices=list(FAULTS),
                   help="plant a fault (repeatable; see below)")
    p.add_argument("--stock", type=int, default=sale_module.STOCK,
                   help=f"units on sale (default {sale_module.STOCK}; the scenario's budget is stock x price)")
    p.add_argument("--price-fen", type=int, default=sale_module.PRICE_FEN,
                   help=f"unit price in fen (default {sale_module.PRICE_FEN})")
    p.add_argument("--opens-in", type=float, default=0.0, help="seconds from now until the sale opens")
    p.add_argument("--pool-size", type=int, default=POOL_SIZE,
                   help=f"database connections (default {POOL_SIZE}; pool-exhausted: {EXHAUSTED_POOL_SIZE})")
    p.add_argument("--db", default=None, help="SQLite file to keep the state in (replaced at start; "
                                              "default: a temporary one removed at exit)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        faults = check_faults(args.fault)
        if args.stock < 0 or args.price_fen < 1 or args.pool_size < 1:
            raise UsageError("--stock must be >= 0, --price-fen and --pool-size >= 1")
        sock = bind(args.host, args.port)
    except (UsageError, FaultError, BindError) as exc:
        print(f"flash_sale: error: {exc}", file=sys.stderr)
        return 2
    sale = sale_module.Sale(stock=args.stock, price_fen=args.price_fen,
                            opens_at=time.time() + args.opens_in)
    with tempfile.TemporaryDirectory(prefix="flash-sale-") as folder:
        path = args.db or os.path.join(folder, "sale.sqlite3")
        store.create(path, sale, unique_orders="double-order" not in faults)
        exhausted = "pool-exhausted" in faults
        pool = ConnectionPool(path, EXHAUSTED_POOL_SIZE if exhausted else args.pool_size,
                              0.0 if exhausted else POOL_WAIT_S)
        server = make_server(sock, create_app(sale, pool, faults))
        host, port = sock.getsockname()[:2]
        print(f"Flash Sale backend at http://{host}:{port}", flush=True)
        print(f"on sale: {sale.stock} x {sale.sku} at {sale.price_fen} fen, one per customer, "
              f"{sale.length_s / 3600:g} h", flush=True)
        if faults:
            print(f"planted faults: {', '.join(sorted(faults))}", flush=True)
        _stop_on_signals(server)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
            pool.close()
    return 0


def _stop_on_signals(server) -> None:
    """SIGINT and SIGTERM end serve_forever (shutdown() must come from another thread)."""
    def stop(signum, frame) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
