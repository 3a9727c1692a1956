"""The step protocol (contract 1): what a persona yields, and what it is sent back.

A persona is a generator: it yields `Act` (an abstract campaign action), `Wait` (think time
in campaign seconds) or `Spawn` (a new participant it brings, e.g. an invitee) and receives an
`Outcome` for every step (for a Wait or a Spawn, an ok Outcome).
It never does I/O, never sleeps and never reads a clock; every engine interprets it.

    def journey(user, scenario, rng):
        page = yield Act("open_page")
        if not page.ok:
            return
        yield Wait(rng.lognormvariate(...))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable, Union


@dataclass(frozen=True, init=False)
class Act:
    """An abstract campaign action, in the scenario's vocabulary (`open_envelope`, `share`...).

    The param `burst=n` asks for n copies sent at once (a script racing the interface): an
    engine that can send in parallel does and answers with the first copy that worked."""

    action: str
    params: dict[str, Any]

    def __init__(self, action: str, **params: Any) -> None:
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "params", params)


@dataclass(frozen=True, slots=True)
class Wait:
    """Think time, in campaign seconds; engines may compress it."""

    seconds: float


@dataclass(frozen=True)
class Spawn:
    """Bring a new participant into the campaign after `after_seconds` (campaign time):
    a sharer's invitee arriving through its link. The engine schedules the new journey."""

    persona: str
    after_seconds: float
    params: dict[str, Any] = field(default_factory=dict)


Step = Union[Act, Wait, Spawn]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine observed for one step.

    `refused` means the backend turned the action down by the campaign's rules (a status the
    target contract lists as a refusal); `ok` means it was done. Neither: it broke.
    """

    ok: bool
    status: int = 0
    latency_ms: float = 0.0
    refused: bool = False
    payout_fen: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


WAITED = Outcome(ok=True)

REPLAYED = "replayed"
"""The start of the `error` note of a done answer the target marks as repeating an earlier one (an
idempotent replay): "replayed: <fen> fen", with the amount the answer carried. The marker alone
never clears a payment: the judge holds it to what was seen paid (see `paying_replays`)."""


def replay_note(fen: int) -> str:
    """The note of a replay answer that carried `fen`."""
    return f"{REPLAYED}: {fen} fen"


def replayed_fen(note: str | None) -> int | None:
    """The amount a replay answer carried; None if `note` is not a replay's; 0 if it names no
    amount (a note written before replays carried theirs)."""
    if not note or not note.startswith(REPLAYED):
        return None
    amount = note[len(REPLAYED):].strip(": ").removesuffix(" fen")
    return int(amount) if amount.isdigit() else 0


def paying_replays(paid: Iterable[int], replays: Iterable[int | None]) -> list[int]:
    """Of a participant's replay answers for one prize (their amounts), those that stand for a
    payment: the judge's guard on the target's replay marker. A true replay repeats the answer of
    a payment of the same prize to the same participant, amount and all; a replay where none was
    seen paid (that answer lost) is its one payment; one with another amount is a new payment
    whatever the target calls it. One per amount not seen paid; a replay that carried nothing
    paid nothing."""
    seen, counted = set(paid), []
    for fen in replays:
        if fen and fen not in seen:
            seen.add(fen)
            counted.append(fen)
    return counted


THROTTLED = "throttled"
"""The start of a refusal's note when the answer says the caller went too fast (a rate limit)."""

Journey = Generator[Step, Outcome, None]
JourneyFactory = Callable[..., Journey]
