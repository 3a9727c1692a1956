"""Customers, known by email: login gives a bearer token (the same one on every login)."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")


class Unauthorized(Exception):
    """No token, or one nobody was given."""


def valid_email(value: object) -> bool:
    return isinstance(value, str) and bool(EMAIL.match(value))


def login(db: sqlite3.Connection, email: str) -> str:
    """The customer's token, made at their first login."""
    email = email.lower()
    db.execute("INSERT OR IGNORE INTO customers (email, token, joined) VALUES (?, ?, ?)",
               (email, secrets.token_urlsafe(18), time.time()))
    return db.execute("SELECT token FROM customers WHERE email = ?", (email,)).fetchone()[0]


def customer(db: sqlite3.Connection, authorization: str | None) -> str:
    """The email behind an `Authorization: Bearer TOKEN` header, or Unauthorized."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("log in first: Authorization: Bearer TOKEN")
    row = db.execute("SELECT email FROM customers WHERE token = ?", (token.strip(),)).fetchone()
    if row is None:
        raise Unauthorized("unknown token: log in again")
    return row[0]
