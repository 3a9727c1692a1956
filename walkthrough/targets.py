"""Where a walkthrough's steps go: a live backend over httpx, or the rules themselves.

`LiveTarget` drives any campaign backend through the scenario's target contract (the same
`client.player.Player` the Locust swarm uses, so a request means the same thing), sends the
copies of a double tap at once from threads, records every request as an observation row,
and moves the backend's campaign clock through the contract's `set_clock` operation where
the contract maps one. `RulesTarget` answers as the rules say: the walkthrough uses it to pick
journeys that show every rule before it plays them live.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from rehearse.personas.identity import IdentityFactory
from rehearse.personas.steps import Act, Outcome
from rehearse.scenarios import RehearseError, Scenario
from rehearse.scenarios.rules import PAYOUT_ACTIONS
from rehearse.client.contract import Contract, RequestSpec
from rehearse.client.http import send
from rehearse.client.player import Answer, Player
from rehearse.client.safety import guarded_client
from rehearse.walkthrough.engine import Copy, Participant

NOT_SENT = "not sent (--no-payouts)"
"""The answer a skipped action gets: nothing was asked of the target."""
REQUEST_TIMEOUT_S = 10.0
"""A walkthrough waits this long for one answer, then counts the request as failed."""


class RulesTarget:
    """Answers every step as the campaign's rules say (no I/O)."""

    def __init__(self, scenario: Scenario) -> None:
        self.domain = scenario.links.primary_domains[0] if scenario.links is not None else ""
        self.t = 0.0

    def at(self, t: float) -> None:
        self.t = t

    def act(self, who: Participant, act: Act) -> tuple[Outcome, list[Copy]]:
        assert who.rules is not None
        sent = int(act.params.get("burst", 1))
        allowed, _ = who.rules.allowed_copies(act.action, act.params, self.t, sent)
        paid = 1 if act.action in PAYOUT_ACTIONS else 0
        copies = [Copy(ok=i < allowed, refused=i >= allowed, status=200 if i < allowed else 409,
                       payout_fen=paid if i < allowed else 0) for i in range(sent)]
        owner = who.inviter.user if act.action == "visit_link" and who.inviter is not None else who.user
        data = {"invite_code": f"code-{owner.user_key}", "token": "t", "sign": "s",
                "share_url": f"https://{self.domain}/s/{who.user.user_key}", "share_domain": self.domain}
        outcome = Outcome(ok=allowed > 0, status=copies[0].status, refused=allowed == 0, data=data)
        return outcome, copies


class ClockError(RehearseError):
    """The target's clock could not be set through the contract: a wrong token or URL (bad input)."""

    exit_code = 2


class LiveTarget:
    """A campaign backend at `host`, driven through the target contract."""

    def __init__(self, scenario: Scenario, contract: Contract, host: str, ops_token: str | None,
                 record: Callable[[tuple[Any, ...]], None], seed: int, skip: frozenset[str] = frozenset()) -> None:
        """`skip`: actions never sent (`target check --no-payouts`): answered here as refused."""
        self.scenario = scenario
        self.skip = skip
        self.contract = contract
        self.client = guarded_client(host, timeout=REQUEST_TIMEOUT_S)
        self.ops_params = {"ops_token": ops_token} if ops_token else {}
        self.t = 0.0
        self._clock_t: float | None = None
        self._record = record
        self._rows: list[tuple[Any, ...]] = []
        build = getattr(contract, "build_operation", None)
        self.moves_clock = build is not None and build("set_clock", {**self.ops_params, "t": 0.0}) is not None
        """Whether the contract can move the target's campaign clock (`set_clock`)."""
        self.player = Player(scenario, contract, IdentityFactory(scenario, seed), random.Random(seed),
                             clock=lambda: self.t, compress=1.0, record=self._keep, engine="walkthrough")

    def at(self, t: float) -> None:
        self.t = t
        if self._clock_t != t and self.moves_clock:
            build = getattr(self.contract, "build_operation")  # an operations hook (moves_clock: it has it)
            spec = build("set_clock", {**self.ops_params, "t": round(t, 3)})
            status, body, _, _ = send(self.client, spec)
            if not 200 <= status < 300:
                said = body[:120].decode(errors="replace")
                if status == 0:
                    raise ClockError(f"target.operations.set_clock: nothing answered at {self.client.base_url} "
                                     f"({said or 'no connection'}); start the backend or check --host")
                fix = ("pass the backend's --ops-token (or REHEARSE_OPS_TOKEN)" if status in (401, 403)
                       else "check the backend's /ops routes")
                raise ClockError(f"target.operations.set_clock answered {status} ({said}); {fix}, "
                                 "or remove set_clock from the contract to keep the target's own clock")
            self._clock_t = t

    def act(self, who: Participant, act: Act) -> tuple[Outcome, list[Copy]]:
        if act.action in self.skip:
            return Outcome(ok=False, status=0, refused=True, error=NOT_SENT), []
        self._rows = []
        outcome = self.player.act(act, who.user, who.session, self._send, self._send_burst)
        # t, engine, persona, user_id, action, channel, domain, status, ok, refused, latency_ms, payout_fen, error
        copies = [Copy(ok=row[8], refused=row[9], status=row[7], payout_fen=row[11], error=row[12],
                       latency_ms=row[10]) for row in self._rows]
        return outcome, copies

    def _keep(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        self._record(row)

    def _send(self, spec: RequestSpec) -> Answer:
        return send(self.client, spec, self._follows(spec.action))

    def _follows(self, action: str) -> bool:
        lookup = getattr(self.contract, "follows_redirects", None)
        return bool(lookup(action)) if lookup is not None else False

    def _send_burst(self, specs: list[RequestSpec]) -> list[Answer]:
        """Every copy at once: threads released together, as a double tap's two requests are."""
        start = threading.Barrier(len(specs))

        def one(spec: RequestSpec) -> Answer:
            start.wait()
            return send(self.client, spec, self._follows(spec.action))

        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            return list(pool.map(one, specs))

    def close(self) -> None:
        self.client.close()
