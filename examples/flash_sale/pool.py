"""A small bounded pool of SQLite connections, shared by the server's threads.

    pool = ConnectionPool(path, size=8, wait_s=2.0)
    with pool.connection() as db:      # NoConnection if none is free within wait_s
        db.execute(...)

Connections are opened when the pool is made, in autocommit mode (transactions are explicit:
`BEGIN IMMEDIATE` ... `COMMIT`), on a WAL database so readers do not wait for the writer. A
connection handed back inside a transaction (a handler that raised) is rolled back first.
"""

from __future__ import annotations

import queue
import sqlite3
from contextlib import contextmanager
from typing import Iterator

BUSY_TIMEOUT_MS = 5000


class NoConnection(RuntimeError):
    """No connection was free in time."""


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class ConnectionPool:
    def __init__(self, path: str, size: int, wait_s: float) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one connection")
        self.size, self.wait_s = size, wait_s
        self._free: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue(maxsize=size)
        self._all = [connect(path) for _ in range(size)]
        for db in self._all:
            self._free.put(db)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._free.get(timeout=self.wait_s) if self.wait_s > 0 else self._free.get_nowait()
        except queue.Empty:
            raise NoConnection(f"no database connection free (pool of {self.size})") from None
        try:
            yield db
        finally:
            if db.in_transaction:
                db.rollback()
            self._free.put(db)

    def close(self) -> None:
        for db in self._all:
            db.close()
