"""What one reference-backend worker takes: requests/s for page views and envelope opens.

The backend (`rehearse backend`, one worker process) is pinned to core 0 and wrk to core 1,
so the load generator does not steal the server's core. Users, sessions and completed tasks
are written straight into the database beforehand, so every measured open is a real,
first-time, paid open (no refusals). `/healthz` is measured in the same run as the baseline:
the cost of the web stack alone.

    .venv/bin/python benchmarks/backend_rps.py [--seconds 10] [--connections 64]

Needs wrk (`apt-get install wrk`) and taskset.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
from rehearse.reference_backend.service import payout_signature
from rehearse.reference_backend.store import Store
from rehearse.scenarios import load_scenario

LUA_PAGE = """
local n = 0
request = function()
  n = n + 1
  local headers = {["X-Forwarded-For"] = "10." .. (n % 200) .. "." .. (n % 250) .. ".1"}
  return wrk.format("GET", "/api/campaign?channel_id=main_venue", headers)
end
"""

LUA_OPEN = """
local tokens, devices, signs = {}, {}, {}
for line in io.lines("%(tokens)s") do
  local token, device, sign = line:match("(%%S+) (%%S+) (%%S+)")
  tokens[#tokens + 1] = token; devices[#devices + 1] = device; signs[#signs + 1] = sign
end
local institutions = {%(institutions)s}
local n = 0
request = function()
  local user = (n %% #tokens) + 1
  local inst = institutions[(math.floor(n / #tokens) %% #institutions) + 1]
  n = n + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[user],
                   ["X-Device-Id"] = devices[user], ["X-Sign"] = signs[user],
                   ["X-Forwarded-For"] = "10.50." .. (user %% 250) .. "." .. (user %% 200)}
  return wrk.format("POST", "/api/institutions/" .. inst .. "/envelope", headers)
end
"""


def prepare_users(db: Path, count: int) -> tuple[list[str], list[str]]:
    """Users with every task done, written straight into the backend's database; one line per
    user: session token, device id, and the payout signature the page would hand that device."""
    scenario = load_scenario()
    store = Store(db)
    store.initialise(scenario)
    tokens = []
    with store.transaction():
        for n in range(count):
            user = store.create_user(f"139{n:08d}", "main_venue", None, None, 0.0)
            device = f"bench-device-{n}"
            sign = payout_signature(store.meta("sign_key") or "", device)
            tokens.append(f"{store.new_session(user['id'])} {device} {sign}")
            for institution in scenario.campaign.institutions:
                for task in institution.tasks:
                    store.complete_task(user["id"], institution.id, task.id, 0.0)
    store.close()
    return tokens, [i.id for i in scenario.campaign.institutions]


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> tuple[float, int, int]:
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, total, int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmark: {tool} is not installed; apt-get install {tool}")
    if (os.cpu_count() or 1) < 2:
        sys.exit("benchmark: needs two cores (server on one, load on the other)")

    work = Path(tempfile.mkdtemp(prefix="rehearse-bench-"))
    db = work / "bench.sqlite3"
    # enough fresh (user, envelope) pairs that no open in the run is a repeat
    users = 15000
    tokens, institutions = prepare_users(db, users)
    (work / "tokens.txt").write_text("\n".join(tokens) + "\n")
    (work / "page.lua").write_text(LUA_PAGE)
    (work / "open.lua").write_text(LUA_OPEN % {
        "tokens": work / "tokens.txt", "institutions": ", ".join(f'"{i}"' for i in institutions)})
    (work / "health.lua").write_text('request = function() return wrk.format("GET", "/healthz") end\n')

    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "rehearse", "backend", "--port", str(args.port),
         "--db", str(db), "--at", "launch+1d"],
        cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{args.port}"
    try:
        with httpx.Client(transport=httpx.HTTPTransport(retries=50), timeout=5) as client:
            for _ in range(500):  # bounded wait for readiness
                try:
                    client.get(f"{url}/healthz")
                    break
                except httpx.ConnectError:
                    continue
        print(f"reference backend, 1 worker on core 0; wrk -t1 -c{args.connections} on core 1; "
              f"{args.seconds} s each")
        health, _, _ = run_wrk(url, work / "health.lua", args.seconds, args.connections)
        page, _, page_bad = run_wrk(url, work / "page.lua", args.seconds, args.connections)
        opened, open_total, open_bad = run_wrk(url, work / "open.lua", args.seconds, args.connections)
        capacity = users * len(institutions)
        print(f"  baseline GET /healthz        {health:9,.0f} req/s")
        print(f"  page views GET /api/campaign {page:9,.0f} req/s  ({page / health:.2f} of baseline, "
              f"{page_bad} non-2xx)")
        print(f"  envelope opens (paid)        {opened:9,.0f} req/s  ({opened / health:.2f} of baseline, "
              f"{open_bad} non-2xx of {open_total:,}; {capacity:,} fresh opens prepared)")
        if open_bad:
            print("  WARNING: some opens were not paid: the figure above is not paid opens; check the setup")
        if open_total > capacity:
            print("  note: the run outlasted the prepared opens; repeats were refused. Raise users.")
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
