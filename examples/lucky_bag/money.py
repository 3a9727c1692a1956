"""Yuan strings for the participant API: integer fen inside, "3.45" outside."""

from __future__ import annotations


def yuan(fen: int) -> str:
    """345 -> "3.45", -120 -> "-1.20" (a pool overdrawn by a fault shows as such)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"
