"""What is on sale, and when: one SKU, its unit price in fen, the units in stock, the sale's
opening and length on the server's own wall clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SKU = "kettle-k2"
NAME = "K2 smart kettle, launch edition"
PRICE_FEN = 9900
"""99.00 yuan a unit (the scenario's envelope: a weighted choice of this one amount)."""
STOCK = 300
"""Units on sale (the scenario's budget: STOCK x PRICE_FEN fen). Sized for the main job on one
machine: its peak phase (a few hundred participants, one unit each at most) leaves the launch
window units to sell and its budget race the last of them."""
SALE_S = 2 * 3600.0
"""The sale runs two hours from its opening."""
LIMIT_PER_CUSTOMER = 1


def fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass(frozen=True)
class Sale:
    sku: str = SKU
    name: str = NAME
    price_fen: int = PRICE_FEN
    stock: int = STOCK
    opens_at: float = field(default_factory=time.time)  # Unix seconds
    length_s: float = SALE_S

    @property
    def closes_at(self) -> float:
        return self.opens_at + self.length_s

    def state(self, now: float | None = None) -> str:
        """"not_open", "open" or "closed" at `now` (default: the wall clock)."""
        now = time.time() if now is None else now
        if now < self.opens_at:
            return "not_open"
        return "open" if now < self.closes_at else "closed"

    def public(self, stock_left: int) -> dict:
        """The sale page's JSON."""
        return {"sku": self.sku, "name": self.name, "price_fen": self.price_fen,
                "price": fen_to_yuan(self.price_fen), "stock_left": max(0, stock_left),
                "limit_per_customer": LIMIT_PER_CUSTOMER, "state": self.state(),
                "opens_at": round(self.opens_at, 3), "closes_at": round(self.closes_at, 3)}

    def rules(self) -> dict:
        return {"sku": self.sku, "limit_per_customer": LIMIT_PER_CUSTOMER,
                "rules": [f"{self.stock} units at {fen_to_yuan(self.price_fen)} yuan, while stock lasts",
                          f"{LIMIT_PER_CUSTOMER} unit per customer (email)",
                          f"the sale runs {self.length_s / 3600:g} h from its opening"]}
