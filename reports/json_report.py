"""The capacity report as data: every key figure per run, the verdicts, and deltas to a baseline."""

from __future__ import annotations

from rehearse.observations import Run
from rehearse.reports.compare import compare
from rehearse.reports.figures import key_figures
from rehearse.judging.verdicts import Tally, Verdict, tally


def report_json(runs: list[tuple[str, Run]], verdicts: list[Verdict],
                baseline: dict | None = None, judged: Tally | None = None) -> dict:
    """A JSON-ready report; `baseline` (a baseline run's key figures) is set against the first run.
    """
    figures = {label: key_figures(run) for label, run in runs}
    judged = judged or tally(verdicts)
    return {  # the verdict first
        "verdict": judged.outcome,  # pass, fail or inconclusive
        "passed": judged.ok,
        "exit_code": judged.exit_code,
        "headline": judged.headline,
        "to_conclude": list(judged.to_conclude) if judged.outcome == "inconclusive" else [],
        "predictions": list(judged.predictions),  # labelled: a model's, never a measurement
        "runs": [{"label": label, "scenario": run.info.scenario, "engine": run.info.engine,
                  "seed": run.info.seed, "status": run.info.status, "rolled_up": run.rolled_up,
                  "figures": figures[label]} for label, run in runs],
        "verdicts": [v.as_dict() for v in verdicts],
        "required_not_verified": [v.as_dict() for v in judged.required_unverified],
        "unfinished_runs": list(judged.interrupted),
        "deltas": baseline_deltas(runs, figures, baseline),
    }


def baseline_deltas(runs: list[tuple[str, Run]], figures: dict[str, dict],
                    baseline: dict | None) -> list[dict]:
    """The first run's deltas to the baseline, as dicts (none without a baseline or runs)."""
    if baseline is None or not runs:
        return []
    return [d.as_dict() for d in compare(figures[runs[0][0]], baseline)]
