"""The simulator at full scale against a straightforward SimPy model, in one run.

1. `simulate()` on the bundled scenario at 1:1 (about 900,000 participants plus preheat
   visitors and fraud, no sampling), in a fresh process pinned to core 0: wall time and peak
   memory. Targets: <= 15 s and <= 1.5 GiB.
2. The baseline: one SimPy process per participant stepping the same persona generator
   through a SimPy resource per action (service times and concurrency from the scenario),
   answered by the same campaign rules, on a slice of the same scenario (the first
   participants after launch), also pinned to core 0. Its time per participant, scaled to the
   whole campaign, gives the speed ratio.

    .venv/bin/python benchmarks/simulate_speed.py [--slice 20000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FULL = """
import json, resource, time
from rehearse.scenarios import load_scenario
from rehearse.simulator.campaign import simulate
scenario = load_scenario()
started = time.perf_counter()
result = simulate(scenario, seed=1)
wall = time.perf_counter() - started
print(json.dumps({"wall_s": wall, "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "day_one": int(result.participants.count_live(86400)),
                  "participants": int(result.participants.count_live()), "arrivals": len(result.participants),
                  "actions": int(result.requests["count"].sum())}))
"""

NAIVE = """
import json, random, time
import numpy as np
import simpy
from rehearse.personas.identity import IdentityFactory
from rehearse.personas.journeys import PERSONAS
from rehearse.personas.steps import WAITED, Act, Spawn, Wait
from rehearse.scenarios import load_scenario
from rehearse.simulator.arrivals import PERSONAS as CODES, generate
from rehearse.simulator.journeys import RulesBackend

SLICE = {slice}
scenario = load_scenario()
people = generate(scenario, 1)
live = np.flatnonzero(people.t >= 0)[:SLICE]
capacity = scenario.backend_model.actions
started = time.perf_counter()
env = simpy.Environment()
servers = {{name: simpy.Resource(env, capacity=a.concurrency) for name, a in capacity.items()}}
identities = IdentityFactory(scenario, 1)
rng = random.Random(1)
actions = [0]

def participant(persona):
    user = identities.new(persona, env.now)
    backend = RulesBackend(scenario, user, rng)
    journey = PERSONAS[persona](user, scenario, rng)
    outcome = None
    while True:
        try:
            step = next(journey) if outcome is None else journey.send(outcome)
        except StopIteration:
            return
        if isinstance(step, Wait):
            yield env.timeout(max(0.0, step.seconds))
            outcome = WAITED
        elif isinstance(step, Spawn):
            outcome = WAITED
        else:
            with servers[step.action].request() as slot:
                yield slot
                yield env.timeout(rng.expovariate(1.0 / capacity[step.action].service_time))
            outcome = backend.answer(step)
            actions[0] += 1

def arrivals():
    for row in live:
        yield env.timeout(max(0.0, people.t[row] - env.now))
        persona = CODES[people.persona[row]]
        env.process(participant("normal" if persona == "preheat_browser" else persona))

env.process(arrivals())
env.run()
wall = time.perf_counter() - started
print(json.dumps({{"wall_s": wall, "participants": len(live), "actions": actions[0]}}))
"""


def run(code: str) -> dict:
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"benchmark: a measured process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slice", type=int, default=20_000, help="participants in the SimPy baseline")
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        sys.exit("benchmark: taskset is not installed (util-linux)")
    full = run(FULL)
    naive = run(NAIVE.format(slice=args.slice))
    ours_per = full["wall_s"] / full["participants"]
    naive_per = naive["wall_s"] / naive["participants"]
    print("simulator, bundled scenario at 1:1, one core:")
    print(f"  {full['day_one']:,} participants on day one, {full['participants']:,} live participants ({full['arrivals']:,} arrivals with preheat visits), "
          f"{full['actions']:,} actions")
    print(f"  wall {full['wall_s']:.1f} s (target <= 15 s: {'met' if full['wall_s'] <= 15 else 'NOT met'}), "
          f"peak memory {full['peak_gib']:.2f} GiB (target <= 1.5 GiB: "
          f"{'met' if full['peak_gib'] <= 1.5 else 'NOT met'})")
    print(f"one SimPy process per participant, first {naive['participants']:,} participants of the same scenario:")
    print(f"  wall {naive['wall_s']:.1f} s, {naive['actions']:,} actions; "
          f"{naive_per * 1e6:,.0f} us per participant against {ours_per * 1e6:,.1f} us")
    print(f"  the whole campaign that way: ~{naive_per * full['participants'] / 60:,.1f} min; "
          f"speed ratio {naive_per / ours_per:,.0f}x")


if __name__ == "__main__":
    main()
