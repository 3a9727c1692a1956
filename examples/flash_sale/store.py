"""The sale's database: its schema and its opening.

    stock(sku, units_left)              the inventory row the orders decrement (the guard)
    customers(email, token, joined)     who logged in, and their bearer token
    orders(order_id, sku, email, price_fen, placed, paid)     one row per unit sold
    sale_stats(sku, stock_left, sold)   the counters the status page shows

Each customer may order once: orders has a unique key on (sku, email), except under the
double-order fault, whose table has none.
"""

from __future__ import annotations

import os
import sqlite3

from examples.flash_sale.sale import Sale

SCHEMA = """
CREATE TABLE stock (sku TEXT PRIMARY KEY, units_left INTEGER NOT NULL);
CREATE TABLE customers (email TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, joined REAL NOT NULL);
CREATE TABLE orders (order_id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL, email TEXT NOT NULL,
                     price_fen INTEGER NOT NULL, placed REAL NOT NULL, paid REAL);
CREATE INDEX orders_by_customer ON orders (sku, email);
CREATE TABLE sale_stats (sku TEXT PRIMARY KEY, stock_left INTEGER NOT NULL, sold INTEGER NOT NULL);
"""
ONE_ORDER_EACH = "CREATE UNIQUE INDEX one_order_each ON orders (sku, email);"


def create(path: str, sale: Sale, unique_orders: bool = True) -> None:
    """A fresh database at `path` (an old file there is replaced), stocked for `sale`."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(SCHEMA + (ONE_ORDER_EACH if unique_orders else ""))
        db.execute("INSERT INTO stock VALUES (?, ?)", (sale.sku, sale.stock))
        db.execute("INSERT INTO sale_stats VALUES (?, ?, 0)", (sale.sku, sale.stock))
    finally:
        db.close()
    os.chmod(path, 0o600)
