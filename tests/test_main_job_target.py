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
