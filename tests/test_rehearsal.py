"""A rehearsal as data: its phases built from the inputs, its journal, and the pytest plugin a QA
repository runs one from."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rehearse.cli.main import main
from rehearse.rehearsal import NOT_PLAYED, PLAYED, RehearsalInputs, build_rehearsal
from stub_backend import Books, serving
from test_main_job_target import OWN_CLOCK
from test_simulator import SMALL


def test_the_bundled_rehearsal_simulates_then_plays_the_peak_and_the_window(tmp_path):
    rehearsal = build_rehearsal(RehearsalInputs(out=tmp_path / "r"))
    assert [p.name for p in rehearsal.phases] == ["simulated", "peak", "live"]
    assert [p.kind for p in rehearsal.phases] == ["simulate", "swarm", "swarm"]
    assert rehearsal.steps == (1000, 2000, 4000, 8000) and not rehearsal.skipped
    assert [p.run_dir for p in rehearsal.phases] == [tmp_path / "r" / n for n in ("simulated", "peak", "live")]
    live = rehearsal.phase("live").request
    assert live.host is None and live.settings.extra == {"faults": [], "job": rehearsal.job, "phase": "live"}


def test_a_skipped_peak_and_a_target_on_its_own_clock_say_so_in_the_phases(tmp_path):
    rehearsal = build_rehearsal(RehearsalInputs(out=tmp_path / "r", peak_steps="0", host="http://127.0.0.1:9",
                                                overrides=(OWN_CLOCK,)))
    assert [p.name for p in rehearsal.phases] == ["simulated", "live", "failover"]
    assert rehearsal.skipped == {"peak": "--peak-steps 0"}
    assert rehearsal.phase("failover").after == "live"
    assert rehearsal.phase("live").request.settings.rehearsal.ban_at is None  # its ban is in real time


@pytest.mark.parametrize("cores, host, workers, said", [
    (2, None, 0, "from one load process (2 cores here, one left to the target"),  # the bundled backend is here
    (4, None, 3, "from 3 Locust workers (4 cores here, one left to the target)"),
    (4, "http://127.0.0.1:9", 3, "from 3 Locust workers (4 cores here, one left to the target)"),  # loopback: here
    (1, None, 0, "from one load process (1 core here, one left to the target"),
])
def test_the_peak_phase_plans_its_load_processes_from_the_cores_the_target_leaves(tmp_path, cores, host, workers,
                                                                                   said):
    peak = build_rehearsal(RehearsalInputs(out=tmp_path / "r", cores=cores, host=host)).phase("peak")
    assert peak.request.workers == workers and said in peak.title
    asked = build_rehearsal(RehearsalInputs(out=tmp_path / "r", cores=cores, peak_workers=2)).phase("peak")
    assert asked.request.workers == 2 and "from 2 Locust workers (--peak-workers)" in asked.title



@pytest.mark.parametrize("steps, want", [(0, ()), ("0", ()), ([10, 20], (10, 20)), (30, (30,))])
def test_a_qa_test_may_give_the_peak_steps_as_numbers(tmp_path, steps, want):
    rehearsal = build_rehearsal(RehearsalInputs(out=tmp_path / "r", peak_steps=steps))
    assert rehearsal.steps == want and ("peak" in rehearsal.skipped) == (want == ())


@pytest.mark.parametrize("inputs, message", [
    ({"faults": ("no-such",)}, "--fault no-such: no such fault"),
    ({"peak_steps": "10,x"}, "--peak-steps"),
    ({"host": "http://example.com"}, "example.com"),
])
def test_bad_inputs_are_refused_before_anything_runs(tmp_path, inputs, message):
    from rehearse.scenarios import UsageError

    with pytest.raises(UsageError, match=message):
        build_rehearsal(RehearsalInputs(out=tmp_path / "r", **inputs))
    assert not (tmp_path / "r").exists()


QA_TEST = '''
import json

from rehearse.rehearsal import PLAYED, SKIPPED

SMALL = {small!r}


def test_a_rehearsal_from_the_qa_suite(rehearse):
    events = []
    journal = rehearse(overrides=SMALL, peak_steps="0", duration_s=6, on_event=events.append)
    assert [(r.name, r.status) for r in journal.phases] == [("simulated", PLAYED), ("peak", SKIPPED),
                                                            ("live", PLAYED)]
    assert journal.record("live").run_status == "finished" and journal.status == "completed"
    assert {{type(e).__name__ for e in events}} >= {{"PhaseStarted", "SwarmProgress", "PhaseEnded", "Judging"}}
    assert any(line.startswith("Budget: ") for line in journal.answers), journal.answers
    assert (journal.report_dir / "report.html").exists()
'''


@pytest.mark.xdist_group("live")
def test_a_qa_repository_runs_a_rehearsal_from_its_own_tests_through_the_plugin(tmp_path):
    qa = tmp_path / "qa"
    qa.mkdir()
    (qa / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # its own settings, not ours
    (qa / "conftest.py").write_text('pytest_plugins = ["rehearse.testing"]\n', encoding="utf-8")
    (qa / "test_launch.py").write_text(QA_TEST.format(small=SMALL), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                           str(tmp_path / "base"), "test_launch.py"], cwd=qa, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    journal = json.loads(next((tmp_path / "base").rglob("journal.json")).read_text())
    assert journal["status"] == "completed" and journal["verdict"]["headline"].startswith(("PASS", "FAIL", "INCONCLUSIVE"))
    assert journal["rehearsal"]["skipped"] == {"peak": "--peak-steps 0"}
    assert [p["name"] for p in journal["phases"]] == ["simulated", "peak", "live"]


@pytest.mark.xdist_group("live")
def test_rehearse_run_waits_for_a_target_silent_after_the_peak_and_judges_it(tmp_path, capsys):
    # `run` (progress bars) and `ci` play the same rehearsal: a target silent after the peak is
    # asked again for --target-wait, then it is a finding, not bad input (exit 0: `run` never fails)
    sets = [a for o in SMALL for a in ("--set", o)]
    with serving(Books(stall_after_load=True)) as url, pytest.raises(SystemExit) as exited:
        main(["run", "--host", url, "--ops-token", "unused", "--out", str(tmp_path / "run"), "--swarm-duration",
              "6s", *sets, "--set", "gates.peak.target_active_users=20", "--peak-steps", "10,20",
              "--peak-step-duration", "5s", "--target-wait", "2s"])
    err = capsys.readouterr().err
    assert exited.value.code == 0, err[-2000:]
    assert "did not answer for 2 s" in err and "Peak: FAIL (live)" in err, err[-2000:]
    journal = json.loads((tmp_path / "run" / "journal.json").read_text())
    assert {p["name"]: p["status"] for p in journal["phases"]} == {"simulated": PLAYED, "peak": PLAYED,
                                                                    "live": NOT_PLAYED}
    live = next(p for p in journal["phases"] if p["name"] == "live")
    assert "after the peak phase" in live["reason"] and live["run_dir"] is None


@pytest.mark.xdist_group("live")
def test_ctrl_c_in_the_launch_window_stops_the_rehearsal_and_the_journal_says_where(tmp_path):
    import signal
    import time

    out = tmp_path / "ci"
    sets = [a for o in SMALL for a in ("--set", o)]
    proc = subprocess.Popen([sys.executable, "-m", "rehearse", "ci", "--out", str(out), "--peak-steps", "0",
                             "--swarm-duration", "60s", *sets], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "live" / "progress.json").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the launch window is playing once its progress is written
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=90)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "the swarm ended early (interrupted): stopped by SIGINT" in err and "Traceback" not in err, err[-2000:]
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "stopped" and "stopped by SIGINT" in journal["reason"]
    assert [(p["name"], p["status"]) for p in journal["phases"]] == [("simulated", PLAYED), ("peak", "skipped"),
                                                                     ("live", "stopped")]
    live = journal["phases"][-1]
    assert live["run_status"] == "interrupted" and live["run_dir"] == str(out / "live")
    assert json.loads((out / "live" / "run.json").read_text())["status"] == "interrupted"
