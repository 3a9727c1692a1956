"""Placing an order, and the status counters.

A healthy order is one transaction (`BEGIN IMMEDIATE`: one writer at a time): the customer has
no order yet, a unit is taken only while one is left (`units_left > 0` in the UPDATE itself),
the order row is written (a unique key per customer backs the first check), and the status
counters move with it. Then the payment provider confirms (PAYMENT_S) and the order is marked
paid, on the same connection. The planted faults (faults.py) each break one of those steps.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from examples.flash_sale.faults import COUNTER_LAG_S, RACE_WINDOW_S
from examples.flash_sale.pool import ConnectionPool
from examples.flash_sale.sale import Sale

PAYMENT_S = 0.02
"""The payment provider's confirmation of an order, on every order."""


class Refused(Exception):
    """The sale's rules said no: `error` is the code the answer carries."""

    def __init__(self, error: str, status: int = 409) -> None:
        super().__init__(error)
        self.error, self.status = error, status


@dataclass(frozen=True)
class Order:
    order_id: int
    sku: str
    price_fen: int


def _has_ordered(db: sqlite3.Connection, sku: str, email: str) -> bool:
    return db.execute("SELECT 1 FROM orders WHERE sku = ? AND email = ? LIMIT 1", (sku, email)).fetchone() is not None


def place(pool: ConnectionPool, sale: Sale, email: str, faults: frozenset[str] = frozenset()) -> Order:
    """One unit of the sale for `email`, or Refused (already_ordered, sold_out). Each step takes a
    connection from the pool for as long as it needs one."""
    if "double-order" in faults:  # the check is read outside the transaction, and nothing backs it
        with pool.connection() as db:
            if _has_ordered(db, sale.sku, email):
                raise Refused("already_ordered")
        time.sleep(RACE_WINDOW_S)  # the risk check
    if "oversell" in faults:  # the stock is read outside the transaction
        with pool.connection() as db:
            left = db.execute("SELECT units_left FROM stock WHERE sku = ?", (sale.sku,)).fetchone()[0]
        if left <= 0:
            raise Refused("sold_out")
        time.sleep(RACE_WINDOW_S)  # the payment hold
    with pool.connection() as db:  # held until the payment is confirmed, to mark the order paid
        order_id = _take_one(db, sale, email, faults)
        time.sleep(PAYMENT_S)  # the payment provider's confirmation
        db.execute("UPDATE orders SET paid = ? WHERE order_id = ?", (time.time(), order_id))
    if "drifting-counter" in faults:  # read, then written back later, outside the order's transaction
        with pool.connection() as db:
            left, sold = db.execute("SELECT stock_left, sold FROM sale_stats WHERE sku = ?", (sale.sku,)).fetchone()
        time.sleep(COUNTER_LAG_S)
        with pool.connection() as db:
            db.execute("UPDATE sale_stats SET stock_left = ?, sold = ? WHERE sku = ?", (left - 1, sold + 1, sale.sku))
    return Order(order_id=order_id, sku=sale.sku, price_fen=sale.price_fen)


def _take_one(db: sqlite3.Connection, sale: Sale, email: str, faults: frozenset[str]) -> int:
    """The order's transaction: the order id, or Refused."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if "double-order" not in faults and _has_ordered(db, sale.sku, email):
            raise Refused("already_ordered")
        guard = "" if "oversell" in faults else " AND units_left > 0"
        taken = db.execute(f"UPDATE stock SET units_left = units_left - 1 WHERE sku = ?{guard}", (sale.sku,))
        if taken.rowcount != 1:
            raise Refused("sold_out")
        try:
            cursor = db.execute("INSERT INTO orders (sku, email, price_fen, placed) VALUES (?, ?, ?, ?)",
                                (sale.sku, email, sale.price_fen, time.time()))
        except sqlite3.IntegrityError:
            raise Refused("already_ordered") from None
        if "drifting-counter" not in faults:
            db.execute("UPDATE sale_stats SET stock_left = stock_left - 1, sold = sold + 1 WHERE sku = ?",
                       (sale.sku,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return int(cursor.lastrowid)


def units_left(db: sqlite3.Connection, sale: Sale) -> int:
    """What the inventory row holds (the page shows it)."""
    return int(db.execute("SELECT units_left FROM stock WHERE sku = ?", (sale.sku,)).fetchone()[0])


def status(db: sqlite3.Connection, sale: Sale) -> dict:
    """The status page: the counters of stock left and units sold."""
    left, sold = db.execute("SELECT stock_left, sold FROM sale_stats WHERE sku = ?", (sale.sku,)).fetchone()
    return {"sku": sale.sku, "stock": sale.stock, "stock_left": int(left), "sold": int(sold),
            "price_fen": sale.price_fen, "state": sale.state()}
