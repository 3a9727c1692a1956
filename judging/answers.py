"""The answers a launch rehearsal owes a team before any detail: will the backend hold the peak,
does it fail over when a link is banned, does it keep to its payout budget, does it refuse script
fraud (the campaign write-ups' risks: the peak, link bans, funds, scripts).

Each answer is read from the verdicts of the runs against the target (by the engine that made
the run, whatever its label); where no live run judged a risk, from the simulated run, labelled
as a prediction. The words are the verdicts' own: a
risk with a failed check is FAIL, one whose checks all passed is PASS, one whose checks all judge a
feature the campaign lacks (no share links) NOT APPLICABLE, anything else NOT VERIFIED.

    for answer in launch_answers(judgement.verdicts):
        print(answer.line)     # "Budget: FAIL (live): anhe: 7,135 fen paid against 1,440 fen ..."
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rehearse.observations.schema import SIMULATOR
from rehearse.judging.verdicts import Verdict

RISKS = (("peak", "Peak"), ("failover", "Failover"), ("payout", "Budget"), ("fraud", "Fraud"))
# the checks (gate.slug) each answer is made of, the first one saying which runs measured the
# risk (the others stay in the tables)
MAIN = {"peak": ("peak.active_users", "peak.p95", "peak.error_rate", "peak.answers_after_peak"),
        "failover": ("failover.links_off", "failover.pool_never_empty", "failover.visits_lost"),
        "payout": ("payout.never_overdrawn", "payout.no_pool_overdrawn", "payout.paid_once", "payout.within_rules",
                   "payout.books_match"),
        "fraud": ("rules.flagged_numbers_refused", "payout.fraud_share")}


@dataclass(frozen=True)
class Answer:
    risk: str
    word: str  # PASS, FAIL, FAIL (advisory), NOT VERIFIED, NOT APPLICABLE or OFF
    source: str  # "live" or "simulated: a prediction"
    detail: str

    @property
    def line(self) -> str:
        return f"{self.risk}: {self.word} ({self.source}): {self.detail}"


def _first(v: Verdict) -> str:
    return v.evidence[0].detail if v.evidence else v.check


def _answer(risk: str, label: str, verdicts: list[Verdict], source: str) -> Answer:
    if verdicts and all(v.status in ("not_applicable", "off") for v in verdicts):
        word = "OFF" if all(v.status == "off" for v in verdicts) else "NOT APPLICABLE"
        return Answer(label, word, source, "; ".join(dict.fromkeys(_first(v) for v in verdicts)))
    advised = [v for v in verdicts if v.status == "fail" and v.advisory]  # shown, never failing
    verdicts = [v for v in verdicts if v.status not in ("not_applicable", "off") and v not in advised]
    if not verdicts:  # only advisory checks judged it, and they failed: never a PASS
        return Answer(label, "FAIL (advisory)", source, "; ".join(f"{v.check}: {_first(v)}" for v in advised[:2])
                      + " (advisory: not failing the rehearsal)")
    answer = _judged_answer(risk, label, verdicts, source)
    if advised:
        answer = Answer(answer.risk, answer.word, answer.source, answer.detail + " (advisory, not failing: "
                        + "; ".join(f"{v.check}: {_first(v)}" for v in advised[:2]) + ")")
    return answer


def _judged_answer(risk: str, label: str, verdicts: list[Verdict], source: str) -> Answer:
    failed = [v for v in verdicts if v.status == "fail"]
    open_ = [v for v in verdicts if v.status == "unverified"]
    if failed:
        return Answer(label, "FAIL", source, "; ".join(_links(v) if v.slug == "links_off" else f"{v.check}: {_first(v)}"
                                                    for v in failed[:3]))
    if risk == "peak":
        active = next((v for v in verdicts if v.slug == "active_users"), None)
        slow = [v for v in verdicts if v.slug == "p95" and v.status == "pass"]
        rate = next((v for v in verdicts if v.slug == "error_rate" and v.status == "pass"), None)
        parts = [(f"{active.figure:,.0f} active users against {active.limit:,.0f}" if active and active.status == "pass"
                  else _first(active) if active else "no active users measured")]
        if active is not None and active.status == "pass" and _first(active).startswith("knee"):
            parts[0] += f" ({_first(active)})"  # a step load: the knee and its requests/s
        if len(slow) == 1 and slow[0].figure is None:  # a step load: one verdict for every step
            parts += [f"p95 {_first(slow[0])}"]
        else:
            parts += [f"p95 within its SLO for {len(slow)} actions"] if slow else []
        parts += [f"errors {rate.figure:.2%}"] if rate is not None and rate.figure is not None else []
        word = "PASS" if active is not None and active.status == "pass" and not open_ else "NOT VERIFIED"
        return Answer(label, word, source, "; ".join(parts))
    if open_ and not any(v.status == "pass" for v in verdicts if v.key in MAIN[risk][:2]):
        return Answer(label, "NOT VERIFIED", source, "; ".join(f"{v.check}: {_first(v)}" for v in open_[:2]))
    passed = [v for v in verdicts if v.status == "pass"]
    if risk == "failover":
        detail = "; ".join(_links(v) for v in passed if v.slug == "links_off") or "; ".join(_first(v) for v in passed[:2])
    elif risk == "fraud":  # what was seen: the flagged logins refused, what scripts were paid
        detail = "; ".join(dict.fromkeys(_first(v) for v in passed))
    else:
        detail = "; ".join(dict.fromkeys(v.check for v in passed))  # once, whichever runs passed it
    word = "PASS" if not open_ else "NOT VERIFIED"
    extra = f" (not verified: {', '.join(v.check for v in open_[:3])})" if open_ else ""
    return Answer(label, word, source, detail + extra)


def _links(v: Verdict) -> str:
    domain = v.check.removeprefix("links off ")
    if v.figure is None:
        return f"{domain}: {v.evidence[-1].detail if v.evidence else 'not measured'}"
    if v.status == "fail":
        return f"{domain} still issued {v.figure:,.0f} s after its ban (promise {v.limit:,.0f} s)"
    return f"{domain} off {v.figure:,.0f} s after its ban (promise {v.limit:,.0f} s)"


def launch_answers(verdicts: Sequence[Verdict]) -> list[Answer]:
    """Peak, failover, budget and fraud, from the live runs' verdicts (else the simulated ones)."""
    answers = []
    for risk, label in RISKS:
        mine = [v for v in verdicts if v.key in MAIN[risk]]
        live = [v for v in mine if v.engine != SIMULATOR]
        # the runs that measured the risk answer it (the peak: a step load at 1:1; failover: a run
        # with a ban); the others can only add a failure
        measured = {v.run for v in live if v.key == MAIN[risk][0] and v.status in ("pass", "fail")}
        if not measured:  # the first check does not apply (no flagged numbers): any check judged
            measured = {v.run for v in live if v.status in ("pass", "fail")}
        if measured:
            live = [v for v in live if v.run in measured or v.failed]
        # a check one run could not judge (a step load's fraud share) that another judged is answered
        # by that one, as the judge verifies a required check once one live run verified it
        judged_keys = {v.key for v in live if v.status in ("pass", "fail")}
        live = [v for v in live if not (v.status == "unverified" and v.key in judged_keys)]
        if live:
            answers.append(_answer(risk, label, live, "live"))
        elif mine:
            answers.append(_answer(risk, label, mine, "simulated: a prediction"))
        else:
            answers.append(Answer(label, "NOT VERIFIED", "no run", "nothing judged it"))
    return answers
