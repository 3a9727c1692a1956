"""One run, one folder: a folder that holds a run is refused before anything starts (--force
replaces it), a lock keeps two runs out of one folder, and a disk that fills mid-run stops the
run at once, keeping what was written and saying where."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rehearse.cli.main import main
from rehearse.observations import RunInfo, RunWriter, load_run
from rehearse.observations.claim import FolderInUse, check_unused, claimed
from rehearse.scenarios import load_scenario

ROOT = Path(__file__).parents[1]


def a_run(folder: Path) -> Path:
    info = RunInfo.start(load_scenario(), engine="swarm", seed=1)
    with RunWriter(folder, info) as out:
        out.event(0.0, "note", "a run")
    return folder


def test_a_folder_holding_a_run_is_refused_unless_forced(tmp_path):
    used = a_run(tmp_path / "used")
    with pytest.raises(FolderInUse, match="already holds a run.*--force"):
        check_unused(used)
    with claimed(used, force=True):
        assert not (used / "run.json").exists()  # the old run is gone before the new one starts
    with claimed(tmp_path / "new"):
        pass


def test_a_phase_folder_of_the_main_job_counts_as_a_run(tmp_path):
    a_run(tmp_path / "job" / "live")
    with pytest.raises(FolderInUse, match="live/run.json"):
        check_unused(tmp_path / "job")


def test_force_never_clears_files_no_run_wrote(tmp_path):
    used = a_run(tmp_path / "mixed")
    (used / "thesis.docx").write_text("mine")
    with pytest.raises(FolderInUse, match="thesis.docx"):
        check_unused(used, force=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(FolderInUse, match="not empty"):
        check_unused(tmp_path / "notes", force=True)


def test_two_runs_never_share_a_folder_even_when_started_together(tmp_path):
    folder = tmp_path / "run"
    with claimed(folder):
        with pytest.raises(FolderInUse, match="another run .* is writing into this folder"):
            with claimed(folder, force=True):
                pass
        # a child of the claiming process writes under its parent's claim
        child = subprocess.run([sys.executable, "-c", "import sys; from rehearse.observations.claim import claimed\n"
                                "with claimed(sys.argv[1]): print('handed down')", str(folder)],
                               capture_output=True, text=True)
        assert child.stdout.strip() == "handed down", child.stderr
    with claimed(folder):  # released with the first run
        pass


def test_a_second_swarm_into_a_used_folder_is_refused_before_anything_starts(tmp_path, capsys):
    used = a_run(tmp_path / "run")
    with pytest.raises(SystemExit) as done:
        main(["swarm", "--duration", "5s", "--out", str(used)])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert "already holds a run" in err and err.count("\n") == 1
    assert not (used / "private").exists()  # no backend was started
    assert load_run(used).events["detail"].tolist() == ["a run"]  # the first run is untouched


def test_a_second_simulation_into_a_used_folder_is_refused(tmp_path, capsys):
    used = a_run(tmp_path / "sim")
    with pytest.raises(SystemExit) as done:
        main(["simulate", "--out", str(used)])
    assert done.value.code == 2
    assert "already holds a run" in capsys.readouterr().err


def test_a_run_refused_after_its_claim_leaves_no_folder_behind(tmp_path):
    folder = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with claimed(folder):
            raise RuntimeError("the host did not answer")
    assert not folder.exists()
