"""The campaign model: deterministic, calibrated, and each what-if visible in its figures."""

from __future__ import annotations

import pandas as pd
import pytest

from rehearse.cli.main import main
from rehearse.observations import load_run
from rehearse.scenarios import ScenarioError, load_scenario
from rehearse.simulator.campaign import simulate
from rehearse.simulator.run import RunRequest, bands, run_replicas

INSTITUTIONS = ["anhe", "beichen", "chunhui", "dingsheng", "everbright", "fuxing", "guotai", "hengyuan"]
# The reference campaign at 1:20: participants, preheat visitors, budgets and ban limits divided by 20.
SMALL = (
    "traffic.participants_first_24h=20000", "traffic.participants_total=45000", "traffic.preheat_visitors=3000",
    *(f"budget.institutions_fen.{i}={v // 20}" for i, v in zip(INSTITUTIONS, (
        130000000, 110000000, 95000000, 80000000, 70000000, 60000000, 50000000, 45000000))),
    "budget.grand_round_fen=4500000", "budget.invite_fen=500000", "budget.fund_loss.planned_spend_fen=27500000",
    "links.ban_rule.max_visits=3000", "links.ban_rule.max_shares=400",
    # 5 % under 8,000 / 20: at 1:20 the peak's sample noise is a few percent (full scale: 8,253)
    "gates.peak.target_active_users=380",
)
NO_ANTIFRAUD = "antifraud.effectiveness={virtual_segments: 0, blacklist: 0, rate_limits: 0, signed_payouts: 0}"


@pytest.fixture(scope="module")
def baseline():
    return simulate(load_scenario(overrides=SMALL), seed=3)


def test_same_scenario_and_seed_give_identical_observations(baseline):
    again = simulate(load_scenario(overrides=SMALL), seed=3)
    pd.testing.assert_frame_equal(baseline.requests, again.requests)
    pd.testing.assert_frame_equal(baseline.gauges, again.gauges)
    pd.testing.assert_frame_equal(baseline.events, again.events)
    assert baseline.summary == again.summary


def test_participants_meet_the_targets(baseline):
    assert baseline.summary["participants_24h"] == pytest.approx(20000, rel=0.05)
    assert baseline.summary["participants_total"] == pytest.approx(45000, rel=0.05)


def test_a_healthy_campaign_keeps_its_budget_and_its_pool(baseline):
    s = baseline.summary
    assert s["alarm_t"] is None and s["budget_exhausted_t"] is None and s["pool_exhausted_t"] is None
    assert s["fraud_share"] < 0.01
    assert (baseline.gauges["budget_left_fen"] >= 0).all()


def test_more_fraud_without_antifraud_fires_the_fund_loss_alarm(baseline):
    drained = simulate(load_scenario(overrides=(*SMALL, "personas.mix.fraud_script=0.3",
                                                "personas.mix.normal=0.4", NO_ANTIFRAUD)), seed=3)
    s = drained.summary
    assert s["alarm_t"] is not None and s["fraud_share"] > 0.2
    assert set(drained.events["kind"]) >= {"alarm", "throttle"}
    throttled = drained.requests[drained.requests["error"] == "payout_throttled"]
    assert throttled["count"].sum() > 0


def test_a_lower_ban_threshold_empties_the_backup_pool_and_loses_users(baseline):
    banned = simulate(load_scenario(overrides=(*SMALL, "links.ban_rule.max_shares=20")), seed=3)
    assert banned.summary["pool_exhausted_t"] is not None
    assert banned.summary["bans"] > baseline.summary["bans"]
    assert banned.summary["users_lost"] > 2 * max(1, baseline.summary["users_lost"])
    assert (banned.gauges["healthy_domains"] == 0).any()


def test_a_tighter_concurrency_limit_raises_p95_at_the_peak(baseline):
    tight = simulate(load_scenario(overrides=(*SMALL, "backend_model.actions.open_envelope.concurrency=1")), seed=3)

    def opens_p95_at_peak(result) -> float:
        q = result.requests
        rows = q[(q["action"] == "open_envelope") & (q["t"] == result.summary["peak_rps_t"])]
        return float(rows["latency_p95"].max())

    assert opens_p95_at_peak(tight) > 1.1 * opens_p95_at_peak(baseline)


def test_replicas_write_run_folders_and_bands(tmp_path):
    summaries = run_replicas(RunRequest(None, SMALL, seed=1, replicas=2, jobs=1, out=tmp_path))
    assert [s["seed"] for s in summaries] == [1, 2]
    run = load_run(tmp_path / "replica-000")
    assert run.rolled_up and run.info.engine == "simulator" and run.info.status == "finished"
    assert run.requests["count"].sum() > 100_000
    mean, low, high, hits = bands(summaries)["participants_total"]
    assert low <= mean <= high and hits == 2


def test_simulate_command_prints_the_summary(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--out", str(tmp_path / "run"), *[a for o in SMALL for a in ("--set", o)]])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "participants on day one" in out and "fund-loss alarm at" in out


def test_a_bad_set_is_the_same_one_line_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--set", "personas.mix.fraud_script=lots"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1
    assert "personas.mix.fraud_script: input should be a valid number" in err
    with pytest.raises(ScenarioError, match="no field 'budgt'"):
        load_scenario(overrides=["budgt.grand_round_fen=1"])


def test_a_top_up_refills_an_empty_pool():
    starved = (*SMALL, "budget.institutions_fen.anhe=100000")
    empty = simulate(load_scenario(overrides=starved), seed=3)
    refilled = simulate(load_scenario(overrides=(*starved, "budget.topups=[{at: 1d, pool: anhe, amount_fen: 50000000}]")),
                        seed=3)
    kinds = list(refilled.events["kind"])
    assert "budget_exhausted" in kinds and "topup" in kinds
    assert refilled.summary["paid_fen"] > empty.summary["paid_fen"]
    assert refilled.events.loc[refilled.events["kind"] == "topup", "t"].tolist() == [86400.0]


def test_a_top_up_must_name_a_pool():
    with pytest.raises(ScenarioError, match="budget.topups.0.pool 'nope' is not a pool"):
        load_scenario(overrides=["budget.topups=[{at: 1d, pool: nope, amount_fen: 5}]"])


def test_replicas_run_in_parallel_processes_with_the_same_results(tmp_path):
    serial = run_replicas(RunRequest(None, SMALL, seed=5, replicas=2, jobs=1, out=tmp_path / "serial"))
    parallel = run_replicas(RunRequest(None, SMALL, seed=5, replicas=2, jobs=2, out=tmp_path / "parallel"))
    strip = lambda s: {k: v for k, v in s.items() if k != "folder"}  # noqa: E731
    assert [strip(s) for s in serial] == [strip(s) for s in parallel]
    assert (tmp_path / "parallel" / "replica-001" / "run.json").exists()
