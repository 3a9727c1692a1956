"""Idempotency keys for payout calls: a repeated `Idempotency-Key` gets the first answer.

Keys are per account. While the first request is being served, copies wait for its answer; a
paid answer is kept and replayed for every later request with the key; a refused one is not
kept (a retry is asked afresh). A key sent again with a different request (another path or
body) is refused with KEY_REUSED, as payment APIs do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable

from examples.lucky_bag.codes import Code, Refusal

Answer = dict  # the whole business-code answer: {"code", "msg", "data"}


@dataclass
class _Entry:
    fingerprint: str
    answer: "asyncio.Future[Answer]"


class IdempotencyKeys:
    def __init__(self, max_keys: int = 500_000) -> None:
        self._entries: dict[tuple[int, str], _Entry] = {}
        self._max_keys = max_keys
        self._seen: set[tuple[int, str]] = set()  # the replay-pays-again fault's only memory

    def seen_before(self, uid: int, key: str) -> bool:
        """Whether the key came before (and note that it has now): the replay-pays-again fault's
        whole check."""
        if len(self._seen) >= self._max_keys:
            self._seen.clear()
        seen = (uid, key) in self._seen
        self._seen.add((uid, key))
        return seen

    async def once(self, uid: int, key: str, fingerprint: str,
                   work: Callable[[], Awaitable[Answer]]) -> tuple[Answer, bool]:
        """The answer for this key: work()'s if it is new, else the first one's. Returns
        (answer, replayed)."""
        entry = self._entries.get((uid, key))
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise Refusal(Code.KEY_REUSED, "this Idempotency-Key was used for another request; "
                              "use a new key for a new payout")
            return await asyncio.shield(entry.answer), True
        if len(self._entries) >= self._max_keys:
            self._entries.clear()  # bounded memory; keys older than this are forgotten
        entry = _Entry(fingerprint, asyncio.get_running_loop().create_future())
        self._entries[(uid, key)] = entry
        try:
            answer = await work()
        except BaseException as exc:  # a crash or a cancelled request: the copies share its fate
            del self._entries[(uid, key)]
            if isinstance(exc, asyncio.CancelledError):
                entry.answer.cancel()
            else:
                entry.answer.set_exception(exc)
                entry.answer.exception()  # retrieved: no warning when nobody waits for it
            raise
        if answer.get("code") != Code.OK:
            del self._entries[(uid, key)]
        entry.answer.set_result(answer)
        return answer, False
