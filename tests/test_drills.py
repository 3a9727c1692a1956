"""Drills in the simulator: each bundled drill passes on the healthy model and fails where its
incident is not handled; the judge's every verdict has a case where it fails."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from rehearse.cli.main import main
from rehearse.observations import GAUGES, REQUESTS, Run, RunInfo, load_run
from rehearse.personas.steps import replay_note
from rehearse.judging.drills import judge_drill
from rehearse.scenarios import ScenarioError, load_scenario
from rehearse.scenarios.drills import window_of
from rehearse.simulator.run import run_drill
from test_simulator import NO_ANTIFRAUD, SMALL

# the delayed top-up drill's pool, cut to the 1:20 scale of SMALL
DRILLS_SMALL = (*SMALL, "drills.delayed_topup.incidents.0.left_fen=75000")


def _judged(tmp_path: Path, name: str, *overrides: str):
    sets = (*DRILLS_SMALL, *overrides)
    folder = run_drill(None, sets, name, 3, tmp_path / name)
    return judge_drill(load_run(folder), load_scenario(overrides=sets), name)


def _statuses(result) -> dict[str, str]:
    return {v.check: v.status for v in (*result.responses, *result.steady_state)}


@pytest.mark.parametrize("name", ["ban_wave", "fraud_wave", "delayed_topup", "evening_slowdown"])
def test_each_bundled_drill_passes_on_the_healthy_model(tmp_path, name):
    result = _judged(tmp_path, name)
    assert result.status == "pass", _statuses(result)
    assert result.timeline[0].phase == "incident"
    assert any(m.phase == "deadline met" for m in result.timeline) or name == "fraud_wave"


def test_ban_wave_without_backup_domains_fails_failover_and_the_pool(tmp_path):
    result = _judged(tmp_path, "ban_wave", "links.backup_domains=[]")
    statuses = _statuses(result)
    assert result.status == "fail"
    assert statuses["failover: links off hb1.yearend-wealth.example"] == "fail"
    assert statuses["backup pool never empty"] == "fail"
    assert ("deadline missed", "failover: links off hb1.yearend-wealth.example: never (deadline 300 s)") in {
        (m.phase, m.detail) for m in result.timeline}


def test_fraud_wave_without_antifraud_fails_on_fraud_share_and_raises_the_alarm(tmp_path):
    result = _judged(tmp_path, "fraud_wave", NO_ANTIFRAUD)
    statuses = _statuses(result)
    assert result.status == "fail"
    assert statuses["fraud's share of payouts"] == "fail"
    assert statuses["fund-loss alarm"] == "pass"  # the monitor works; anti-fraud is what is missing
    assert any(m.phase == "noticed" and m.detail.startswith("alarm") for m in result.timeline)


def test_an_advisory_steady_state_check_is_shown_failed_but_never_fails_the_drill(tmp_path):
    result = _judged(tmp_path, "fraud_wave", NO_ANTIFRAUD, "gates.advisory=[payout.fraud_share]")
    share = next(v for v in result.steady_state if v.check == "fraud's share of payouts")
    assert (share.status, share.advisory) == ("fail", True)
    assert result.status == "pass", _statuses(result)


@pytest.mark.parametrize("delay, took", [("null", None), ("20m", 1200.0)])
def test_delayed_topup_that_never_comes_or_comes_late_fails(tmp_path, delay, took):
    result = _judged(tmp_path, "delayed_topup", f"drills.delayed_topup.incidents.0.delay={delay}")
    response = next(v for v in result.responses if v.check == "payouts resume: anhe")
    assert (result.status, response.status, response.figure) == ("fail", "fail", took)


def test_slowdown_on_a_backend_without_headroom_never_recovers(tmp_path):
    result = _judged(tmp_path, "evening_slowdown",
                     "backend_model.actions.open_envelope={service_time: 1s, concurrency: 1}")
    statuses = _statuses(result)
    assert result.status == "fail"
    assert statuses["recovery: p95 open_envelope"] == "fail"
    assert statuses["recovery: p95 grand_draw"] == "pass"  # only the starved action fails
    assert statuses["error rate"] == "fail"


# --- the judge on hand-made observations ----------------------------------------------------

def _table(table, rows: list[dict]) -> pd.DataFrame:
    defaults = {"str": "", "bool": False, "int64": 0, "float64": 0.0, "Int64": None}
    frame = pd.DataFrame([{c: row.get(c, defaults[d]) for c, d in table.columns.items()} for row in rows],
                         columns=list(table.columns))
    return table.conform(frame, "the test's rows")


def _run(events: list[tuple[float, str, str]], gauges: list[dict], requests: list[dict] = ()) -> Run:
    scenario = load_scenario()
    info = RunInfo.start(scenario, engine="swarm", seed=1, now=lambda: datetime(2026, 12, 20, tzinfo=timezone.utc))
    return Run(info=info, requests=_table(REQUESTS, list(requests)), gauges=_table(GAUGES, gauges),
               events=pd.DataFrame(events, columns=["t", "kind", "detail"]), rolled_up=False)


def test_an_alarm_that_never_comes_while_payouts_run_ahead_fails():
    scenario = load_scenario()
    wave = 600.0
    gauges = [{"t": float(t), "paid_fen": 400_000_000, "alarm_level": 0} for t in range(0, 3600, 60)]
    run = _run([(wave, "incident", "fraud_wave")], gauges)
    result = judge_drill(run, scenario, "fraud_wave")
    alarm = next(v for v in result.responses if v.check == "fund-loss alarm")
    assert (alarm.status, alarm.figure) == ("fail", None)
    late = _run([(wave, "incident", "fraud_wave"), (wave + 900, "alarm", "late")], gauges)
    alarm = next(v for v in judge_drill(late, scenario, "fraud_wave").responses if v.check == "fund-loss alarm")
    assert (alarm.status, alarm.figure) == ("fail", 900.0)


def test_a_drill_that_was_not_played_is_not_a_pass():
    result = judge_drill(_run([], []), load_scenario(), "ban_wave")
    assert result.status == "fail"
    assert result.responses[0].check == "incidents injected" and result.responses[0].status == "fail"


def test_links_still_issued_on_a_banned_domain_fail_the_failover():
    rows = [{"t": t, "action": "share", "ok": True, "status": 200, "persona": "sharer", "user_id": f"u{t:g}",
             "domain": "hb1.yearend-wealth.example", "latency_ms": 5.0} for t in (1300.0, 1700.0)]
    run = _run([(1200.0, "incident", "ban_domains"), (1200.0, "ban", "hb1.yearend-wealth.example: drill")], [], rows)
    response = judge_drill(run, load_scenario(), "ban_wave").responses[1]
    assert (response.check, response.status, response.figure) == (
        "failover: links off hb1.yearend-wealth.example", "fail", 500.0)


# --- the scenario section and the command -------------------------------------------------------

@pytest.mark.parametrize("override, expected", [
    ("drills.ban_wave.window=nope", "drills.ban_wave.window: 'nope' is not in traffic.windows"),
    ("drills.ban_wave.steady_state=[speed]", "drills.ban_wave.steady_state.0: input should be"),
    ("drills.delayed_topup.incidents.0.pool=zz", "drills.delayed_topup.incidents.0.pool: 'zz' is not a pool"),
    ("drills.ban_wave.incidents.0.kind=meteor", "drills.ban_wave.incidents.0: expected kind: ban_domains, "
                                                "fraud_wave, delayed_topup or slowdown, got 'meteor'"),
    ("drills.evening_slowdown.incidents.0.actions=[fly]", "drills.evening_slowdown.incidents.0.actions.0: input"),
    ("drills.ban_wave.incidents.0.at=2h", "drills.ban_wave.incidents.0.at: 7200 s is past the window's end"),
    ("drills.fraud_wave.expect.0.kind=failover", "drills.fraud_wave: expect.0: a failover response answers a "
                                                 "ban_domains incident"),
    ("drills.ban_wave.window={start: 1h}", "drills.ban_wave.window.duration: missing value"),
])
def test_a_bad_drill_is_one_line_naming_the_field(override, expected):
    with pytest.raises(ScenarioError) as error:
        load_scenario(overrides=[override])
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_drill_without_a_name_lists_the_drills(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["drill"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert all(name in out for name in ("ban_wave", "fraud_wave", "delayed_topup", "evening_slowdown"))


@pytest.mark.parametrize("argv, expected", [
    (["drill", "--drill", "nope"], "--drill nope: the scenario has no such drill (known: ban_wave,"),
    (["drill", "--drill", "ban_wave", "--host", "http://127.0.0.1:1"], "--host http://127.0.0.1:1: applies only to a live drill"),
    (["drill", "--drill", "ban_wave", "--live", "--fault", "nope"], "--fault nope: no such fault"),
])
def test_drill_usage_errors_are_one_line_and_exit_2(capsys, argv, expected):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and expected in err


@pytest.mark.parametrize("extra, code, word", [((), 0, "PASS"), (("--set", "links.backup_domains=[]"), 1, "FAIL")])
def test_drill_command_prints_writes_and_exits_with_the_verdict(tmp_path, capsys, extra, code, word):
    sets = [arg for item in DRILLS_SMALL for arg in ("--set", item)]
    with pytest.raises(SystemExit) as exited:
        main(["drill", "--drill", "ban_wave", *sets, *extra, "--seed", "3", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert exited.value.code == code
    assert f"-> {word}" in out and "Timeline" in out and "ban_domains: the platform bans 2" in out
    saved = json.loads((tmp_path / "run" / "drill.json").read_text())
    assert saved["status"] == word.lower() and saved["drill"] == "ban_wave"
    assert f"## Drill ban_wave: {word}" in (tmp_path / "run" / "report" / "summary.md").read_text()
    assert "Drill ban_wave" in (tmp_path / "run" / "report" / "report.html").read_text()


def test_an_incident_the_target_could_not_play_fails_the_drill():
    run = _run([(36900.0, "incident", "slowdown"), (36900.0, "incident_failed", "the target has no slowdown operation")],
               [])
    result = judge_drill(run, load_scenario(), "evening_slowdown")
    assert (result.status, result.responses[0].status) == ("fail", "fail")
    assert "could not be played: the target has no slowdown operation" in [m.detail for m in result.timeline]


def test_every_check_a_steady_state_can_name_is_one_the_gates_judge():
    """A renamed gate check must not drop out of a drill's steady state unnoticed."""
    from rehearse.judging.judge import judge
    from rehearse.scenarios.limits import CHECKS

    served = dict(t=10.0, engine="swarm", persona="normal", user_id="u1", action="open_envelope",
                  channel="main_venue", status=200, ok=True, latency_ms=40.0, payout_fen=88, prize="anhe",
                  attempt="u1#1")
    gauges = [{"t": 0.0, "active_users": 10, "budget_left_fen": 1000, "paid_fen": 88, "alarm_level": 0}]
    ledger = '{"pools": {"anhe": {"left_fen": 500, "budget_fen": 3000}}, "paid_twice": 0}'
    run = _run([(59.0, "ledger", ledger)], gauges, [served])
    judged_checks = {v.key for v in judge([("live", run)], load_scenario()).verdicts}
    assert {f"{gate}.{check}" for gate, checks in CHECKS.items() for check in checks} <= judged_checks


def test_a_pool_out_is_read_from_the_rows_and_payouts_must_pay_again_after_the_top_up():
    """A live delayed top-up on a backend that says "POOL_EMPTY" (not the reference's word) and has
    no ledger to read: the pool ran out when a payout from it was refused while the harness's own
    reckoning (the cut, less what it saw paid) could no longer pay the largest envelope. A refusal
    while the money was there (already claimed) is not the pool running out."""
    from test_gates import make_run, request

    scenario = load_scenario()
    start, _ = window_of(scenario.drills["delayed_topup"], scenario.traffic.windows)
    largest = scenario.largest_payouts()["anhe"]
    cut = 2 * largest

    def envelope(t, user, **answer):
        return request(start + t, "open_envelope", user=user, prize="anhe", **answer)

    rows = [envelope(5, "early", ok=False, refused=True, status=409, error="already claimed"),
            envelope(10, "a", payout_fen=largest), envelope(20, "b", payout_fen=largest - 1),
            envelope(100, "c", ok=False, refused=True, status=200, error="POOL_EMPTY"),
            envelope(500, "d", payout_fen=50)]
    events = [(start + 1, "incident", "delayed top-up: anhe cut"),
              (start + 1, "pool_cap", json.dumps({"pool": "anhe", "left_fen": cut})),
              (start + 400, "topup", "anhe +500000 fen")]
    result = judge_drill(make_run(rows, events=events), scenario, "delayed_topup")
    response = next(v for v in result.responses if v.check == "payouts resume: anhe")
    assert (response.status, response.figure) == ("pass", 300.0), response
    alone = judge_drill(make_run(rows[:1] + rows[-1:], events=events), scenario, "delayed_topup")
    never = next(v for v in alone.responses if v.check == "payouts resume: anhe")
    assert never.status == "unverified" and "never ran out" in never.evidence[0].detail

    def resumed(rows):
        result = judge_drill(make_run(rows, events=events), scenario, "delayed_topup")
        verdict = next(v for v in result.responses if v.check == "payouts resume: anhe")
        return verdict.status, verdict.figure

    # a payment whose answer was lost, shown by its replay, is money gone too
    lost = [envelope(10, "a", payout_fen=largest), envelope(20, "b", ok=False, status=0, error="timed out"),
            envelope(20.05, "b", error=replay_note(largest - 1)),
            envelope(100, "c", ok=False, refused=True, status=200, error="POOL_EMPTY"), envelope(500, "d", payout_fen=50)]
    assert resumed(lost) == ("pass", 300.0)
    # a rate limit, or a paid participant's second copy refused, is not the pool running out
    early = [envelope(10, "a", payout_fen=largest + 1),
             envelope(10.1, "a", ok=False, refused=True, status=200, error="ALREADY_CLAIMED"),
             envelope(21, "x", ok=False, refused=True, status=429, error="throttled: slow down"),
             envelope(100, "c", ok=False, refused=True, status=200, error="POOL_EMPTY"), envelope(500, "d", payout_fen=50)]
    assert resumed(early) == ("pass", 300.0)
    # the top-up came in time, but the pool never paid again: payouts did not resume
    stuck = rows[:-1] + [envelope(500, "d", ok=False, refused=True, status=200, error="POOL_EMPTY")]
    assert resumed(stuck) == ("fail", 300.0)
    assert resumed(rows[:-1]) == ("unverified", 300.0)  # nobody asked after the top-up: nothing to judge
