"""Operations routes: what an operator (or the rehearsal harness) asks of the backend.

The back office counts money in integer fen, as the payment provider does; participants see
yuan strings. Each function takes the Game and the JSON body and returns the answer's data.
"""

from __future__ import annotations

from typing import Any, Callable

from examples.lucky_bag.codes import Code, Refusal
from examples.lucky_bag.game import Game


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def ban_domain(game: Game, body: dict) -> dict:
    """POST /ops/domain/ban {"domain"}: the platform banned it; stop issuing it, swap in a backup.
    data: domain, new_report (false if reported before), issuing, standby, banned."""
    domain = body.get("domain")
    try:
        new = game.links.report_ban(str(domain), game.clock.now())
    except KeyError:
        raise Refusal(Code.NOT_FOUND, f"{domain!r} is not one of this campaign's domains") from None
    now = game.clock.now()
    return {"domain": domain, "new_report": new, "issuing": game.links.issuing(now), **game.links.by_state(now)}


def ledger(game: Game, _: dict) -> dict:
    """GET /ops/ledger: data.budget {budget_fen, paid_fen, left_fen} in all, data.pools per pool
    (the same three), data.payouts (count) and data.dup_paid (prizes paid to one person twice)."""
    return game.wallet.books()


def link_pool(game: Game, _: dict) -> dict:
    """GET /ops/links: data.issuing, standby and banned domain lists, and per-domain counts."""
    now = game.clock.now()
    return {"issuing": game.links.issuing(now), **game.links.by_state(now),
            "domains": {d.name: {"role": d.role, "state": d.state, "issued": d.issued, "visits": d.visits}
                        for d in game.links.domains.values()}}


def stats(game: Game, _: dict) -> dict:
    """GET /ops/stats: counts of what participants did, and the campaign time."""
    return {"t": round(game.clock.now(), 3), "phase": game.phase(), "counts": dict(game.counts),
            "users": len(game.users), "sessions": len(game.sessions)}


def set_clock(game: Game, body: dict) -> dict:
    """POST /ops/clock {"t": campaign s, "speed": optional > 0}: move the campaign clock."""
    t, speed = body.get("t"), body.get("speed")
    if not _number(t):
        raise Refusal(Code.BAD_PARAMS, "t must be campaign seconds since launch (negative in the preheat)")
    if speed is not None and not (_number(speed) and speed > 0):
        raise Refusal(Code.BAD_PARAMS, "speed must be a number > 0 (campaign seconds per second)")
    game.clock.set(float(t), None if speed is None else float(speed))
    return {"t": round(game.clock.now(), 3), "speed": game.clock.speed, "phase": game.phase()}


def limit_pool(game: Game, body: dict) -> dict:
    """POST /ops/pool/limit {"pool", "left_fen"}: leave at most left_fen in the pool (its budget
    shrinks by the cut). data: pool, left_fen."""
    pool, left = body.get("pool"), body.get("left_fen")
    if not isinstance(left, int) or isinstance(left, bool) or left < 0:
        raise Refusal(Code.BAD_PARAMS, "left_fen must be whole fen >= 0")
    try:
        now_left = game.wallet.limit(str(pool), left)
    except KeyError:
        raise Refusal(Code.NOT_FOUND, f"{pool!r} is not a pool of this campaign "
                      f"(pools: {', '.join(game.wallet.pools)})") from None
    return {"pool": pool, "left_fen": now_left}


ROUTES: list[tuple[str, str, Callable[[Game, dict], dict]]] = [
    ("POST", "/ops/domain/ban", ban_domain),
    ("GET", "/ops/ledger", ledger),
    ("GET", "/ops/links", link_pool),
    ("GET", "/ops/stats", stats),
    ("POST", "/ops/clock", set_clock),
    ("POST", "/ops/pool/limit", limit_pool),
]
