"""`rehearse target check`: one participant of each persona played through the target mapping,
every request and answer shown with how the contract judged it, and warnings for the mapping
mistakes that would otherwise pass silently (a payout with no amount, a refusal with no reason,
a session value no answer gave, a share link with no domain, answers that broke).

    checker = MappingCheck(scenario)
    result = run_walkthrough(WalkthroughRequest(..., trace=checker.observe))
    checker.warnings()

The participants are the walkthrough's (its cast goes through the whole funnel, a sharer brings
a friend through its link, a script tries each kind of number), so the check sees the answers a
backend gives to every action and to its refusals.

What it shows is masked (`MappingCheck.shown`, and the warnings): the values of secret-looking
keys (tokens, signatures, cookies) as ***, and phone numbers as 138****5678 wherever they are
(path, query, headers, body, an answer echoing one, a refusal's reason), by value (the numbers
of the participants it has seen and the scenario's blacklist) and by shape (`PhoneMask`).
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from rehearse.personas.identity import PhoneMask
from rehearse.personas.steps import Act, Outcome, replayed_fen
from rehearse.scenarios import Scenario
from rehearse.scenarios.target import fields_used
from rehearse.client.contract import COOKIES, Contract, RequestSpec
from rehearse.client.http import send

SECRET = re.compile(r"token|secret|sign|otp|password|passwd|key|auth|cookie|sid|session", re.IGNORECASE)
"""Header and field names whose values a check never prints."""
READ_ONLY_OPERATIONS = ("ledger", "link_pool", "stats")
"""The operations a check calls once (they change nothing on the target)."""
BODY_SHOWN = 300
"""Characters of an answer's body shown."""


@dataclass
class Exchange:
    """One request through the mapping and its answer, as the contract judged it."""

    act: Act
    spec: RequestSpec
    status: int
    body: bytes
    headers: Any
    latency_ms: float
    outcome: Outcome
    learned: dict[str, Any]
    phone: str = ""  # the participant's (to mask: never shown)


class TracingContract:
    """A contract that hands every request and its judged answer to `observe`; everything
    else (operations, refusal statuses) is the wrapped contract's."""

    def __init__(self, inner: Contract, observe: Callable[[Exchange], None]) -> None:
        self.inner = inner
        self.observe = observe
        # built, not yet read (the engine reads in order), with the participant's phone number
        self._built: deque[tuple[RequestSpec, str]] = deque()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def build(self, act: Act, user: Any, session: Any, step_id: str = "") -> RequestSpec:
        spec = self.inner.build(act, user, session, step_id)
        self._built.append((spec, str(getattr(user, "phone", "") or "")))
        return spec

    def read(self, act: Act, status: int, body: bytes, latency_ms: float, headers: Any = None):
        outcome, learned = self.inner.read(act, status, body, latency_ms, headers)
        spec, phone = self._built.popleft() if self._built else (RequestSpec(act.action, "?", "?"), "")
        self.observe(Exchange(act, spec, status, body, headers, latency_ms, outcome, dict(learned), phone))
        return outcome, learned


def mask(value: Any) -> Any:
    """A copy fit to print: the values of secret-looking keys replaced by ***."""
    if isinstance(value, dict):
        return {k: "***" if SECRET.search(str(k)) and v not in (None, "") else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def shown_json(value: Any, phones: PhoneMask) -> str:
    """A request's query, body or headers as printed: JSON, secrets and phone numbers masked."""
    return phones(json.dumps(mask(value), ensure_ascii=False))


def shown_body(body: bytes, phones: PhoneMask) -> str:
    """An answer's body as printed: JSON with secrets and phone numbers masked (before the cut,
    so no number is cut in two and left whole), cut to BODY_SHOWN characters."""
    try:
        text = json.dumps(mask(json.loads(body)), ensure_ascii=False)
    except ValueError:
        text = body.decode(errors="replace")
    text = phones(text)
    return text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN] + "…"


def judged(exchange: Exchange) -> str:
    """How the answer was judged, in words."""
    o = exchange.outcome
    if o.ok:
        paid = f", paid {o.payout_fen} fen" if o.payout_fen else ""
        replay = replayed_fen(o.error)
        return (f"ok (marked a replay of an earlier payment, {replay} fen)" if replay is not None else f"ok{paid}")
    if o.refused:
        return f"refused: {o.error}"
    return f"BROKEN: {o.error}"


def learned_text(exchange: Exchange) -> str:
    names = [k for k in exchange.learned if k != COOKIES]
    cookies = sorted(exchange.learned.get(COOKIES, {}))
    parts = ([f"learned {', '.join(names)}"] if names else []) + ([f"cookies {', '.join(cookies)}"] if cookies else [])
    return "; ".join(parts)


@dataclass(frozen=True)
class ShownExchange:
    """An exchange as the check prints it, every text masked."""

    exchange: Exchange
    request: str  # method, path, ?query, body
    headers: str  # "" when none
    answer: str  # status, body, latency
    judged: str
    learned: str  # the names extracted (never their values)


@dataclass
class MappingCheck:
    """What the check saw, and the warnings it gives."""

    scenario: Scenario
    exchanges: list[Exchange] = field(default_factory=list)
    on_exchange: Callable[[ShownExchange], None] = lambda _: None
    phones: PhoneMask = field(default_factory=PhoneMask)
    operation_warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for phone in self.scenario.antifraud.blacklist:
            self.phones.add(phone)

    def observe(self, exchange: Exchange) -> None:
        self.phones.add(exchange.phone)
        self.exchanges.append(exchange)
        self.on_exchange(self.shown(exchange))

    def shown(self, exchange: Exchange) -> ShownExchange:
        """The exchange fit to print: secrets by key, phone numbers by value and shape, masked."""
        spec, phones = exchange.spec, self.phones
        sent = "".join([f" ?{shown_json(spec.query, phones)}" if spec.query else "",
                        f" {shown_json(spec.json, phones)}" if spec.json is not None else ""])
        return ShownExchange(
            exchange, request=phones(f"{spec.method} {spec.path}") + sent,
            headers=shown_json(spec.headers, phones) if spec.headers else "",
            answer=f"{exchange.status} {shown_body(exchange.body, phones)} ({exchange.latency_ms:.0f} ms)",
            judged=phones(judged(exchange)), learned=phones(learned_text(exchange)))

    def check_operations(self, target: Any) -> list[str]:
        """Call each read-only operation the mapping has (ledger, link_pool, stats) once on
        `target` (a walkthrough's LiveTarget): a line per call, and a warning where it failed or
        an `extract` found nothing."""
        lines = []
        for name in READ_ONLY_OPERATIONS:
            request = self.scenario.target.operations.get(name)  # type: ignore[call-overload]
            if request is None:
                continue
            spec = target.contract.build_operation(name, dict(target.ops_params))
            status, body, _, headers = send(target.client, spec)
            values = target.contract.read_operation(name, status, body, headers)
            lines.append(self.phones(f"{name:<20}{spec.method} {spec.path} -> {status} {shown_body(body, self.phones)}"))
            if values is None:
                self.operation_warnings.append(
                    f"target.operations.{name}: the answer ({status} {shown_body(body, self.phones)}) gave nothing: "
                    "check its path, its token (--ops-token) and its conditions")
                continue
            empty = sorted(k for k, v in values.items() if v is None)
            if empty:
                self.operation_warnings.append(
                    f"target.operations.{name}.extract: nothing at {', '.join(empty)} in the answer "
                    f"({shown_body(body, self.phones)}); fix the paths")
        return lines

    def warnings(self) -> list[str]:
        """What the mapping gets wrong, each once, fit to print (phone numbers masked)."""
        target = self.scenario.target
        out: list[str] = list(self.operation_warnings)
        seen_actions = {e.act.action for e in self.exchanges}
        for e in self.exchanges:
            o, action, body = e.outcome, e.act.action, shown_body(e.body, self.phones)
            request = target.actions.get(action)  # type: ignore[call-overload]
            if o.ok and request is not None and request.payout_field and not o.payout_fen and replayed_fen(o.error) is None:
                out.append(f"target.actions.{action}.payout_field {request.payout_field!r}: an ok answer had no "
                           f"payout there (answer: {body}); fix the path or its payout_unit")
            if o.refused and o.error == f"HTTP {e.status}" and e.body:
                where = (request.reason if request is not None and request.reason else target.reason)
                out.append(f"target.actions.{action}: a refusal gave no reason at "
                           f"{where or 'error, msg, message or detail'} (answer: {body}); "
                           "set reason: to where the answer says why")
            if not o.ok and not o.refused:
                out.append(f"target.actions.{action}: the answer was judged broken ({o.error}; answer "
                           f"{e.status} {body}); if that is a refusal by the rules, list it in "
                           "refused_when (or refused), if it is done, check ok_when")
            if action == "share" and o.ok and not (e.learned.get("share_url") or e.learned.get("share_domain")):
                out.append("target.actions.share: an ok share gave no link (extract share_url, or share_domain, "
                           f"e.g. \"share_domain: data.url | host\"; answer: {body})")
        learned = {k for e in self.exchanges for k in e.learned}
        for name, users in sorted(self._session_uses().items()):
            if name not in learned and users & seen_actions:
                out.append(f"session.{name} (used by {', '.join(sorted(users))}) was never given by an answer: "
                           "check the extract that should read it")
        return list(dict.fromkeys(self.phones(w) for w in out))  # each warning once

    def _session_uses(self) -> dict[str, set[str]]:
        """session.NAME -> the actions whose requests use it."""
        target = self.scenario.target
        uses: dict[str, set[str]] = {}
        for action, request in target.actions.items():
            for name in fields_used(request, "session", target.headers):
                uses.setdefault(name, set()).add(action)
        return uses

    def unplayed(self) -> list[str]:
        """Mapped actions no participant of the check reached."""
        seen = {e.act.action for e in self.exchanges}
        return [a for a in self.scenario.target.actions if a not in seen]

