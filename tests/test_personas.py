"""Personas driven by a tiny in-memory campaign: exact steps, in campaign time, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from statistics import mean
from typing import Callable

import pytest

from rehearse.personas.identity import Identity, IdentityFactory
from rehearse.personas.journeys import PERSONAS, PersonaError, journey_for
from rehearse.personas.human import poisson
from rehearse.personas.sharer import INVITE_ENVELOPE_TRIES
from rehearse.personas.steps import Act, Journey, Outcome, Spawn, Wait
from rehearse.scenarios import Scenario, load_scenario
from rehearse.scenarios.target import ACTIONS

OK = Outcome(ok=True, status=200)
LINK = "https://hb1.yearend-wealth.example/s/inviter"


def refused(status: int = 423) -> Outcome:
    return Outcome(ok=False, status=status, refused=True)


@dataclass
class FakeCampaign:
    """The campaign's rules in miniature, for one user: tasks unlock envelopes, logins hand out
    invite codes, shares hand out links; `rules` override any action's answer."""

    scenario: Scenario
    user: Identity
    rules: dict[str, Callable[[Act], Outcome]] = field(default_factory=dict)
    done: dict[str, set[str]] = field(default_factory=dict)
    opened: set[str] = field(default_factory=set)
    shares: int = 0

    def answer(self, act: Act) -> Outcome:
        if act.action in self.rules:
            return self.rules[act.action](act)
        return getattr(self, f"_{act.action}", lambda act: OK)(act)

    def _login(self, act: Act) -> Outcome:
        if self.scenario.antifraud.is_virtual(self.user.phone):
            return refused(403)
        return Outcome(ok=True, status=200, data={"invite_code": f"code-{self.user.user_key}",
                                                  "token": "t"})

    def _complete_task(self, act: Act) -> Outcome:
        self.done.setdefault(act.params["institution"], set()).add(act.params["task"])
        return OK

    def _open_envelope(self, act: Act) -> Outcome:
        institution = self.scenario.campaign.institution(act.params["institution"])
        if self.done.get(institution.id, set()) != {t.id for t in institution.tasks}:
            return refused(423)
        if institution.id in self.opened:
            return refused(409)
        self.opened.add(institution.id)
        return Outcome(ok=True, status=200, payout_fen=88)

    def _grand_draw(self, act: Act) -> Outcome:
        return OK if len(self.opened) == len(self.scenario.campaign.institutions) else refused()

    def _open_invite_envelope(self, act: Act) -> Outcome:
        return refused(423)  # the friends have not logged in yet

    def _share(self, act: Act) -> Outcome:
        self.shares += 1
        return Outcome(ok=True, status=200, data={
            "share_url": f"https://hb2.yearend-wealth.example/s/{self.user.user_key}/{self.shares}",
            "share_domain": "hb2.yearend-wealth.example"})

    def _visit_link(self, act: Act) -> Outcome:
        return Outcome(ok=True, status=200, data={"invite_code": "code-inviter"})


def drive(journey: Journey, campaign: FakeCampaign) -> list[tuple[float, object]]:
    """Step a journey to its end: [(campaign time, step)], Waits advancing the time."""
    log: list[tuple[float, object]] = []
    t = campaign.user.arrival_t
    outcome = None
    while True:
        try:
            step = journey.send(outcome) if log else next(journey)
        except StopIteration:
            return log
        assert len(log) < 10_000, "journeys must be bounded"
        log.append((t, step))
        if isinstance(step, Wait):
            assert step.seconds >= 0
            t += step.seconds
            outcome = Outcome(ok=True)
        elif isinstance(step, Spawn):
            outcome = Outcome(ok=True)
        else:
            assert isinstance(step, Act) and step.action in ACTIONS, step
            outcome = campaign.answer(step)


def run(user: Identity, scenario: Scenario, seed: int, **rules) -> list[tuple[float, object]]:
    journey = journey_for(user, scenario, random.Random(seed))
    return drive(journey, FakeCampaign(scenario, user, rules))


def acts(log, action: str | None = None) -> list[Act]:
    return [s for _, s in log if isinstance(s, Act) and (action is None or s.action == action)]


def make(scenario: Scenario, persona: str, seed: int = 0, arrival_t: float = 0.0) -> Identity:
    return IdentityFactory(scenario, seed).new(persona, arrival_t)


def test_registry_names_every_persona(scenario):
    assert set(PERSONAS) == {"normal", "sharer", "fraud_script", "preheat_browser", "invitee"}
    with pytest.raises(PersonaError, match="no journey for persona 'ghost'"):
        journey_for(replace(make(scenario, "normal"), persona="ghost"), scenario, random.Random(0))


def test_normal_never_opens_an_envelope_before_all_its_tasks(scenario):
    tasks = {i.id: {t.id for t in i.tasks} for i in scenario.campaign.institutions}
    opens = draws = 0
    for seed in range(200):
        log = run(make(scenario, "normal", seed), scenario, seed)
        done: dict[str, set[str]] = {}
        for act in acts(log):
            if act.action == "complete_task":
                done.setdefault(act.params["institution"], set()).add(act.params["task"])
            if act.action == "open_envelope":
                assert done.get(act.params["institution"]) == tasks[act.params["institution"]]
                opens += 1
        draws += len(acts(log, "grand_draw"))
    assert opens > 200 and draws > 0  # the check is not vacuous: people do get that far


def test_keen_normal_user_walks_the_funnel_in_order_thinking_between_steps(scenario):
    keen = load_scenario(overrides=["personas.normal.funnel={login: 1, start_tasks: 1, "
                                    "next_institution: 1, follow: 1, grand_draw: 1}"])
    log = run(make(keen, "normal"), keen, 2)
    steps = [s for _, s in log]
    assert steps[0] == Act("open_page") and isinstance(steps[1], Wait)
    assert all(isinstance(s, Wait) for s in steps[1::2])
    assert all(isinstance(s, Act) for s in steps[::2])
    expected = [Act("login", invite_code=None)]
    for institution in keen.campaign.institutions:
        expected += [Act("complete_task", institution=institution.id, task=t.id)
                     for t in institution.tasks]
        expected.append(Act("open_envelope", institution=institution.id))
    expected += [Act("follow"), Act("grand_draw")]
    assert [a for a in acts(log) if a.action not in ("open_page", "view_rules")] == expected
    median = keen.personas.normal.think_time.median
    waits = sorted(s.seconds for s in steps if isinstance(s, Wait))
    assert waits[len(waits) // 4] < median < waits[3 * len(waits) // 4]


def test_normal_gives_up_when_the_page_fails_or_the_funnel_says_so(scenario):
    user = make(scenario, "normal")
    broken = run(user, scenario, 0, open_page=lambda act: Outcome(ok=False, status=500))
    assert [s for _, s in broken] == [Act("open_page")]
    never = load_scenario(overrides=["personas.normal.funnel.login=0"])
    assert all(not acts(run(user, never, seed), "login") for seed in range(50))


def test_a_refused_open_is_tried_once_more_then_the_person_moves_on(scenario):
    keen = load_scenario(overrides=["personas.normal.funnel={login: 1, start_tasks: 1, "
                                    "next_institution: 1, follow: 0, grand_draw: 1}"])
    log = run(make(keen, "normal"), keen, 1, open_envelope=lambda act: refused(409))
    opens = [a.params["institution"] for a in acts(log, "open_envelope")]
    assert opens == [i.id for i in keen.campaign.institutions for _ in range(2)]
    assert not acts(log, "grand_draw")  # no envelope opened: no grand round


def test_fraud_script_probes_payouts_without_ever_opening_the_page(scenario):
    settings = scenario.personas.fraud_script
    factory = IdentityFactory(scenario, seed=11)
    real = next(u for u in (factory.new("fraud_script") for _ in range(50))
                if not scenario.antifraud.is_virtual(u.phone))
    log = run(real, scenario, 0)
    actions = [a.action for a in acts(log)]
    assert "open_page" not in actions and "view_rules" not in actions
    assert actions[0] == "login" and actions[1] == "open_envelope"
    first = scenario.campaign.institutions[0]
    assert actions[1:2 + len(first.tasks) + 1] == (
        ["open_envelope"] + ["complete_task"] * len(first.tasks) + ["open_envelope"])
    assert len(acts(log, "open_envelope")) == 2 * len(scenario.campaign.institutions)
    assert {s.seconds for _, s in log if isinstance(s, Wait)} == {settings.request_interval}
    # the grand draw works, the invite envelope stays refused: retried a bounded number of times
    assert len(acts(log, "grand_draw")) == 1
    assert len(acts(log, "open_invite_envelope")) == 1 + settings.retries_on_refusal


def test_fraud_script_retries_a_refused_login_at_most_retries_on_refusal_times(scenario):
    settings = scenario.personas.fraud_script
    log = run(make(scenario, "fraud_script"), scenario, 0, login=lambda act: refused(403))
    retry = [Wait(settings.request_interval), Act("login", invite_code=None)]
    first = [Act("login", invite_code=None)]
    assert [s for _, s in log] == first + retry * settings.retries_on_refusal
    none = load_scenario(overrides=["personas.fraud_script.retries_on_refusal=0"])
    assert len(acts(run(make(none, "fraud_script"), none, 0, login=lambda a: refused()))) == 1


def test_fraud_accounts_of_one_operator_form_an_invite_ring(scenario):
    factory = IdentityFactory(scenario, seed=12)
    first, second, third = (factory.new("fraud_script") for _ in range(3))
    assert first.operator is second.operator is third.operator
    def login(act: Act) -> Outcome:
        return Outcome(ok=True, data={"invite_code": f"ring-{len(first.operator.ring_codes)}"})

    ok = {"login": login}
    logins = [acts(run(u, scenario, 0, **ok), "login")[0] for u in (first, second, third)]
    assert [a.params["invite_code"] for a in logins] == [None, "ring-0", "ring-1"]
    assert first.operator.ring_codes == ["ring-0", "ring-1", "ring-2"]

    off = load_scenario(overrides=["personas.fraud_script.invite_ring=false"])
    factory = IdentityFactory(off, seed=12)
    a, b = factory.new("fraud_script"), factory.new("fraud_script")
    codes = [acts(run(u, off, 0, **ok), "login")[0].params["invite_code"] for u in (a, b)]
    assert codes == [None, None]


def test_invitee_visits_the_link_first_and_logs_in_with_the_inviters_code(scenario):
    keen = load_scenario(overrides=["personas.normal.funnel.login=1"])
    friend = IdentityFactory(keen, 13).invitee(LINK, "code-from-spawn", arrival_t=60.0)
    log = run(friend, keen, 0)
    assert log[0] == (60.0, Act("visit_link", url=LINK))
    assert acts(log, "login") == [Act("login", invite_code="code-inviter")]
    assert "open_page" not in [a.action for a in acts(log)]
    # without a code in the visit's answer, the code it was spawned with
    plain = run(friend, keen, 0, visit_link=lambda act: OK)
    assert acts(plain, "login") == [Act("login", invite_code="code-from-spawn")]
    # a banned domain: the visitor is lost
    lost = run(friend, keen, 0, visit_link=lambda act: refused(403))
    assert [s for _, s in lost] == [Act("visit_link", url=LINK)]


def test_sharer_spawns_invitees_carrying_its_link_and_code(scenario):
    keen = load_scenario(overrides=["personas.sharer.funnel.login=1",
                                    "personas.sharer.invitees_per_share_mean=3"])
    user = make(keen, "sharer")
    log = run(user, keen, 0)
    spawns = [s for _, s in log if isinstance(s, Spawn)]
    urls = acts(log, "share")
    assert urls and spawns
    assert {s.persona for s in spawns} == {"invitee"}
    assert all(s.after_seconds > 0 for s in spawns)
    assert {(s.params["invite_code"], s.params["channel"]) for s in spawns} == {
        (f"code-{user.user_key}", user.channel)}
    assert {s.params["link"] for s in spawns} <= {
        f"https://hb2.yearend-wealth.example/s/{user.user_key}/{n}"
        for n in range(1, len(urls) + 1)}
    actions = [a.action for a in acts(log)]
    assert actions.index("login") < actions.index("share") < actions.index("complete_task")
    # it brought enough friends: it asks for the invite envelope, a bounded number of times
    assert 1 <= len(acts(log, "open_invite_envelope")) <= INVITE_ENVELOPE_TRIES


def test_sharer_shares_at_least_once_and_never_beyond_the_cap(scenario):
    capped = load_scenario(overrides=["personas.sharer.funnel.login=1",
                                      "personas.sharer.shares_mean=30",
                                      "campaign.caps.shares_per_user=2"])
    assert all(len(acts(run(make(capped, "sharer"), capped, s), "share")) == 2 for s in range(20))
    rare = load_scenario(overrides=["personas.sharer.funnel.login=1",
                                    "personas.sharer.shares_mean=0"])
    assert all(len(acts(run(make(rare, "sharer"), rare, s), "share")) == 1 for s in range(20))


def test_sharers_bring_fewer_invitees_late_in_the_campaign(scenario):
    keen = load_scenario(overrides=["personas.sharer.funnel.login=1"])
    half_life = keen.personas.sharer.interest_half_life

    def invitees(arrival_t: float) -> float:
        user = make(keen, "sharer", arrival_t=arrival_t)
        logs = (run(user, keen, seed) for seed in range(300))
        return mean(sum(isinstance(s, Spawn) for _, s in log) for log in logs)

    early, late = invitees(0.0), invitees(2 * half_life)
    assert early > 1.5
    assert late == pytest.approx(early / 4, rel=0.35)


def test_preheat_browser_only_looks_or_tries_to_log_in_before_launch(scenario):
    returned = early = 0
    for seed in range(200):
        arrival = -random.Random(seed).uniform(60, 3 * 86400)
        user = make(scenario, "preheat_browser", seed, arrival_t=arrival)
        log = run(user, scenario, seed)
        assert log[0] == (user.arrival_t, Act("open_page"))
        for t, step in log:
            if isinstance(step, Act) and t < 0:
                assert step.action in ("open_page", "view_rules", "login"), (seed, t, step)
        early += any(isinstance(s, Act) and s.action == "login" and t < 0 for t, s in log)
        returned += any(isinstance(s, Act) and s.action == "login" and t >= 0 for t, s in log)
    people = scenario.personas
    assert early / 200 == pytest.approx(people.preheat_browser.tries_early, abs=0.07)
    share = people.preheat_browser.return_at_launch * people.normal.funnel.login
    assert returned / 200 == pytest.approx(share, abs=0.1)


def test_preheat_browser_that_does_not_return_only_looks(scenario):
    gone = load_scenario(overrides=["personas.preheat_browser.return_at_launch=0",
                                    "personas.preheat_browser.tries_early=0"])
    for seed in range(30):
        log = run(make(gone, "preheat_browser", seed, arrival_t=-100.0), gone, seed)
        assert {a.action for a in acts(log)} == {"open_page", "view_rules"}


def test_preheat_browser_arriving_after_launch_is_a_normal_user(scenario):
    user = make(scenario, "preheat_browser", arrival_t=10.0)
    normal = replace(user, persona="normal")
    assert [s for _, s in run(user, scenario, 5)] == [s for _, s in run(normal, scenario, 5)]


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_same_seed_same_journey_other_seed_another(scenario, persona):
    keen = load_scenario(overrides=["personas.normal.funnel.login=1",
                                    "personas.sharer.funnel.login=1"])
    factory = IdentityFactory(keen, 14)
    if persona == "invitee":
        user = factory.invitee(LINK, "code-inviter", 0.0)
    else:
        user = factory.new(persona, arrival_t=-600.0 if persona == "preheat_browser" else 0.0)
    if persona == "fraud_script":  # ring state is shared by an operator's accounts: start afresh
        user = replace(user, phone="13000000000")

    def steps(seed: int) -> list:
        if user.operator is not None:
            user.operator.ring_codes.clear()
        return [s for _, s in run(user, keen, seed)]

    assert steps(1) == steps(1)
    if persona == "fraud_script":  # a script has no randomness of its own: its identity varies
        assert steps(1) == steps(2)
    else:
        assert any(steps(1) != steps(seed) for seed in range(2, 5))


def test_fraud_script_skips_the_tasks_when_the_payout_is_not_locked(scenario):
    """Against a backend that forgets the lock, the probe pays at once: no task is ever done."""
    user = replace(make(scenario, "fraud_script"), phone="13000000001")
    log = run(user, scenario, 0, open_envelope=lambda act: Outcome(ok=True, payout_fen=288))
    assert not acts(log, "complete_task")
    assert len(acts(log, "open_envelope")) == len(scenario.campaign.institutions)


def test_poisson_counts_have_the_asked_mean():
    rng = random.Random(15)
    assert mean(poisson(rng, 3.0) for _ in range(4000)) == pytest.approx(3.0, abs=0.1)
    assert mean(poisson(rng, 50.0) for _ in range(2000)) == pytest.approx(50.0, abs=0.5)
    assert poisson(rng, 0.0) == 0


def test_a_double_tap_sends_two_copies_of_a_payout_never_of_a_task(scenario):
    tapping = load_scenario(overrides=["personas.normal.funnel={login: 1, start_tasks: 1, next_institution: 1, "
                                       "follow: 1, grand_draw: 1}", "personas.normal.double_tap=1"])
    log = run(make(tapping, "normal"), tapping, 3)
    payouts = acts(log, "open_envelope") + acts(log, "grand_draw")
    assert len(payouts) == len(tapping.campaign.institutions) + 1
    assert all(act.params.get("burst") == 2 for act in payouts)
    assert all("burst" not in act.params for act in acts(log, "complete_task"))
    calm = run(make(scenario, "normal"), scenario, 3)  # the bundled share is small: mostly single taps
    assert sum(act.params.get("burst", 1) for act in acts(calm, "open_envelope")) < 2 * len(acts(calm, "open_envelope"))
