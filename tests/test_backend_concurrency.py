"""Money under concurrency, and each planted fault shown to change behaviour."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from rehearse.reference_backend.service import Settings

# live runs (a backend and a load generator on the 2 cores) go one at a time: see pyproject
pytestmark = pytest.mark.xdist_group("live")

OPENERS = 220
FIXED_100 = "campaign.institutions.0.envelope={kind: uniform, min_fen: 100, max_fen: 100}"
ANHE_COVERS_30 = "budget.institutions_fen.anhe=3000"
NO_MONITOR = ("budget.fund_loss.warning_ratio=1000000", "budget.fund_loss.stop_ratio=2000000")
# A slow payment provider (50 ms) keeps the race window open even when a loaded test machine
# sends the concurrent requests a few milliseconds apart.
SLOW_PAYMENTS = Settings(payment_latency_s=0.05)


async def _ready_users(client: httpx.AsyncClient, count: int, institution: str = "anhe") -> list[dict]:
    async def one(n: int) -> dict:
        ip = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1", "X-Device-Id": f"dev-{n}"}
        page = await client.get("/api/campaign", headers=ip)
        ip["X-Sign"] = page.json()["sign"]
        login = await client.post("/api/login", json={"phone": f"139{n:08d}"}, headers=ip)
        who = {**ip, "Authorization": f"Bearer {login.json()['token']}"}
        for task in ("watch_live", "follow_account"):
            done = await client.post(f"/api/institutions/{institution}/tasks/{task}", headers=who)
            assert done.status_code == 200, done.text
        return who

    return list(await asyncio.gather(*(one(n) for n in range(count))))


def _client(url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=OPENERS + 20, max_keepalive_connections=OPENERS + 20)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=30)


def _concurrent_opens(url: str, count: int) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with _client(url) as client:
            users = await _ready_users(client, count)
            return await asyncio.gather(*(client.post("/api/institutions/anhe/envelope", headers=who)
                                          for who in users))
    return asyncio.run(run())


def test_healthy_backend_never_pays_more_than_the_budget(start_backend):
    with start_backend(FIXED_100, ANHE_COVERS_30, *NO_MONITOR, settings=SLOW_PAYMENTS) as b:
        responses = _concurrent_opens(b.url, OPENERS)
        paid = [r for r in responses if r.status_code == 200]
        refused = {r.json()["error"] for r in responses if r.status_code != 200}
        assert len(paid) == 30
        assert refused == {"budget_exhausted"}
        anhe = b.ledger()["pools"]["anhe"]
        assert (anhe["paid_fen"], anhe["left_fen"]) == (3000, 0)


def test_overspend_fault_overdraws_the_budget(start_backend):
    with start_backend(FIXED_100, ANHE_COVERS_30, *NO_MONITOR, faults=("overspend",), settings=SLOW_PAYMENTS) as b:
        responses = _concurrent_opens(b.url, OPENERS)
        paid = [r for r in responses if r.status_code == 200]
        anhe = b.ledger()["pools"]["anhe"]
        assert len(paid) > 30
        assert anhe["paid_fen"] == 100 * len(paid) > 3000
        assert anhe["left_fen"] < 0


def _same_envelope_at_once(url: str, times: int) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with _client(url) as client:
            (who,) = await _ready_users(client, 1)
            return await asyncio.gather(*(client.post("/api/institutions/anhe/envelope", headers=who)
                                          for _ in range(times)))
    return asyncio.run(run())


def test_healthy_backend_pays_a_user_once_under_concurrent_retries(start_backend):
    with start_backend(*NO_MONITOR, settings=SLOW_PAYMENTS) as b:
        statuses = sorted(r.status_code for r in _same_envelope_at_once(b.url, 20))
        assert statuses == [200] + [409] * 19
        assert b.ledger()["paid_twice"] == 0


def test_double_pay_fault_pays_concurrent_retries_again(start_backend):
    with start_backend(*NO_MONITOR, faults=("double-pay",), settings=SLOW_PAYMENTS) as b:
        paid = [r for r in _same_envelope_at_once(b.url, 20) if r.status_code == 200]
        ledger = b.ledger()
        assert len(paid) > 1
        assert ledger["paid_twice"] == 1 and ledger["payouts"] == len(paid)


def _time_opens(url: str, count: int) -> float:
    async def run() -> float:
        async with _client(url) as client:
            users = await _ready_users(client, count)
            started = time.perf_counter()
            answers = await asyncio.gather(*(client.post("/api/institutions/anhe/envelope", headers=who)
                                             for who in users))
            assert {a.status_code for a in answers} == {200}
            return time.perf_counter() - started
    return asyncio.run(run())


def test_slow_open_fault_makes_opens_queue_for_its_slots(start_backend):
    # 12 opens through 4 slots of 200 ms each take at least three rounds: a lower bound that
    # cannot flake on a slow machine (sleeping never ends early).
    with start_backend(*NO_MONITOR, faults=("slow-open",)) as b:
        slow = _time_opens(b.url, 12)
    with start_backend(*NO_MONITOR) as b:
        healthy = _time_opens(b.url, 12)
    assert slow >= 0.6
    assert slow > healthy
