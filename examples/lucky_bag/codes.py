"""The business codes every answer carries, and the exception that turns into a refusal.

HTTP is always 200 (a crash aside); the `code` says what happened: 0 done, 4xxxx refused by
the campaign's rules or a bad request, 50000 a real error.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    BAD_PARAMS = 40001  # a field missing or malformed
    BAD_SIGNATURE = 40003  # the payout's X-Sign does not check out
    NOT_LOGGED_IN = 40101  # no SID cookie, or an unknown one
    NOT_STARTED = 40301  # preheat: look, don't take part
    LOCKED = 40302  # the bag's tasks (or the invite's friends) are not done yet
    VIRTUAL_NUMBER = 40303  # risk control: a virtual-operator number segment
    BLACKLISTED = 40304  # risk control: on the blacklist
    ENDED = 40305  # the campaign is over
    NOT_FOUND = 40401  # no such institution, task, link or route
    ALREADY_CLAIMED = 40901  # this bag was already paid to this person
    SHARE_CAP = 40902  # too many share links
    TASK_CAP = 40903  # too many task completions
    KEY_REUSED = 42201  # the Idempotency-Key came with a different request
    RATE_LIMITED = 42901  # slow down (per account or per address)
    POOL_EMPTY = 41001  # the sponsor's budget is spent
    ADMIN_KEY = 40100  # ops route without the right X-Admin-Key
    ERROR = 50000  # something broke (no link domain left, ...)


RULE_REFUSALS = frozenset({Code.NOT_LOGGED_IN, Code.NOT_STARTED, Code.LOCKED, Code.VIRTUAL_NUMBER,
                           Code.BLACKLISTED, Code.ENDED, Code.ALREADY_CLAIMED, Code.SHARE_CAP,
                           Code.TASK_CAP, Code.RATE_LIMITED, Code.POOL_EMPTY})
"""The codes that mean "the campaign's rules say no" (the scenario's refused_when lists them)."""


class Refusal(Exception):
    """A request turned down: the route answers `{"code": code, "msg": msg, "data": null}`."""

    def __init__(self, code: Code, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
