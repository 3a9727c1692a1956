"""What the target contract costs per request: build + read, in microseconds, for the bundled
mapping (REST, statuses, fen) and the Lucky Bag's (business codes, yuan, cookies, an idempotency
key, a signature function), on canned answers (no I/O). Run from the repository's root:

    .venv/bin/python benchmarks/contract_speed.py [--requests 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def per_request_us(scenario_path: Path | None, answers: dict[str, tuple[int, bytes, dict]], n: int) -> float:
    from rehearse.personas.identity import IdentityFactory
    from rehearse.personas.steps import Act
    from rehearse.scenarios import load_scenario
    from rehearse.client.contract import load_contract
    from rehearse.client.templates import remember

    scenario = load_scenario(scenario_path)
    contract = load_contract(scenario.target)
    user = IdentityFactory(scenario, 1).new("normal")
    institution = scenario.campaign.institutions[0]
    acts = [Act("open_page"), Act("login", invite_code=None),
            Act("complete_task", institution=institution.id, task=institution.tasks[0].id),
            Act("open_envelope", institution=institution.id)]
    session: dict = {}
    started = time.perf_counter()
    for i in range(n):
        act = acts[i % len(acts)]
        contract.build(act, user, session, f"{user.user_key}#{i}")
        status, body, headers = answers[act.action]
        _, learned = contract.read(act, status, body, 1.0, headers)
        remember(session, learned)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # examples/ (the Lucky Bag's signature function)
    rest = {"open_page": (200, b'{"sign": "s1"}', {}),
            "login": (200, b'{"token": "t", "user_id": 3, "invite_code": "c"}', {}),
            "complete_task": (200, b'{"done": ["watch_live"]}', {}),
            "open_envelope": (200, b'{"amount_fen": 123, "payout_id": 9}', {})}
    ok = b'{"code": 0, "msg": "ok", "data": {}}'
    codes = {"open_page": (200, ok, {}),
             "login": (200, b'{"code": 0, "msg": "ok", "data": {"uid": 3, "invite_code": "c", "sign_key": "k"}}',
                       {"set-cookie": "SID=abc; Path=/; HttpOnly"}),
             "complete_task": (200, ok, {}),
             "open_envelope": (200, b'{"code": 0, "msg": "ok", "data": {"amount": "1.23", "order_no": "o"}}', {})}
    from examples.lucky_bag.serve import SCENARIO

    print(f"build + read per request ({args.requests:,} requests, canned answers):")
    print(f"  bundled mapping (statuses, fen)                      {per_request_us(None, rest, args.requests):5.1f} us")
    print(f"  Lucky Bag (codes, yuan, cookie, key, signature)      "
          f"{per_request_us(SCENARIO, codes, args.requests):5.1f} us")


if __name__ == "__main__":
    main()
