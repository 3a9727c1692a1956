"""How many persona users one core carries: a step load against nginx, beside plain FastHttpUser.

nginx on core 0 answers every path with a fixed JSON body (as in swarm_rps.py); one Locust
process on core 1 (taskset) plays, in turn:

- personas: a step load of the bundled scenario (`--steps`, default 1000,2000,4000,8000;
  `--step-duration`, default 20 s): in each step that many of the peak window's participants
  play at once, 1:1, in real time, with the scenario's journeys, think times and persona mix
  (a participant that finishes is replaced by the next), ramped over the step's first 5 s.
- plain: a plain FastHttpUser (written to a temporary locustfile) with the same users per step
  and ramp (a LoadTestShape), each looping over the requests personas send (swarm_rps.py's
  `persona_requests`) with a lognormal think time between them, the scenario's normal persona's
  (median, sigma). Its request rate is its own (N / mean think time), not the persona mix's.

Each step is measured on its hold (after SETTLE_S, as judging/steps.py judges a step):

- sent: requests/s that went out; asked: requests/s the users asked for. Plain: N / mean think
  time. Personas: N x the requests/s per playing participant of the first step (a proxy that
  holds while the first step is not saturated; the scenario's rate per participant also drifts
  with how far into their journeys the participants are).
- p50/p95: latency of every action against nginx, which answers in microseconds: all of it is
  the generator's own.
- loop lag: the process's event-loop lag (per-second p95, the median of the hold's seconds);
  CPU: the process's CPU over the hold, % of one core. Personas: the run's gauges; plain: the
  same meters (swarm/selfmeasure.py) in the plain locustfile.
- RSS: the Locust process's resident memory (psutil, sampled twice a second), and per user.

The last line is the figure issue 15 asks for: the largest step whose p95 of all actions is
within 10 ms, for personas and for plain.

    .venv/bin/python benchmarks/swarm_capacity.py [--steps 1000,2000,4000,8000] [--step-duration 20]

About 2 x (steps x step duration + start-up): ~3 minutes at the defaults. Loopback only.
Needs nginx (`apt-get install nginx-light`) and taskset.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil

from swarm_rps import ROOT, check_tools, nginx, persona_requests

ADDED_P95_MS = 10.0  # the generator may add this much p95 latency and still count as carrying the users
SAMPLE_S = 0.5  # how often the Locust process's RSS is read
START_UP_S = 120  # each run's bound beyond its steps: start-up, shutdown, saving the run

PLAIN = """
import json, math, random, time

import gevent
from locust import FastHttpUser, LoadTestShape, events, task

from rehearse.swarm.connections import reuse_idle_connections
from rehearse.swarm.selfmeasure import SelfMeasure

reuse_idle_connections()  # keep-alive past descriptor 1023, as the personas have it

REQUESTS = json.load(open({requests!r}))
MEDIAN, SIGMA = {median!r}, {sigma!r}
STEPS, STEP_S, RAMP_S = {steps!r}, {step_s!r}, {ramp_s!r}
ROWS, GAUGES, RUN = [], [], {{}}


class PlainUser(FastHttpUser):
    network_timeout = 10.0
    connection_timeout = 5.0

    def wait_time(self):
        return random.lognormvariate(math.log(MEDIAN), SIGMA)

    def on_start(self):
        self.index = random.randrange(len(REQUESTS))  # users spread over the sequence, sharing one copy

    @task
    def replay(self):
        self.index = (self.index + 1) % len(REQUESTS)
        method, url, name, headers, body = REQUESTS[self.index]
        self.client.request(method, url, name=name, headers=headers, json=body)


class Steps(LoadTestShape):
    def tick(self):
        step = int(self.get_run_time() // STEP_S)
        if step >= len(STEPS):
            return None
        previous = STEPS[step - 1] if step else 0
        return STEPS[step], max(1.0, abs(STEPS[step] - previous) / RAMP_S)


@events.request.add_listener
def _row(name, response_time, exception, **_kwargs):
    ROWS.append((time.time() - response_time / 1000, name, response_time, exception is None))


def _sample(environment, measure):
    while True:
        gevent.sleep(1.0)
        load = measure.take()
        GAUGES.append((time.time(), load.loop_lag_ms, load.cpu_percent, environment.runner.user_count))


@events.test_start.add_listener
def _start(environment, **_kwargs):
    RUN["started"] = time.time()
    measure = SelfMeasure(gevent.sleep)
    gevent.spawn(measure.run)
    gevent.spawn(_sample, environment, measure)


@events.quitting.add_listener
def _save(environment, **_kwargs):
    with open({out!r}, "w") as f:
        json.dump({{"started": RUN.get("started"), "rows": ROWS, "gauges": GAUGES}}, f)
"""


@dataclass(frozen=True)
class StepFigures:
    """One generator's figures on one step's hold."""

    users: int
    playing: float
    sent_rps: float
    asked_rps: float
    p50_ms: float
    p95_ms: float
    lag_ms: float
    cpu_percent: float
    rss_mb: float
    status: str = ""  # personas: judging/steps.py's verdict on the step
    worst: tuple[tuple[str, float], ...] = ()  # personas: the slowest actions' p95 (ms)

    @property
    def kb_per_user(self) -> float:
        return 1024 * self.rss_mb / self.users


def run_locust(argv: list[str], seconds: float, work: Path, name: str) -> pd.DataFrame:
    """One Locust process on core 1, bounded; returns its RSS samples (epoch seconds, MB)."""
    log = work / f"{name}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-m", "locust", "--headless",
                                 "--only-summary", *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds + START_UP_S
    try:
        process = psutil.Process(proc.pid)  # taskset execs Python: the same pid
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                samples.append((time.time(), process.memory_info().rss / 2**20))
            except psutil.Error:
                pass
            time.sleep(SAMPLE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SystemExit(f"benchmark: the {name} run exited with {proc.returncode}:\n{tail}")
    return pd.DataFrame(samples, columns=["epoch", "rss_mb"])


def hold_figures(users: int, playing: float, latencies: pd.Series, seconds: float, asked: float,
                 gauges: pd.DataFrame, rss: pd.Series, status: str = "",
                 worst: tuple[tuple[str, float], ...] = ()) -> StepFigures:
    """A step's figures from its hold's latencies, gauges (loop_lag_ms, cpu_percent) and RSS."""
    return StepFigures(users=users, playing=playing, sent_rps=len(latencies) / seconds, asked_rps=asked,
                       p50_ms=float(latencies.quantile(0.5)) if len(latencies) else math.nan,
                       p95_ms=float(latencies.quantile(0.95)) if len(latencies) else math.nan,
                       lag_ms=float(gauges["loop_lag_ms"].astype(float).median()),
                       cpu_percent=float(gauges["cpu_percent"].astype(float).mean()),
                       rss_mb=float(rss.median()) if len(rss) else math.nan, status=status, worst=worst)


def persona_figures(run_dir: Path, rss: pd.DataFrame) -> list[StepFigures]:
    """The persona run's steps (judging/steps.py) with all-action latency, gauges and RSS."""
    from rehearse.observations import load_run
    from rehearse.observations.schema import HARNESS_PERSONAS, UNANSWERED
    from rehearse.judging.steps import steps_of
    from rehearse.scenarios import load_scenario

    run = load_run(run_dir)
    steps = steps_of(run, load_scenario()) or []
    if not steps:
        raise SystemExit(f"benchmark: the persona run in {run_dir} has no steps")
    q = run.requests[(run.requests["error"] != UNANSWERED) & ~run.requests["persona"].isin(HARNESS_PERSONAS)]
    marks = run.events[run.events["kind"] == "step"]
    t0 = float(marks["t"].min())  # the run's first step starts when its clock does
    started = run.info.started_at.timestamp()
    rss_t = t0 + (rss["epoch"] - started)
    per_user = steps[0].rps / max(steps[0].active, 1.0)  # asked per playing participant, first step
    figures = []
    for step in steps:
        rows = q[(q["t"] >= step.start) & (q["t"] < step.end)]
        gauges = run.gauges[(run.gauges["t"] >= step.start) & (run.gauges["t"] < step.end)]
        figures.append(hold_figures(step.target, step.active, rows["latency_ms"], step.end - step.start,
                                    per_user * step.target, gauges,
                                    rss["rss_mb"][(rss_t >= step.start) & (rss_t < step.end)], step.status,
                                    tuple(sorted(step.p95_ms.items(), key=lambda kv: -kv[1])[:3])))
    return figures


def plain_figures(out: Path, rss: pd.DataFrame, steps: list[int], step_s: float,
                  mean_think_s: float) -> list[StepFigures]:
    """The plain run's steps, held over the same seconds of each step as the personas'."""
    from rehearse.judging.steps import SETTLE_S

    saved = json.loads(out.read_text())
    started = float(saved["started"])
    rows = pd.DataFrame(saved["rows"], columns=["epoch", "name", "latency_ms", "ok"])
    gauges = pd.DataFrame(saved["gauges"], columns=["epoch", "loop_lag_ms", "cpu_percent", "users"])
    figures = []
    for index, users in enumerate(steps):
        lo, hi = started + index * step_s + min(SETTLE_S, step_s / 2), started + (index + 1) * step_s
        g = gauges[(gauges["epoch"] >= lo) & (gauges["epoch"] < hi)]
        figures.append(hold_figures(users, float(g["users"].mean()), rows["latency_ms"][(rows["epoch"] >= lo)
                                    & (rows["epoch"] < hi)], hi - lo, users / mean_think_s, g,
                                    rss["rss_mb"][(rss["epoch"] >= lo) & (rss["epoch"] < hi)]))
    return figures


HEADER = (f"  {'users':>6} {'playing':>7} {'sent/s':>7} {'asked/s':>7} {'sent/asked':>10} {'p50 ms':>7} "
          f"{'p95 ms':>8} {'lag p95':>8} {'CPU %':>6} {'RSS MB':>7} {'KB/user':>8}")


def table(title: str, figures: list[StepFigures]) -> list[str]:
    lines = [title, HEADER]
    for f in figures:
        lines.append(f"  {f.users:6,} {f.playing:7,.0f} {f.sent_rps:7,.0f} {f.asked_rps:7,.0f} "
                     f"{f.sent_rps / f.asked_rps if f.asked_rps else math.nan:10.2f} {f.p50_ms:7,.1f} "
                     f"{f.p95_ms:8,.1f} {f.lag_ms:8,.1f} {f.cpu_percent:6.0f} {f.rss_mb:7,.0f} "
                     f"{f.kb_per_user:8,.0f}" + (f"  {f.status}" if f.status else ""))
    return lines


def carried(figures: list[StepFigures]) -> int:
    """The largest step whose p95 of all actions is within ADDED_P95_MS (0 if none)."""
    return max((f.users for f in figures if f.p95_ms <= ADDED_P95_MS), default=0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="1000,2000,4000,8000",
                        help="users (persona participants playing at once) in each step (default %(default)s)")
    parser.add_argument("--step-duration", type=float, default=20.0, metavar="SECONDS",
                        help="wall seconds of each step, its 5 s ramp included (default %(default)s)")
    parser.add_argument("--port", type=int, default=8793, help="nginx's port on 127.0.0.1 (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        args.step_list = [int(part) for part in args.steps.split(",")]
    except ValueError:
        parser.error(f"--steps {args.steps}: expected whole numbers of users, e.g. 1000,2000,4000,8000")
    if not all(0 < n <= 20_000 for n in args.step_list) or not 10 <= args.step_duration <= 120:
        parser.error("--steps: 1 to 20,000 users each; --step-duration: 10 to 120 seconds")
    return args


def main() -> None:
    args = parse_args()
    check_tools()
    from rehearse.judging.steps import SETTLE_S
    from rehearse.scenarios import load_scenario
    from rehearse.swarm.runtime import RAMP_S

    think = load_scenario().personas.normal.think_time
    mean_think_s = think.median * math.exp(think.sigma ** 2 / 2)
    seconds = len(args.step_list) * args.step_duration
    work = Path(tempfile.mkdtemp(prefix="rehearse-swarm-capacity-"))
    try:
        (work / "requests.json").write_text(json.dumps(persona_requests(20_000)))
        (work / "plain.py").write_text(PLAIN.format(
            requests=str(work / "requests.json"), median=think.median, sigma=think.sigma, steps=args.step_list,
            step_s=args.step_duration, ramp_s=min(RAMP_S, args.step_duration / 2), out=str(work / "plain.json")))
        with nginx(work, args.port) as url:
            print(f"nginx on core 0, one Locust process on core 1: steps of {args.steps} users, "
                  f"{args.step_duration:g} s each (held after the first {min(SETTLE_S, args.step_duration / 2):g} s)")
            rss = run_locust(["-f", "locustfile.py", "--host", url, "--steps", args.steps, "--step-duration",
                              f"{args.step_duration:g}s", "--run-dir", str(work / "run")], seconds, work, "persona")
            personas = persona_figures(work / "run", rss)
            rss = run_locust(["-f", str(work / "plain.py"), "--host", url], seconds, work, "plain")
            plain = plain_figures(work / "plain.json", rss, args.step_list, args.step_duration, mean_think_s)
        lines = table("personas (the bundled scenario's peak window, mix and think times; 1:1, real time; "
                      "asked = users x step 1's rate per playing participant)", personas)
        lines += table(f"plain FastHttpUser (the same requests, lognormal think time median {think.median:g} s, "
                       f"sigma {think.sigma:g}; asked = users / {mean_think_s:.1f} s)", plain)
        top = personas[-1]
        lines.append(f"  persona p95 by action at {top.users:,}, slowest: "
                     + ", ".join(f"{action} {ms:,.1f} ms" for action, ms in top.worst))
        lines.append("  requests/s sent, personas / plain: " + ", ".join(
            f"{p.users:,}: {p.sent_rps:,.0f} / {q.sent_rps:,.0f} = {p.sent_rps / q.sent_rps:.2f}"
            for p, q in zip(personas, plain)))
        lines.append(f"persona users per core within {ADDED_P95_MS:g} ms added p95: {carried(personas)} "
                     f"(plain FastHttpUser: {carried(plain)})")
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
