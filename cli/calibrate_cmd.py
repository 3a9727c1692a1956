"""`rehearse calibrate RUN`: a step load's held steps fitted (the USL, an M/M/c queue per action),
the knee they predict, and the scenario with the calibrated backend_model written beside it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from rehearse.cli.check_cmd import ALLOW_OTHER_SCENARIO, SCENARIO_OPTION
from rehearse.cli.options import InPath, Override

CALIBRATION_FILE = "calibration.json"


def _n(x: float) -> str:
    from rehearse.calibration.fit import count_text

    return count_text(x)


def print_calibration(console: Console, calibration, label: str) -> None:
    """The fit, its ranges and the predicted knee, every figure labelled a prediction."""
    usl, r = calibration.usl, calibration.usl_range
    console.print(f"{label}: calibrated on the held steps at {', '.join(f'{n:,}' for n in calibration.steps)} "
                  "participants; everything below is a prediction", markup=False)
    console.print(f"USL, the target's throughput against its requests in flight: {usl.lam:,.4g} requests/s per "
                  f"request in flight ({r['lam'][0]:,.4g}-{r['lam'][1]:,.4g}), contention sigma {usl.sigma:.3g} "
                  f"({r['sigma'][0]:.3g}-{r['sigma'][1]:.3g}), coherency kappa {usl.kappa:.3g} "
                  f"({r['kappa'][0]:.3g}-{r['kappa'][1]:.3g}); it serves at most {_n(usl.max_throughput)} requests/s "
                  f"({_n(r['max_throughput'][0])}-{_n(r['max_throughput'][1])})", markup=False)
    table = Table("action", "service time", "workers", "capacity req/s (consistent range)", "SLO",
                  title="the backend model fitted per action (M/M/c)", title_justify="left")
    for action, fit in calibration.queues.items():
        table.add_row(action, f"{fit.best.service_time * 1000:.3g} ms", f"{fit.best.servers:,}",
                      f"{fit.best.capacity:,.0f} ({fit.least.capacity:,.0f}-{_n(fit.most.capacity)})",
                      f"{calibration.slo_ms[action]:,.0f} ms")
    console.print(table)
    knee = calibration.knee
    console.print(f"predicted knee: {knee.text}, at the load each participant sent at {calibration.steps[-1]:,} "
                  f"({calibration.per_participant:.3g} requests/s) (prediction)", markup=False)
    target = calibration.peak_target
    replicas = calibration.replicas_for(target)
    if replicas is not None:
        console.print(f"the peak gate's {target:,} participants need {replicas} cop{'y' if replicas == 1 else 'ies'} of "
                      "the target at this knee, if it scales out linearly (prediction)", markup=False)
    for note in calibration.notes:
        console.print(f"note: {note}", markup=False)


@click.command()
@click.argument("run_dir", metavar="RUN", type=InPath(file_okay=False))
@SCENARIO_OPTION
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", type=Override(),
              help="The what-if overrides the run was made with (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the scenario with the calibrated backend_model. [default: beside the "
                   "scenario, NAME.calibrated.yaml; for the bundled scenario, in the current folder]")
@click.option("--hold-out", is_flag=True,
              help="Fit on every held step but the highest and print the prediction for it beside what was "
                   "measured (how far the fit can be trusted); writes nothing.")
@ALLOW_OTHER_SCENARIO
def calibrate(run_dir: Path, scenario_path: Path | None, overrides: tuple[str, ...], out: Path | None,
              hold_out: bool, allow_other_scenario: bool) -> None:
    """Fit a step load (a peak phase, RUN/peak, or `rehearse swarm --steps`) to predict past it.

    From the held steps (at least three) it fits the Universal Scalability Law (the target's
    throughput against its requests in flight) and, per action, the M/M/c queue (service
    time, workers) the simulator's backend_model takes, to its p95 at each step's request
    rate; prints the fit, its ranges and the knee it predicts at the load each participant
    sent (labelled a prediction: a prediction verifies nothing about the target); writes the
    scenario with the calibrated backend_model (then `rehearse simulate FILE`) and
    RUN/calibration.json. Exit 2 for a run that is no step load or has too few held steps.
    """
    from rehearse.calibration import calibrate as fit
    from rehearse.calibration.scenario_file import calibrated_text
    from rehearse.cli.check_cmd import load_runs_and_scenario
    from rehearse.scenarios.loader import default_scenario_path

    loaded, scenario = load_runs_and_scenario((run_dir,), scenario_path, overrides, allow_other_scenario)
    label, run = loaded[0]
    console = Console(highlight=False, soft_wrap=True)
    if hold_out:
        print_hold_out(console, run, scenario, label)
        return
    calibration = fit(run, scenario)
    print_calibration(console, calibration, label)
    source = scenario_path or default_scenario_path()
    target = out or (source.with_name(f"{source.stem}.calibrated.yaml") if scenario_path is not None
                     else Path(f"{source.stem}.calibrated.yaml"))
    header = (f"{scenario.name}, its backend_model calibrated by `rehearse calibrate` on {run_dir} "
              f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)\nfrom the held steps at "
              f"{', '.join(f'{n:,}' for n in calibration.steps)} participants: a prediction, not a measurement.\n"
              f"the scenario: {source}" + (f" with {' '.join(f'--set {o}' for o in overrides)}" if overrides else ""))
    text = calibrated_text(source.read_text(encoding="utf-8"), str(source), overrides,
                           calibration.backend_model(scenario), header)
    if target.resolve() == source.resolve():
        raise click.UsageError(f"--out {target}: that is the scenario itself; write the calibrated one beside it")
    _write(target, text, f"--out {target}", "choose a writable path")
    _write(run_dir / CALIBRATION_FILE, json.dumps(calibration.as_dict(), indent=2) + "\n", str(run_dir / CALIBRATION_FILE),
           "make the run folder writable (the calibrated scenario was written)")
    console.print(f"wrote {target} (simulate with it: rehearse simulate {target}) and {run_dir / CALIBRATION_FILE}",
                  markup=False)


def _write(path: Path, text: str, name: str, fix: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"{name}: cannot write: {exc.strerror or exc}; {fix}") from None


def print_hold_out(console: Console, run, scenario, label: str) -> None:
    """Fit on all held steps but the highest; its prediction for that step against the measurement."""
    from rehearse.calibration import calibrate as fit

    whole = fit(run, scenario)
    last = whole.samples[-1]
    calibration = fit(run, scenario, below=last.participants)
    print_calibration(console, calibration, label)
    sent = calibration.predict(last.participants).rps  # the load: each participant as at the highest step fitted
    predicted = calibration.at_rates({a: s.rate for a, s in last.actions.items()})
    console.print(f"held out: the step at {last.participants:,} participants: {sent:,.0f} requests/s predicted, "
                  f"{last.rps:,.0f} measured ({sent / last.rps - 1:+.0%}); p95 at the rates it was sent:", markup=False)
    for action, p95 in predicted.p95_ms.items():
        seen = last.actions.get(action)
        if seen is not None:
            console.print(f"  p95 {action}: {p95:,.0f} ms predicted, {seen.p95_ms:,.0f} ms measured "
                          f"({p95 / seen.p95_ms - 1:+.0%})", markup=False)
