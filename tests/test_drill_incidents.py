"""The pieces a live drill uses: the reference backend's drill operations, and the harness's
incident player in simulated time (a fake clock, operations recorded, no sleeping)."""

from __future__ import annotations

import random

import pyotp
import pytest

from rehearse.scenarios import load_scenario
from rehearse.swarm.incidents import LiveIncidents
from rehearse.swarm.platform import Platform


def test_slowdown_operation_slows_the_named_actions_until_it_ends(start_backend):
    with start_backend() as b:
        service = b.running.backend.service
        r = b.http.post("/ops/slowdown", headers=b.ops,
                        json={"actions": ["open_envelope"], "factor": 20, "duration": 600})
        assert r.status_code == 200, r.text
        assert service.slowdown_s("open_envelope") == pytest.approx(0.025 * 19)
        assert service.slowdown_s("grand_draw") == 0.0
        b.clock.set(60.0 + 600.0)
        assert service.slowdown_s("open_envelope") == 0.0
        bad = b.http.post("/ops/slowdown", headers=b.ops, json={"actions": "open_envelope", "factor": 2, "duration": 1})
        assert (bad.status_code, bad.json()["error"]) == (400, "bad_slowdown")
        assert b.http.post("/ops/slowdown", json={"actions": [], "factor": 2, "duration": 1}).status_code == 401


def test_limit_pool_operation_cuts_a_pool_and_names_an_unknown_one(start_backend):
    with start_backend() as b:
        r = b.http.post("/ops/pools/limit", headers=b.ops, json={"pool": "anhe", "left_fen": 1500})
        assert r.json() == {"pool": "anhe", "left_fen": 1500}
        assert b.ledger()["pools"]["anhe"]["left_fen"] == 1500
        unknown = b.http.post("/ops/pools/limit", headers=b.ops, json={"pool": "zz", "left_fen": 1})
        assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_pool")


class Harness:
    """A drill's incidents against a fake clock; operations and events recorded."""

    def __init__(self, name: str, *overrides: str, ledger: dict | None = None) -> None:
        self.scenario = load_scenario(overrides=overrides)
        self.t = 0.0
        self.calls: list[tuple[str, dict]] = []
        self.events: list[tuple[float, str, str]] = []
        self.ledger = ledger or {}
        self.platform = Platform(self.scenario.links, clock=lambda: self.t, scale=100,
                                 on_ban=lambda d, why: self.events.append((self.t, "ban", d)))
        self.incidents = LiveIncidents(self.scenario.drills[name], 0.0, 100.0, self.scenario.links,
                                       lambda: self.t, self.platform, self.operation, self.event,
                                       otp_secret=pyotp.random_base32(), fraud_share=0.08,
                                       largest_payout_fen={"anhe": 288}, rng=random.Random(1))

    def operation(self, name: str, **params) -> dict:
        self.calls.append((name, params))
        return self.ledger if name == "ledger" else {}

    def event(self, t: float, kind: str, detail: str) -> None:
        self.events.append((t, kind, detail))

    def at(self, t: float) -> None:
        self.t = t
        self.incidents.tick()


def test_a_ban_wave_bans_the_first_issuing_domains_at_its_time():
    h = Harness("ban_wave")
    h.at(1199.0)
    assert h.events == []
    h.at(1200.5)
    assert [k for _, k, _ in h.events] == ["incident", "ban", "ban"]
    assert [d for _, k, d in h.events if k == "ban"] == ["hb1.yearend-wealth.example", "hb2.yearend-wealth.example"]


def test_a_fraud_wave_sends_scripts_five_times_as_often_while_it_lasts():
    h = Harness("fraud_wave")
    h.at(0.0)
    assert {h.incidents.persona_for("normal") for _ in range(200)} == {"normal"}
    h.at(601.0)
    share = sum(h.incidents.persona_for("normal") == "fraud_script" for _ in range(4000)) / 4000
    assert share == pytest.approx(4 * 0.08 / 0.92, abs=0.03)
    h.at(601.0 + 1800.0)
    assert {h.incidents.persona_for("normal") for _ in range(200)} == {"normal"}


def test_a_slowdown_goes_through_the_targets_operation():
    h = Harness("evening_slowdown")
    h.at(900.0)
    assert h.calls == [("slowdown", {"actions": ["open_envelope", "grand_draw"], "factor": 20.0, "duration": 600.0})]


@pytest.mark.parametrize("delay, topped_up", [("10m", True), ("null", False)])
def test_a_cut_pool_is_topped_up_by_the_operator_only_after_the_delay(delay, topped_up):
    pools = {"pools": {"anhe": {"left_fen": 5000}}}
    h = Harness("delayed_topup", f"drills.delayed_topup.incidents.0.delay={delay}", ledger=pools)
    h.at(0.0)
    assert h.calls[0] == ("limit_pool", {"pool": "anhe", "left_fen": 15000})
    h.at(100.0)
    pools["pools"]["anhe"]["left_fen"] = 100  # below the largest envelope: out
    h.at(300.0)
    h.at(899.0)
    h.at(901.0)
    kinds = [(t, k) for t, k, _ in h.events]
    assert (300.0, "budget_exhausted") in kinds
    assert ((901.0, "topup") in kinds) is topped_up
    topups = [p for name, p in h.calls if name == "topup"]
    assert [(p["pool"], p["amount_fen"], len(p["otp"])) for p in topups] == ([("anhe", 200000, 6)] if topped_up else [])


def test_a_ledger_without_the_pools_money_left_fails_the_drill_once_never_guesses():
    h = Harness("delayed_topup", ledger={"paid_fen": 100, "pools": {"anhe": {"paid_fen": 100}}})
    h.at(0.0)
    h.at(100.0)
    h.at(200.0)
    failed = [d for _, k, d in h.events if k == "incident_failed"]
    assert len(failed) == 1 and "no left_fen for it" in failed[0]
    assert not [name for name, _ in h.calls if name == "topup"]
