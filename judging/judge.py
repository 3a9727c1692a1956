"""The verdict of a rehearsal: every gate on every run, each verdict labelled with its run, the
required checks no run against the target verified, and the runs that did not finish.

    judgement = judge([("live", load_run(folder))], scenario)
    judgement.tally.headline    # "INCONCLUSIVE: 12 passed; 0 failed; 3 not verified; 1 required ..."
    judgement.exit_code         # 0 pass, 1 fail, 3 inconclusive
    judgement.tally.to_conclude # what would make it conclusive, a line per open check

Money is judged per target: a phase played against the same given target as an earlier phase
of the rehearsal is judged against what that phase left (judging/carried.py).

A simulated run is a prediction: it can fail a check, it cannot verify the target, so the
scenario's required checks (`gates.required`, less those not applicable to the campaign) are
asked of the live runs only. A run that did
not finish never passes, unless `allow_interrupted` (exploring what an interrupted run saw).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from rehearse.observations import Run
from rehearse.judging.agreement import Agreement, load_check
from rehearse.judging.carried import bans_before, money_before
from rehearse.judging.gates import all_gates, as_asked
from rehearse.judging.steps import Step, steps_of
from rehearse.judging.verdicts import Tally, Verdict, missing_evidence, tally
from rehearse.scenarios import Scenario

@dataclass(frozen=True)
class Judgement:
    verdicts: tuple[Verdict, ...]
    tally: Tally
    agreements: tuple[tuple[str, Agreement], ...] = ()  # each live run's load beside the simulator's
    steps: tuple[tuple[str, tuple[Step, ...]], ...] = ()  # each step load's steps (the peak at real concurrency)

    @property
    def exit_code(self) -> int:
        return self.tally.exit_code


def unfinished(label: str, run: Run) -> str | None:
    """Why a run cannot pass as it is ("live: interrupted after 8 of 30 s"), or None if it finished."""
    info = run.info
    if info.status == "finished":
        return None
    played = info.extra.get("played_s")
    if not isinstance(played, (int, float)) and info.ended_at is not None:
        played = (info.ended_at - info.started_at).total_seconds()
    planned = info.extra.get("duration_s")
    how_much = ""
    if isinstance(played, (int, float)):
        how_much = f" after {played:,.0f} s" + (f" of {planned:,.0f} s" if isinstance(planned, (int, float)) else "")
    if info.status == "interrupted":
        return f"{label} was interrupted{how_much}: judge a finished run, or pass --allow-interrupted"
    return (f"{label} is {info.status} (no end recorded: still running, or its writer died): judge a finished "
            "run, or pass --allow-interrupted")


def judge(runs: Sequence[tuple[str, Run]], scenario: Scenario, *, allow_unverified: bool = False,
          allow_interrupted: bool = False, findings: Sequence[Verdict] = ()) -> Judgement:
    """Every gate on every run (and each live run's load against the simulated run's), and the
    rehearsal's own `findings` about the target (it stopped answering between phases); the tally
    with the live runs' missing evidence and unfinished runs."""
    verdicts: list[Verdict] = list(findings)
    missing: list[Verdict] = []
    stopped: list[str] = []
    per_run: list[list[Verdict]] = []  # each live run's required checks it did not verify
    checked = load_check(runs, scenario)
    load = {label: verdict for label, verdict, _ in checked}
    before = money_before(runs, scenario)  # one target, one budget: earlier phases' payouts carry forward
    banned = bans_before(runs)  # and its bans: a domain banned again counts from its first ban
    for label, run in runs:
        found = all_gates(run, scenario, before.get(label), banned.get(label)) + as_asked(
            [load[label]] if label in load else [], scenario)
        judged = [replace(v, run=label, engine=run.info.engine) for v in found]
        verdicts += judged
        if run.info.live and not allow_unverified:
            per_run.append([v for v in missing_evidence(judged, scenario.required_checks())
                            if scenario.requires(v.key)])
        line = unfinished(label, run)
        if line is not None and not allow_interrupted:
            stopped.append(line)
    # a required check is verified when one live run verified it (each phase of the main job
    # rehearses some of the risks: the peak phase bans nothing, the launch window's swarm is 1:100)
    if per_run:
        everywhere = set.intersection(*({v.key for v in found} for found in per_run))
        missing = [v for v in per_run[0] if v.key in everywhere]
    agreements = tuple((label, agreement) for label, _, agreement in checked
                       if agreement is not None and agreement.figures)
    steps = tuple((label, tuple(stepped)) for label, run in runs if (stepped := steps_of(run, scenario)))
    waived = [key for key in scenario.gates.required if key in scenario.not_applicable()]
    return Judgement(verdicts=tuple(verdicts), tally=tally(verdicts, missing, stopped, waived), agreements=agreements,
                     steps=steps)
