"""How much load one persona process makes: persona users against plain FastHttpUser.

All runs hit the same trivial endpoint (nginx on core 0 answering every path with a fixed
JSON body that satisfies the bundled target contract), one Locust process pinned to core 1,
in the same run:
- plain, same requests: a plain FastHttpUser replaying the very requests the personas send
  (methods, paths, headers, JSON bodies), with no persona logic and no observations. The
  ratio against it is the harness's own cost: personas, target contract, platform model and
  one observation row per request. Target: >= 0.90.
- plain GET: a plain FastHttpUser sending a bare GET, for context: persona-shaped requests
  (POST, JSON, auth headers) cost Locust itself more than a bare GET.

    .venv/bin/python benchmarks/swarm_rps.py [--seconds 10] [--rounds 3] [--users 50]

Needs nginx (`apt-get install nginx-light`) and taskset.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

BODY = {"token": "t0k", "user_id": 1, "invite_code": "c0de", "sign": "s1gn", "amount_fen": 88,
        "url": "https://hb1.yearend-wealth.example/s/abc", "domain": "hb1.yearend-wealth.example"}

NGINX_CONF = """
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 16384; }}  # a keep-alive connection per user, 8,000 users and more
http {{
  access_log off;
  client_body_temp_path {work}/body;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
"""

PLAIN = """
import itertools, json
from locust import FastHttpUser, constant, task

class PlainGet(FastHttpUser):
    wait_time = constant(0)

    @task
    def page(self):
        self.client.get("/api/campaign?channel_id=main_venue")


REQUESTS = json.load(open({requests!r}))


class PlainSameRequests(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.requests = itertools.cycle(REQUESTS)

    @task
    def replay(self):
        method, url, name, headers, body = next(self.requests)
        self.client.request(method, url, name=name, headers=headers, json=body)
"""

# Think times near zero: the benchmark measures the cost of playing personas, not their pauses.
FAST_PERSONAS = [
    "personas.normal.think_time={median: 1ms, sigma: 0}",
    "personas.sharer.think_time={median: 1ms, sigma: 0}",
    "personas.sharer.invitee_delay={median: 1ms, sigma: 0}",
    "personas.preheat_browser.think_time={median: 1ms, sigma: 0}",
    "personas.fraud_script.request_interval=0",
    "traffic.windows.bench={start: 3d, duration: 1h}",  # a flat hour: the user count holds
]


def persona_requests(count: int) -> list[list]:
    """The requests personas send (as the swarm sends them), for the plain replay."""
    import random

    from rehearse.personas.identity import IdentityFactory
    from rehearse.scenarios import load_scenario
    from rehearse.client.contract import load_contract
    from rehearse.swarm.locustfile import _query
    from rehearse.client.player import Player

    scenario = load_scenario(overrides=FAST_PERSONAS)
    out: list[list] = []

    def send(spec):
        url = spec.path + ("?" + _query(tuple(spec.query.items())) if spec.query else "")
        headers = {**spec.headers, **({"Host": spec.host} if spec.host else {})}
        out.append([spec.method, url, spec.action, headers, spec.json])
        return 200, json.dumps(BODY).encode(), 1.0

    player = Player(scenario, load_contract(scenario.target), IdentityFactory(scenario, 1),
                    random.Random(1), lambda: 3 * 86400.0, 240.0, lambda row: None)
    while len(out) < count:
        player.play(player.next_participant(), send, lambda s: None)
    return out[:count]


def rps(csv_prefix: Path) -> tuple[float, int]:
    stats = pd.read_csv(f"{csv_prefix}_stats.csv")
    row = stats[stats["Name"] == "Aggregated"].iloc[0]
    return float(row["Requests/s"]), int(row["Request Count"])


def locust(argv: list[str], seconds: int, profile: Path | None = None) -> None:
    """One Locust process on core 1; under py-spy (collapsed stacks written to `profile`) if given."""
    command = [sys.executable, "-m", "locust", "--headless", "--only-summary", *argv]
    if profile is not None:
        command = under_py_spy(command, profile)
    subprocess.run(["taskset", "-c", "1", *command], cwd=ROOT, check=True, timeout=seconds + 120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def under_py_spy(command: list[str], out: Path, rate: int = 200) -> list[str]:
    """The command run under `py-spy record` (.svg: flame graph, .txt: collapsed stacks, else
    speedscope); py-spy from PATH or beside this Python (pip install py-spy: not a project dependency)."""
    fmt = {".svg": "flamegraph", ".txt": "raw"}.get(Path(out).suffix, "speedscope")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists() and shutil.which(spy) is None:
        sys.exit("benchmark: py-spy is not installed; pip install py-spy")
    return [spy, "record", "--rate", str(rate), "--format", fmt, "-o", str(out), "--", *command]


# Where a sample's stack goes, first match wins: (a frame name in the stack, the bucket).
REQUEST_PARTS = [("SocketMixin.send", "Locust request: socket send (gevent)"),
                 ("_sendall", "Locust request: socket send (gevent)"),
                 ("SocketMixin.recv", "Locust request: read and parse the answer"),
                 ("HTTPResponse", "Locust request: read and parse the answer"),
                 ("_build_request", "Locust request: build the request (geventhttpclient)"),
                 ("Headers", "Locust request: build the request (geventhttpclient)"),
                 ("CookieJar", "Locust request: cookie jar"),
                 ("EventHook.fire", "Locust request: stats (events.request)"),
                 ("get_socket", "Locust request: connection pool"),
                 ("connections.py", "Locust request: connection pool")]
OTHER_PARTS = [("ResponseContextManager", "Locust: catch_response and stats"),
               ("ParticipantSlot._sleep", "think-time sleeps"),
               ("_flush_every_second", "ours: writing rows"),
               ("DeclarativeContract", "ours: contract build/read"),
               ("personas/", "ours: persona journeys"),
               ("swarm/", "ours: player, slot, hand-out")]


def where_the_time_goes(collapsed: Path) -> tuple[dict[str, float], int]:
    """Shares of a py-spy raw profile's run-phase samples by bucket (start-up imports left out)."""
    counts: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or stack.startswith(("_run_module_as_main", "_find_and_load")):
            continue
        total += int(n)
        if "FastHttpSession.request" in stack:
            inside = stack[stack.index("FastHttpSession.request"):]
            bucket = next((b for frame, b in REQUEST_PARTS if frame in inside), "Locust request: other")
        else:
            bucket = next((b for frame, b in OTHER_PARTS if frame in stack),
                          "gevent hub loop" if stack.startswith("Hub.run") else "other")
        counts[bucket] = counts.get(bucket, 0) + int(n)
    return {b: n / total for b, n in sorted(counts.items(), key=lambda kv: -kv[1])}, total


def check_tools() -> None:
    """Stop with what to install when nginx or taskset is missing."""
    for tool in ("nginx", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmark: {tool} is not installed; apt-get install {'nginx-light' if tool == 'nginx' else tool}")


@contextlib.contextmanager
def nginx(work: Path, port: int) -> Iterator[str]:
    """nginx on core 0, on loopback, answering every path with BODY; yields its URL once it answers."""
    (work / "nginx.conf").write_text(NGINX_CONF.format(work=work, port=port, body=json.dumps(BODY)))
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", str(work / "nginx.conf"), "-p", str(work)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # bounded wait for nginx
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are shown")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="profile the first round's plain and persona runs with py-spy into DIR and "
                             "print where their samples go")
    args = parser.parse_args()
    check_tools()
    work = Path(tempfile.mkdtemp(prefix="rehearse-swarm-bench-"))
    (work / "requests.json").write_text(json.dumps(persona_requests(20_000)))
    (work / "plain.py").write_text(PLAIN.format(requests=str(work / "requests.json")))
    try:
        with nginx(work, args.port) as url:
            _rounds(args, work, url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rounds(args: argparse.Namespace, work: Path, url: str) -> None:
    """Alternating rounds of the plain classes and the personas; prints the medians."""
    print(f"nginx on core 0, one Locust process on core 1, {args.users} users, {args.seconds} s each")
    sets = [arg for override in FAST_PERSONAS for arg in ("--set", override)]
    figures: dict[str, list[float]] = {"PlainGet": [], "PlainSameRequests": [], "persona": []}
    profiles: dict[str, Path] = {}
    for round_no in range(args.rounds):  # alternate, so drift on a shared machine hits all alike
        def profiled(name: str) -> Path | None:
            if args.profile is None or round_no:
                return None
            args.profile.mkdir(parents=True, exist_ok=True)
            profiles[name] = args.profile / f"{name}.txt"
            return profiles[name]

        for name in ("PlainGet", "PlainSameRequests"):
            csv = work / f"{name}-{round_no}"
            locust(["-f", str(work / "plain.py"), "--host", url, "-u", str(args.users), "-r",
                    str(args.users), "--run-time", f"{args.seconds}s", "--csv", str(csv), name], args.seconds,
                   profiled(name) if name == "PlainSameRequests" else None)
            figures[name].append(rps(csv)[0])
        csv = work / f"persona-{round_no}"
        locust(["-f", "locustfile.py", "--host", url, "--window", "bench", "--steps", str(args.users),
                "--step-duration", f"{args.seconds}s", *sets,
                "--run-dir", str(work / f"run-{round_no}"), "--csv", str(csv)], args.seconds, profiled("persona"))
        figures["persona"].append(rps(csv)[0])
    get, same, persona = (statistics.median(figures[k]) for k in ("PlainGet", "PlainSameRequests", "persona"))
    ratios = [p / s for p, s in zip(figures["persona"], figures["PlainSameRequests"])]
    ratio = statistics.median(ratios)
    print(f"  plain, bare GET           {get:9,.0f} req/s  (median of {args.rounds})")
    print(f"  plain, same requests      {same:9,.0f} req/s")
    print(f"  persona users             {persona:9,.0f} req/s  (observed and recorded)")
    print(f"  ratio to same requests    {ratio:9.2f}   per round: {', '.join(f'{r:.2f}' for r in ratios)}"
          f"   (target >= 0.90: {'met' if ratio >= 0.90 else 'NOT met'})")
    print(f"  ratio to bare GET         {persona / get:9.2f}")
    if profiles:
        print_profiles(profiles)


def print_profiles(profiles: dict[str, Path]) -> None:
    """Where the profiled runs' samples went, side by side (round 0, under py-spy)."""
    shares = {name: where_the_time_goes(path) for name, path in profiles.items()}
    buckets = sorted({b for found, _ in shares.values() for b in found},
                     key=lambda b: -shares["persona"][0].get(b, 0.0))
    print(f"\n  where the samples go (round 0 under py-spy; {', '.join(f'{n}: {t:,} samples' for n, (_, t) in shares.items())})")
    print(f"  {'':52} {'persona':>8} {'plain':>8}")
    for bucket in buckets:
        print(f"  {bucket:52} {shares['persona'][0].get(bucket, 0.0):8.1%} "
              f"{shares['PlainSameRequests'][0].get(bucket, 0.0):8.1%}")
    print(f"  collapsed stacks: {', '.join(str(p) for p in profiles.values())}")


if __name__ == "__main__":
    main()
