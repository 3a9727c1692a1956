"""The campaign's rules as one participant meets them: what a healthy backend must answer.

    rules = ParticipantRules(scenario, phone="13812345678")
    rule = rules.refusal("open_envelope", {"institution": "anhe"}, t=120.0)
    # None: the rules allow it; else the Rule that turns it down, in plain language
    rules.settle("open_envelope", {"institution": "anhe"})      # the backend did it

Everything here comes from the scenario (phases, tasks, caps, the grand round, the invite
reward, blocked number segments and the blacklist), so any backend can be judged against it; an
action of a feature the campaign leaves out is refused as `not_offered`.
The walkthrough judges a live backend step by step with it; the simulator's journeys are
answered by it. Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from rehearse.scenarios.model import Scenario

PAYOUT_ACTIONS = frozenset({"open_envelope", "open_invite_envelope", "grand_draw"})
LOOKING = frozenset({"open_page", "view_rules", "visit_link"})
"""Actions anyone may do in any phase: looking is never refused by the rules."""


def prize_of(action: str, params: Mapping[str, Any]) -> str:
    """The budget pool a payout action draws on (an institution id, "grand", "invite"), or ""
    for an action that pays nothing: the `prize` of a requests row."""
    if action == "open_envelope":
        return str(params.get("institution") or "")
    if action == "grand_draw":
        return "grand"
    return "invite" if action == "open_invite_envelope" else ""


def prizes_allowed(scenario: Scenario) -> dict[str, int]:
    """How many times the rules let one participant be paid from each prize: each envelope
    once, the grand round `draws_per_user` times, the invite envelope `max_rewards_per_user`
    (the last two only when the campaign has them)."""
    c = scenario.campaign
    allowed = {i.id: 1 for i in c.institutions}
    if c.grand_round is not None:
        allowed["grand"] = c.grand_round.draws_per_user
    if c.invite is not None:
        allowed["invite"] = c.invite.max_rewards_per_user
    return allowed


@dataclass(frozen=True)
class Rule:
    """One campaign rule: a short id (what mismatches are counted by) and its plain wording."""

    id: str
    text: str


def rulebook(scenario: Scenario) -> dict[str, Rule]:
    """Every rule the campaign's participants meet, worded with the scenario's own figures (the
    rules of a feature the campaign leaves out are not in it)."""
    c, antifraud = scenario.campaign, scenario.antifraud
    launch = c.phases.launch.strftime("%Y-%m-%d %H:%M")
    segments = ", ".join(antifraud.virtual_segments) or "none listed"
    preheat = "; during the preheat the page and the rules can only be viewed" if c.phases.has_preheat else ""
    rules = [
        Rule("preheat", f"nobody takes part before launch ({launch}){preheat}"),
        Rule("ended", "nobody takes part after the campaign's end"),
        Rule("login", "only logged-in participants take part"),
        Rule("virtual_number", f"numbers in virtual-operator segments ({segments}) cannot take part"),
        Rule("blacklist", "accounts on the campaign's blacklist cannot take part"),
        Rule("signed_payouts", "payouts need the signature the campaign page hands out, so scripts "
                               "that skip the page are refused"),
        Rule("envelope_locked", "an institution's envelope opens only after all of its tasks"),
        Rule("one_envelope", "each envelope pays each person once"),
        *_grand_round_rules(scenario),
        *_invite_rules(scenario),
        Rule("share_cap", f"at most {c.caps.shares_per_user} share links per person"),
        Rule("task_cap", f"at most {c.caps.task_completions_per_user} task completions per person"),
        Rule("not_offered", "the campaign does not offer this (a feature it leaves out)"),
    ]
    return {rule.id: rule for rule in rules}


def _grand_round_rules(scenario: Scenario) -> list[Rule]:
    c = scenario.campaign
    if c.grand_round is None:
        return []
    grand = f"the grand draw opens after all {len(c.institutions)} envelopes"
    if c.follow_required:
        grand += f" and following {c.follow.account}"  # type: ignore[union-attr]
    return [Rule("grand_round", grand),
            Rule("one_draw", f"each person draws {c.grand_round.draws_per_user} time(s) in the grand round")]


def _invite_rules(scenario: Scenario) -> list[Rule]:
    invite = scenario.campaign.invite
    if invite is None:
        return []
    return [Rule("invite_reward", f"the invite envelope needs {invite.friends_required} new friends who "
                                  f"logged in with the invite code, at most {invite.max_rewards_per_user} "
                                  "per person")]


@dataclass
class ParticipantRules:
    """What the rules allow one participant next, given what the backend has done for it."""

    scenario: Scenario
    phone: str
    logged_in: bool = False
    signed: bool = False
    followed: bool = False
    tasks: dict[str, set[str]] = field(default_factory=dict)
    task_completions: int = 0
    opened: set[str] = field(default_factory=set)
    draws: int = 0
    shares: int = 0
    friends: int = 0
    invite_rewards: int = 0
    _book: dict[str, Rule] = field(default_factory=dict, repr=False)

    def rule(self, rule_id: str) -> Rule:
        if not self._book:
            self._book = rulebook(self.scenario)
        return self._book[rule_id]

    def refusal(self, action: str, params: Mapping[str, Any], t: float | None = None) -> Rule | None:
        """The rule that turns this action down now, or None if the rules allow it.
        `t` is campaign time (None: during the live phase)."""
        if action in LOOKING:
            return None
        rule_id = self._phase(t) or self._refusal(action, params)
        return None if rule_id is None else self.rule(rule_id)

    def _phase(self, t: float | None) -> str | None:
        if t is None:
            return None
        phase = self.scenario.campaign.phases.phase_at(t)
        if phase in ("before", "preheat"):
            return "preheat"
        return "ended" if phase == "ended" else None

    def _refusal(self, action: str, params: Mapping[str, Any]) -> str | None:
        antifraud = self.scenario.antifraud
        if action == "login":
            if antifraud.is_virtual(self.phone):
                return "virtual_number"
            return "blacklist" if self.phone in antifraud.blacklist else None
        if not self.logged_in:
            return "login"
        if action in PAYOUT_ACTIONS and antifraud.signed_payouts and not self.signed:
            return "signed_payouts"
        return self.game_refusal(action, params)

    def game_refusal(self, action: str, params: Mapping[str, Any]) -> str | None:
        """The id of the game rule (tasks, envelopes, draws, invites, caps) that turns a
        logged-in participant's action down, or None."""
        campaign = self.scenario.campaign
        if self.scenario.lacks(action) is not None:
            return "not_offered"
        if action == "complete_task":
            return "task_cap" if self.task_completions >= campaign.caps.task_completions_per_user else None
        if action == "open_envelope":
            institution = campaign.institution(str(params.get("institution")))
            if institution is None or not {t.id for t in institution.tasks} <= self.tasks.get(institution.id, set()):
                return "envelope_locked"
            return "one_envelope" if institution.id in self.opened else None
        if action == "grand_draw":
            if len(self.opened) < len(campaign.institutions):
                return "grand_round"
            if campaign.follow_required and not self.followed:
                return "grand_round"
            return "one_draw" if self.draws >= campaign.grand_round.draws_per_user else None  # type: ignore[union-attr]
        if action == "open_invite_envelope":
            invite = campaign.invite
            assert invite is not None  # an invite envelope is offered only with an invite reward
            earned = min(self.friends // invite.friends_required, invite.max_rewards_per_user)
            return "invite_reward" if self.invite_rewards >= earned else None
        if action == "share":
            return "share_cap" if self.shares >= campaign.caps.shares_per_user else None
        return None

    def settle(self, action: str, params: Mapping[str, Any]) -> None:
        """The backend did this action for the participant: remember what it changes."""
        if action in ("open_page", "visit_link"):
            self.signed = True
        elif action == "login":
            self.logged_in = True
        elif action == "complete_task":
            self.task_completions += 1
            self.tasks.setdefault(str(params.get("institution")), set()).add(str(params.get("task")))
        elif action == "open_envelope":
            self.opened.add(str(params.get("institution")))
        elif action == "grand_draw":
            self.draws += 1
        elif action == "open_invite_envelope":
            self.invite_rewards += 1
        elif action == "share":
            self.shares += 1
        elif action == "follow":
            self.followed = True

    def allowed_copies(self, action: str, params: Mapping[str, Any], t: float | None,
                       copies: int) -> tuple[int, Rule | None]:
        """Of `copies` identical requests sent at once, how many the rules let through (as if
        they came one after another: one envelope of a double tap, not two), and the rule that
        turns the next one down (None if all pass)."""
        trial = copy.copy(self)
        trial.tasks = {k: set(v) for k, v in self.tasks.items()}
        trial.opened = set(self.opened)
        for allowed in range(copies):
            rule = trial.refusal(action, params, t)
            if rule is not None:
                return allowed, rule
            trial.settle(action, params)
        return copies, None
