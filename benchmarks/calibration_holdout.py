"""Hold-out validation of `rehearse calibrate`: a step load against a backend, the fit made on
every held step but the highest, and its predictions for that step beside what was measured
(throughput within 15 %, p95 within 30 %, the knee within one step: the issue's targets).

    .venv/bin/python benchmarks/calibration_holdout.py [--backend reference|lucky_bag]
        [--steps 500,1000,2000,4000] [--step-duration 40s] [--run FOLDER]

The backend and one load process share this machine's cores, as in the main job. Prints the
errors; exit 0 whatever they are (a benchmark reports, it does not gate).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def play(backend: str, steps: str, step_s: str, out: Path) -> Path | None:
    """The step load's run folder (None if it did not finish)."""
    import subprocess

    command = [sys.executable, "-m", "rehearse", "swarm", "--steps", steps, "--step-duration", step_s,
               "--out", str(out)]
    if backend == "reference":
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        return out if done.returncode == 0 else None
    from examples.lucky_bag.serve import SCENARIO, serving

    with serving(()) as (url, key):
        done = subprocess.run([*command[:4], str(SCENARIO), *command[4:], "--host", url], cwd=ROOT,
                              capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "REHEARSE_OPS_TOKEN": key})
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return out if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("reference", "lucky_bag"), default="reference")
    parser.add_argument("--steps", default="500,1000,2000,4000")
    parser.add_argument("--step-duration", default="40s")
    parser.add_argument("--run", type=Path, help="judge this step load's folder instead of playing one")
    args = parser.parse_args()

    from rehearse.calibration import calibrate
    from rehearse.judging.steps import knee_of
    from rehearse.observations import load_run
    from rehearse.scenarios import load_scenario

    with contextlib.ExitStack() as stack:
        if args.run is None:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearse-calibration-"))) / "run"
            print(f"playing {args.steps} participants, {args.step_duration} each, against {args.backend} ...",
                  flush=True)
            run_dir = play(args.backend, args.steps, args.step_duration, out)
            if run_dir is None:
                sys.exit("the step load did not finish: see above")
        else:
            run_dir = args.run
        from examples.lucky_bag.serve import SCENARIO

        scenario = load_scenario(SCENARIO if args.backend == "lucky_bag" else None)
        run = load_run(run_dir)
        whole = calibrate(run, scenario)
        last = whole.samples[-1]
        fit = calibrate(run, scenario, below=last.participants)
        predicted = fit.at_rates({a: s.rate for a, s in last.actions.items()})
        served = fit.predict(last.participants).rps  # participants times the load each sent at the highest step fitted
        print(f"fitted on {', '.join(f'{n:,}' for n in fit.steps)}; held out {last.participants:,} (a prediction)")
        rps_error = served / last.rps - 1
        print(f"throughput: {served:,.0f} req/s predicted ({fit.per_participant:.3g} per participant, as at "
              f"{fit.steps[-1]:,}), {last.rps:,.0f} measured: error {rps_error:+.1%} "
              f"({'within' if abs(rps_error) <= 0.15 else 'OUTSIDE'} 15 %)")
        print("p95 at the rates the step sent (the load is the journeys', the latency the target's):")
        errors = {}
        for action, p95 in predicted.p95_ms.items():
            seen = last.actions.get(action)
            if seen is not None:
                errors[action] = p95 / seen.p95_ms - 1
                print(f"  p95 {action}: {p95:,.1f} ms predicted, {seen.p95_ms:,.1f} ms measured: {errors[action]:+.0%}")
        worst_pred = max(predicted.p95_ms.values())
        worst_seen = max(a.p95_ms for a in last.actions.values())
        worst = worst_pred / worst_seen - 1
        print(f"worst p95 of the step: {worst_pred:,.1f} ms predicted, {worst_seen:,.1f} ms measured: {worst:+.0%} "
              f"({'within' if abs(worst) <= 0.30 else 'OUTSIDE'} 30 %); actions within 30 %: "
              f"{sum(abs(e) <= 0.30 for e in errors.values())} of {len(errors)}")
        knee, stop = knee_of(list(fit_steps(run, scenario)))
        measured = f"{knee.target:,}" if knee else "none"
        beyond = f" (the next step, {stop.target:,}, {stop.status})" if stop else " (every step held)"
        print(f"knee: predicted {fit.knee.participants:,.0f} ({fit.knee.low:,.0f}-{fit.knee.high:,.0f}, "
              f"{fit.knee.limit}); measured {measured}{beyond}")


def fit_steps(run, scenario):
    from rehearse.judging.steps import steps_of

    return steps_of(run, scenario) or []


if __name__ == "__main__":
    main()
