"""The main job against a given target (tests/stub_backend.py, not the reference backend): a
target that stops answering after the peak phase is a finding judged with the peak run, never
bad input; and both phases' runs name their rehearsal and their target, so money carries over."""

from __future__ import annotations

import json

import pytest

from rehearse.cli.main import main
from stub_backend import Books, serving
from test_simulator import SMALL

pytestmark = pytest.mark.xdist_group("live")


def test_a_target_that_stalls_after_the_peak_gives_exit_1_with_the_peak_run_judged(tmp_path, capsys):
    books = Books(stall_after_load=True)  # asked whether it answers after the peak phase: it does not
    sets = [a for o in SMALL for a in ("--set", o)]
    with serving(books) as url, pytest.raises(SystemExit) as exited:
        main(["ci", "--host", url, "--ops-token", "unused", "--out", str(tmp_path / "ci"), "--swarm-duration", "6s",
              *sets, "--set", "gates.peak.target_active_users=20", "--peak-steps", "10,20",
              "--peak-step-duration", "5s", "--target-wait", "2s"])
    err = capsys.readouterr().err
    assert exited.value.code == 1, err[-2000:]
    assert "did not answer for 2 s" in err and "Peak: FAIL (live)" in err
    assert "target answers after the peak: the target stopped answering after the peak phase" in err
    report = json.loads((tmp_path / "ci" / "report" / "report.json").read_text())
    runs = {v["run"] for v in report["verdicts"]}
    assert "peak" in runs and "live" not in runs  # the peak run judged; the window never played
    assert not (tmp_path / "ci" / "live").exists()
    peak = json.loads((tmp_path / "ci" / "peak" / "run.json").read_text())["extra"]
    assert peak["target"] == "given" and peak["phase"] == "peak" and len(peak["job"]) == 12


def test_each_phase_plays_participants_of_its_own_and_spends_what_the_last_one_left(tmp_path, capsys):
    sets = [a for o in SMALL for a in ("--set", o)]
    with serving(Books()) as url, pytest.raises(SystemExit):
        main(["ci", "--host", url, "--ops-token", "unused", "--out", str(tmp_path / "ci"), "--swarm-duration", "6s",
              *sets, "--set", "gates.peak.target_active_users=20", "--peak-steps", "10,20",
              "--peak-step-duration", "5s"])
    capsys.readouterr()
    from rehearse.observations import load_run

    peak, live = (load_run(tmp_path / "ci" / phase).requests for phase in ("peak", "live"))
    assert len(peak) and len(live)
    assert not set(peak["user_id"]) & set(live["user_id"]) and not set(peak["attempt"]) & set(live["attempt"])
    report = json.loads((tmp_path / "ci" / "report" / "report.json").read_text())
    total = next(v for v in report["verdicts"] if v["run"] == "live" and v["key"] == "payout.never_overdrawn")
    assert "left after peak" in " ".join(e["detail"] for e in total["evidence"]), total


# a target mapped without set_clock keeps its own clock: its failover is timed in real seconds
OWN_CLOCK = ('target.operations={report_ban: {method: POST, path: /ops/domains/ban, body: {domain: "{params.domain}"}}, '
             'ledger: {method: GET, path: /ops/ledger, extract: {paid_fen: total.paid_fen, pools: pools, '
             'paid_twice: paid_twice}}}')


def test_a_target_on_its_own_clock_gets_its_ban_in_real_time_and_a_slow_failover_fails(tmp_path, capsys):
    books = Books(failover_s=30.0)  # replaces a banned domain 30 real seconds after the report
    sets = [a for o in (*SMALL, OWN_CLOCK, "gates.failover.max_seconds=20s") for a in ("--set", o)]
    with serving(books) as url, pytest.raises(SystemExit) as exited:
        main(["ci", "--host", url, "--out", str(tmp_path / "ci"), "--swarm-duration", "6s", *sets,
              "--peak-steps", "0"])
    err = capsys.readouterr().err
    assert exited.value.code == 1, err[-3000:]
    assert "no ban (the target keeps its own clock" in err and "its ban in real time, 45 s" in err, err[-3000:]
    from rehearse.observations import load_run

    live = load_run(tmp_path / "ci" / "live").events
    assert not live["detail"].str.contains("platform bans").any()  # the rehearsal bans nothing in the window
    failover = load_run(tmp_path / "ci" / "failover")
    assert failover.info.compress == 1.0 and failover.events["detail"].str.contains("platform bans").sum() == 1
    report = json.loads((tmp_path / "ci" / "report" / "report.json").read_text())
    off = [v for v in report["verdicts"] if v["run"] == "failover" and v["key"] == "failover.links_off"]
    assert off and off[0]["status"] == "fail" and 28 <= off[0]["figure"] <= 40, off
    assert "Failover: FAIL (live)" in err and "promise 20 s" in err


def test_a_window_that_ends_mid_race_ends_its_racers_before_the_run_is_saved(tmp_path, capsys):
    # a slow target (2 s an answer past 12 participants at once) keeps the racers preparing when
    # the window ends: they end with it, and none finds the run already saved (once: exit 4,
    # "could not save the run's rows", the harness's fault named for what the target did)
    sets = [a for o in SMALL for a in ("--set", o)]
    with serving(Books(capacity=12, slow_s=2.0)) as url, pytest.raises(SystemExit) as exited:
        main(["ci", "--host", url, "--ops-token", "unused", "--out", str(tmp_path / "ci"), "--swarm-duration",
              "6s", *sets, "--peak-steps", "0"])
    err = capsys.readouterr().err
    assert exited.value.code in (0, 1, 3), err[-3000:]
    from rehearse.observations import load_run

    live = load_run(tmp_path / "ci" / "live")
    assert live.info.status == "finished" and "race_end" not in set(live.events["kind"])  # ended mid-race
    assert "could not save" not in (tmp_path / "ci" / "live" / "locust.log").read_text()
