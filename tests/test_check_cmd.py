"""`rehearse check` on simulated run folders: exit 0 when the gates pass, 1 when one fails, 2 on bad input."""

from __future__ import annotations

import pytest

from rehearse.cli.main import main
from test_simulator import SMALL


def check(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(["check", *args])
    return exited.value.code


def simulate(out, *overrides: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--out", str(out), *[a for o in (*SMALL, *overrides) for a in ("--set", o)]])
    assert exited.value.code == 0


def test_a_healthy_simulated_campaign_passes_and_a_broken_one_fails(tmp_path, capsys):
    simulate(tmp_path / "healthy")
    simulate(tmp_path / "banned", "links.ban_rule.max_shares=20")
    sets = [a for o in SMALL for a in ("--set", o)]
    assert check(str(tmp_path / "healthy"), *sets) == 0
    assert "PASS: 0 failed" in capsys.readouterr().out
    assert check(str(tmp_path / "banned"), *sets, "--set", "links.ban_rule.max_shares=20") == 1
    out = capsys.readouterr().out
    assert "backup pool never empty" in out and "FAIL" in out


def test_bad_input_is_exit_2(tmp_path, capsys):
    assert check(str(tmp_path / "nope")) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_report_writes_the_four_files_and_exits_like_check(tmp_path, capsys):
    simulate(tmp_path / "healthy")
    sets = [a for o in SMALL for a in ("--set", o)]
    with pytest.raises(SystemExit) as exited:
        main(["report", str(tmp_path / "healthy"), "--baseline", str(tmp_path / "healthy"),
              "--out", str(tmp_path / "report"), *sets])
    assert exited.value.code == 0
    names = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert names == ["junit.xml", "report.html", "report.json", "summary.md"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "all gates pass" in capsys.readouterr().err


def test_ci_runs_the_whole_rehearsal_and_writes_the_job_summary(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    sets = [a for o in SMALL for a in ("--set", o)]
    with pytest.raises(SystemExit) as exited:
        main(["ci", "--out", str(tmp_path / "ci"), "--swarm-duration", "6s", "--users", "8", *sets])
    assert exited.value.code == 0, capsys.readouterr().err[-2000:]
    assert summary.read_text().startswith("## Capacity report: PASS")
    assert (tmp_path / "ci" / "simulated" / "run.json").exists() and (tmp_path / "ci" / "live" / "run.json").exists()
    assert (tmp_path / "ci" / "report" / "junit.xml").exists()
