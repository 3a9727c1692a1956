"""A prediction beside a peak the live steps could not verify: when a step load's active-users
check was not verified (the load generator limited a step, or the steps stopped short of the
target), its held steps are calibrated and the predicted knee is added to the verdict, labelled
a prediction. It never changes a verdict."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from rehearse.calibration.fit import CalibrationError, calibrate
from rehearse.judging.judge import Judgement
from rehearse.observations import Run
from rehearse.scenarios import Scenario


def with_peak_predictions(judgement: Judgement, runs: Sequence[tuple[str, Run]], scenario: Scenario) -> Judgement:
    """The judgement with a prediction line (`Tally.predictions`) per step load whose peak was
    not verified: its predicted knee, or why there is none."""
    open_peak = {v.run for v in judgement.verdicts if v.key == "peak.active_users" and v.status == "unverified"}
    stepped = {label for label, _ in judgement.steps}
    lines = []
    for label, run in runs:
        if label not in open_peak or label not in stepped:
            continue
        try:
            calibration = calibrate(run, scenario)
        except CalibrationError as exc:
            lines.append(f"{label}: no predicted knee: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001  a prediction never stops the verdict
            lines.append(f"{label}: no predicted knee: the fit failed ({type(exc).__name__}: {exc})")
            continue
        lines.append(f"{label}: predicted knee {calibration.knee.text}, from the held steps at "
                     f"{', '.join(f'{n:,}' for n in calibration.steps)} "
                     "(a prediction: it verifies nothing; rehearse calibrate on the run's folder shows the fit)")
    if not lines:
        return judgement
    return replace(judgement, tally=replace(judgement.tally, predictions=tuple(lines)))
