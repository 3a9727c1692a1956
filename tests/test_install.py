"""The wheel installs one top-level name, `rehearse`, and works beside a QA repository's own
`reports/`, `scenarios/` and `cli/` packages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

# live runs (a backend and a load generator on the 2 cores) go one at a time: see pyproject
pytestmark = pytest.mark.xdist_group("live")

ROOT = Path(__file__).parents[1]
BOUND_S = 120


def run(args: list, cwd: Path) -> subprocess.CompletedProcess:
    """The command to its end within BOUND_S; past it, a failure that says what it was doing (its
    output, and where py-spy is at hand its stacks), never a bare timeout."""
    argv = [str(a) for a in args]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        out, err = proc.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        stacks = subprocess.run([spy, "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                                timeout=30).stdout if spy else "(py-spy is not installed: no stacks)"
        proc.kill()
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"{' '.join(argv[:4])} ... still running after {BOUND_S} s\n--- its stacks\n{stacks[-6000:]}"
                    f"\n--- its stderr (end)\n{err[-4000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the project's wheel in it; its dependencies come from this venv's
    site-packages through a path file (no network, and no editable `rehearse` is visible)."""
    tmp = tmp_path_factory.mktemp("install")
    tracked = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout: the wheel is built from the files git tracks or would")
    src = tmp / "src"
    for name in tracked:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist",
                 src], tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    fresh = tmp / "fresh"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next((tmp / "dist").glob("rehearse-*.whl"))
    done = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return fresh


@pytest.fixture
def qa_repo(tmp_path) -> Path:
    """A QA repository with packages named like ours, each of which fails loudly if imported."""
    for name in ("reports", "scenarios", "cli", "swarm"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the QA repo own {name} was imported')\n")
    shutil.copy2(ROOT / "locustfile.py", tmp_path / "locustfile.py")
    return tmp_path


def top_level_names(fresh: Path) -> set[str]:
    record = next(fresh.glob("lib/python*/site-packages/rehearse-*.dist-info/RECORD"))
    names = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    return {n for n in names if not n.endswith(".dist-info") and n != ".."}


def test_the_wheel_installs_one_top_level_name(installed):
    assert top_level_names(installed) == {"rehearse"}
    bundled = list(installed.glob("lib/python*/site-packages/rehearse/scenarios/*.yaml"))
    assert [p.name for p in bundled] == ["year_end_red_envelope.yaml"]


def test_the_installed_command_works_beside_same_named_packages(installed, qa_repo):
    helped = run([installed / "bin" / "rehearse", "--help"], qa_repo)
    assert helped.returncode == 0 and "rehearse run" in helped.stdout, helped.stderr
    module = run([installed / "bin" / "python", "-m", "rehearse", "scenario", "show"], qa_repo)
    assert module.returncode == 0, module.stderr
    where = run([installed / "bin" / "python", "-c", "import rehearse.reports, rehearse.scenarios as s; "
                 "print(s.__file__)"], qa_repo)
    assert str(installed) in where.stdout, where.stderr


def test_rehearse_run_and_plain_locust_work_from_a_qa_repository(installed, qa_repo):
    out = qa_repo / "runs" / "main"
    done = run([installed / "bin" / "rehearse", "run", "--swarm-duration", "4s", "--users", "6", "--out", out,
                "--peak-steps", "10", "--peak-step-duration", "5s"], qa_repo)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "report" / "report.html").exists() or list(out.rglob("report.html"))

    backend = subprocess.Popen([installed / "bin" / "rehearse", "backend", "--port", "0", "--db",
                                qa_repo / "b.sqlite3"], cwd=qa_repo, stderr=subprocess.PIPE, text=True)
    try:
        banner = "".join(backend.stderr.readline() for _ in range(4))
        url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
        token = re.search(r"ops token\s+(\S+)", banner).group(1)
        locust = run([installed / "bin" / "python", "-m", "locust", "-f", "locustfile.py", "--headless",
                      "--host", url, "--rehearse-duration", "3s", "--max-slots", "40",
                      "--run-dir", qa_repo / "runs" / "locust", "--run-time", "15s", "--ops-token", token], qa_repo)
    finally:
        backend.kill()
        backend.wait(timeout=BOUND_S)
    assert locust.returncode == 0, locust.stderr[-3000:]
    assert "ParticipantSlot" in locust.stderr
