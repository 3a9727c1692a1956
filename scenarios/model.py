"""The whole scenario: one campaign, its traffic, personas, safeguards, backend and gates."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rehearse.scenarios.base import Section, Slug
from rehearse.scenarios.campaign import Campaign, check_window_in_campaign
from rehearse.scenarios.curve import DAY_S, ArrivalCurve, InfeasibleCurve
from rehearse.scenarios.drills import Drills, check_drills
from rehearse.scenarios.fund_loss import FundLossMonitor
from rehearse.scenarios.limits import BackendModel, Gates
from rehearse.scenarios.people import Personas
from rehearse.scenarios.safeguards import Antifraud, Budget, Links
from rehearse.scenarios.target import Target
from rehearse.scenarios.traffic import Traffic


LINK_ACTIONS = ("share", "visit_link")
NO_LINKS = "the campaign issues no share links (links: is left out)"


class Scenario(Section):
    """A campaign to rehearse. Load one with `rehearse.scenarios.load_scenario(path)`."""

    name: Slug
    description: str = ""
    seed: int = Field(default=20261220, ge=0, le=2**32 - 1, description="default seed for every random choice")
    campaign: Campaign
    traffic: Traffic
    personas: Personas
    links: Links | None = Field(default=None, description="share links and their domains; leave out for a "
                                "campaign that issues none (no sharing, no ban, no failover to judge)")
    budget: Budget
    antifraud: Antifraud = Field(default_factory=lambda: Antifraud(),
                                 description="flagged numbers, rate limits, signed payouts (all optional)")
    backend_model: BackendModel
    target: Target
    gates: Gates
    drills: Drills = Field(default_factory=dict, description="incident drills (rehearse drill)")

    @field_validator("drills")
    @classmethod
    def _drills_refer_to_the_scenario(cls, drills: Drills, info: ValidationInfo) -> Drills:
        if drills and all(k in info.data for k in ("traffic", "budget", "campaign")):
            check_drills(drills, info.data)
        return drills

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        _check_institution_budgets(self)
        _check_optional_pools(self)
        _check_preheat(self)
        _check_links(self)
        _check_actions_mapped(self)
        for name, window in self.traffic.windows.items():
            check_window_in_campaign(self.campaign.phases, window.start, window.duration,
                                     f"traffic.windows.{name}")
        pools = list(self.pool_budgets())
        for n, topup in enumerate(self.budget.topups):
            if topup.pool not in pools:
                raise ValueError(f"budget.topups.{n}.pool {topup.pool!r} is not a pool; use one of "
                                 f"{', '.join(pools)}")
        if self.gates.peak.window not in self.traffic.windows:
            known = ", ".join(sorted(self.traffic.windows)) or "none defined"
            raise ValueError(
                f"gates.peak.window {self.gates.peak.window!r} is not in traffic.windows "
                f"(known: {known})"
            )
        live_s, first = self.campaign.phases.live_s, self.traffic.participants_first_24h
        if live_s <= DAY_S and first not in (0, self.traffic.participants_total):
            raise ValueError(f"traffic.participants_first_24h: the campaign is live for {_live(live_s)}, so its "
                             "first 24 h are all of it; leave participants_first_24h out (participants_total "
                             "says how many come)")
        if live_s > DAY_S and not first:
            raise ValueError(f"traffic.participants_first_24h: the campaign is live for {_live(live_s)}; give the "
                             "participants expected in its first 24 h (the launch spike is fitted to it)")
        try:
            ArrivalCurve.build(self.traffic, self.campaign.phases)
        except InfeasibleCurve as exc:
            raise ValueError(f"traffic.curve: {exc}") from None
        return self

    def pool_budgets(self) -> dict[str, int]:
        """Every budget pool and its money (fen), in campaign order: the institutions, then the
        grand round and the invite reward (when the campaign has them). Pool numbers in the
        simulator are positions here."""
        budget = self.budget
        money = {**budget.institutions_fen, "grand": budget.grand_round_fen, "invite": budget.invite_fen}
        return {pool: money[pool] or 0 for pool in self.campaign.pools()}

    def largest_payouts(self) -> dict[str, int]:
        """The largest amount each budget pool may pay at once (fen): a pool with less left than
        that is out, whatever it still holds."""
        campaign = self.campaign
        largest = {i.id: i.envelope.max_possible_fen for i in campaign.institutions}
        if campaign.grand_round is not None:
            largest["grand"] = max(p.amount_fen for p in campaign.grand_round.prizes)
        if campaign.invite is not None:
            largest["invite"] = campaign.invite.reward.max_possible_fen
        return largest

    def lacks(self, action: str) -> str | None:
        """Why the campaign does not offer this action (a feature left out), or None if it does."""
        if action in LINK_ACTIONS and self.links is None:
            return NO_LINKS
        return self.campaign.lacks(action)

    def actions(self) -> tuple[str, ...]:
        """The actions this campaign offers, in the target contract's order."""
        return tuple(a for a in self.campaign.actions() if self.lacks(a) is None)

    def not_applicable(self) -> dict[str, str]:
        """The checks (gate.check keys) that judge a feature this campaign leaves out, and why."""
        antifraud = self.antifraud
        no_links = None if self.links is not None else NO_LINKS
        reasons = {"rules.preheat_closed": None if self.campaign.phases.has_preheat
                   else "the campaign has no preheat",
                   "rules.envelopes_locked": None if self.campaign.has_tasks
                   else "no institution has tasks: every envelope is open",
                   "rules.share_cap": no_links,
                   "failover.links_off": no_links, "failover.visits_lost": no_links,
                   "failover.pool_never_empty": no_links,
                   "rules.flagged_numbers_refused": None if antifraud.virtual_segments or antifraud.blacklist
                   else "the campaign flags no numbers (antifraud.virtual_segments and blacklist are empty)",
                   "payout.alarm_before_budget": None if self.budget.fund_loss is not None
                   else "the campaign has no fund-loss alarm (budget.fund_loss is left out)"}
        return {key: why for key, why in reasons.items() if why is not None}

    def required_checks(self) -> list[str]:
        """`gates.required` without the checks not applicable to this campaign (dropped, not failed)."""
        waived = self.not_applicable()
        return [key for key in self.gates.required if key not in waived]

    def requires(self, key: str) -> bool:
        """Whether a run against the target must verify the check `gate.slug`: required by the
        scenario (by its key or its gate's name; its own advisory or off setting wins), and
        applicable to the campaign."""
        return self.gates.setting(key) == "required" and key not in self.not_applicable()

    def arrival_curve(self) -> ArrivalCurve:
        """The arrival rate and cumulative share over campaign time."""
        return ArrivalCurve.build(self.traffic, self.campaign.phases)

    def fund_loss_plan(self) -> FundLossMonitor | None:
        """The fund-loss plan over the whole budget (see `rehearse.scenarios.fund_loss`), or None
        for a campaign without a fund-loss alarm."""
        if self.budget.fund_loss is None:
            return None
        return FundLossMonitor(self.budget.fund_loss, self.budget.total_fen, self.arrival_curve())

    def digest(self) -> str:
        """A short hash of the scenario's content, recorded in every run folder."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _check_institution_budgets(scenario: Scenario) -> None:
    institution_ids = {i.id for i in scenario.campaign.institutions}
    budgeted = set(scenario.budget.institutions_fen)
    if institution_ids != budgeted:
        missing = sorted(institution_ids - budgeted)
        unknown = sorted(budgeted - institution_ids)
        parts = []
        if missing:
            parts.append(f"add a budget for {', '.join(missing)}")
        if unknown:
            parts.append(f"remove {', '.join(unknown)} (no such institution)")
        raise ValueError(f"budget.institutions_fen must name each institution: {'; '.join(parts)}")


def _check_optional_pools(scenario: Scenario) -> None:
    """The grand round and the invite reward each have a pool exactly when the campaign has them."""
    campaign, budget = scenario.campaign, scenario.budget
    for feature, field, given in (("grand_round", "grand_round_fen", budget.grand_round_fen),
                                  ("invite", "invite_fen", budget.invite_fen)):
        offered = getattr(campaign, feature) is not None
        if offered and given is None:
            raise ValueError(f"budget.{field}: missing value: the campaign has campaign.{feature}, so its "
                             "pool needs a budget in fen")
        if not offered and given is not None:
            raise ValueError(f"budget.{field}: the campaign has no campaign.{feature}, so there is no such "
                             f"pool; remove budget.{field}, or add campaign.{feature}")


def _check_preheat(scenario: Scenario) -> None:
    """Without a preheat nobody browses in one: no preheat_browser, no preheat visitors."""
    if scenario.campaign.phases.has_preheat:
        return
    why = "the campaign has no preheat (campaign.phases.preheat_start is left out)"
    if scenario.personas.mix.preheat_browser > 0:
        raise ValueError(f"personas.mix.preheat_browser: {scenario.personas.mix.preheat_browser:g}, but {why}; "
                         "remove preheat_browser from the mix and give its share to the other personas")
    if scenario.traffic.preheat_visitors > 0:
        raise ValueError(f"traffic.preheat_visitors: {scenario.traffic.preheat_visitors:,}, but {why}; "
                         "remove it, or add campaign.phases.preheat_start")


def _check_links(scenario: Scenario) -> None:
    """Without share links nobody shares: no sharers, no invite reward (friends come through links);
    with them, the failover they promise is judged; with a fund-loss alarm, when it must come."""
    if scenario.budget.fund_loss is not None and scenario.gates.payout.alarm_before_budget_share is None:
        raise ValueError("gates.payout.alarm_before_budget_share: missing value: the campaign has a fund-loss alarm "
                         "(budget.fund_loss), so say by what share of the budget it must come (e.g. 0.3)")
    if scenario.links is not None:
        if scenario.gates.failover is None:
            raise ValueError("gates.failover: missing value: the campaign issues share links, so give the failover "
                             "it promises (e.g. {max_seconds: 5m})")
        return
    if scenario.personas.mix.sharer > 0:
        raise ValueError(f"personas.mix.sharer: {scenario.personas.mix.sharer:g}, but {NO_LINKS}; remove sharer "
                         "from the mix and give its share to the other personas, or add links:")
    if scenario.campaign.invite is not None:
        raise ValueError(f"campaign.invite: friends are invited through share links, but {NO_LINKS}; remove "
                         "campaign.invite (and budget.invite_fen), or add links:")


def _check_actions_mapped(scenario: Scenario) -> None:
    """Every action the campaign offers has a request in the target contract and a queue in the
    simulator's backend model (an action it does not offer needs neither)."""
    offered = scenario.actions()
    unmapped = scenario.target.missing_actions(offered)
    if unmapped:
        raise ValueError(f"target.actions: no request mapped for {', '.join(unmapped)} (the campaign offers "
                         f"{'it' if len(unmapped) == 1 else 'them'}): map each under target.actions, or name "
                         "an adapter class (target.adapter: module:Class)")
    unmodelled = [a for a in offered if a not in scenario.backend_model.actions]
    if unmodelled:
        raise ValueError(f"backend_model.actions: no queue for {', '.join(unmodelled)} (the campaign offers "
                         f"{'it' if len(unmodelled) == 1 else 'them'}): add each as "
                         "'ACTION: {service_time: ..., concurrency: ...}' under backend_model.actions")


def _live(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds > 86400 else f"{seconds / 3600:g} h"
