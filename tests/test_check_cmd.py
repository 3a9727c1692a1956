"""`rehearse check`: exit 0 when the gates pass; 1 when one fails; 3 (INCONCLUSIVE) when none
failed but a required check is not verified by a live run, or a run did not finish; 2 on bad
input."""

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
    assert "; 0 failed;" in capsys.readouterr().out.replace("\n", " ")
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
    assert "(PASS: " in capsys.readouterr().err


@pytest.mark.xdist_group("live")  # a live run: one at a time (see pyproject)
def test_ci_runs_the_whole_rehearsal_and_writes_the_job_summary(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    sets = [a for o in SMALL for a in ("--set", o)]
    with pytest.raises(SystemExit) as exited:
        # the peak phase at a peak this machine carries in seconds: 20 then 40 participants, 1:1
        main(["ci", "--out", str(tmp_path / "ci"), "--swarm-duration", "8s", "--users", "8", *sets,
              "--set", "gates.peak.target_active_users=40", "--peak-steps", "20,40", "--peak-step-duration", "8s",
              # only the rehearsal's own ban: a platform ban late in 8 s has no time left to be verified
              "--set", "links.ban_rule.max_visits=300000", "--set", "links.ban_rule.max_shares=40000"])
    err = capsys.readouterr().err
    assert exited.value.code == 0, err[-2000:]  # every required check verified: the peak, a live ban and race
    assert "Peak: PASS (live): 40 active users against 40" in err
    assert summary.read_text().startswith("## Capacity report: PASS")
    assert all((tmp_path / "ci" / phase / "run.json").exists() for phase in ("simulated", "peak", "live"))
    assert (tmp_path / "ci" / "report" / "junit.xml").exists()


@pytest.mark.xdist_group("live")
def test_ci_with_a_starved_load_generator_is_inconclusive_in_every_format(tmp_path, monkeypatch, capsys):
    """The peak phase's load process held 600 ms of every 700 (as on a saturated core): nothing
    the target did failed, so the verdict is INCONCLUSIVE (exit 3), never FAIL, and says what would
    make it conclusive, in the terminal and every report file."""
    import json
    import xml.etree.ElementTree as ET
    from pathlib import Path

    from rehearse.swarm import orchestrate

    monkeypatch.setattr(orchestrate, "LOCUSTFILE", Path(__file__).with_name("starved_locustfile.py"))
    monkeypatch.setenv("STARVE_RUN", "peak")  # the launch window plays as it would
    sets = [a for o in SMALL for a in ("--set", o)]
    with pytest.raises(SystemExit) as exited:
        main(["ci", "--out", str(tmp_path / "ci"), "--swarm-duration", "8s", "--users", "8", *sets,
              "--set", "gates.peak.target_active_users=40", "--peak-steps", "20,40", "--peak-step-duration", "8s",
              "--set", "links.ban_rule.max_visits=300000", "--set", "links.ban_rule.max_shares=40000"])
    out = capsys.readouterr()
    err = out.err.replace("\n", " ")
    assert exited.value.code == 3, err[-3000:]
    assert "INCONCLUSIVE: " in err and "FAIL:" not in err and "Peak: NOT VERIFIED (live)" in err, err[-3000:]
    carried = "the load generator carried 0 of 40 participants here: play the peak from more load processes"
    assert "to make it conclusive:" in err and carried in err and "--peak-workers N" in err
    report = tmp_path / "ci" / "report"
    summary = (report / "summary.md").read_text()
    assert summary.startswith("## Capacity report: INCONCLUSIVE") and carried in summary
    no_knee = "peak: no predicted knee: 0 held step(s) with answers to fit on (20: limited, 40: limited); a fit needs 3"
    assert no_knee in summary and f"prediction: {no_knee}" in err
    assert out.out.startswith("## Capacity report: INCONCLUSIVE")  # ci prints the summary too
    data = json.loads((report / "report.json").read_text())
    assert (data["verdict"], data["exit_code"], data["passed"]) == ("inconclusive", 3, False)
    assert any(carried in line for line in data["to_conclude"]) and [p[:len(no_knee)] for p in data["predictions"]] == [no_knee]
    suite = ET.parse(report / "junit.xml").getroot()
    assert {p.get("name"): p.get("value") for p in suite.find("properties")}["verdict"] == "INCONCLUSIVE"
    assert suite.get("failures") == "0" and int(suite.get("errors")) >= 1
    html = (report / "report.html").read_text()
    assert '<p class="verdict inconclusive"><strong>INCONCLUSIVE</strong>' in html and "To make it conclusive" in html
    journal = json.loads((tmp_path / "ci" / "journal.json").read_text())
    assert journal["verdict"]["outcome"] == "inconclusive" and journal["verdict"]["exit_code"] == 3


def live_folder(folder, status: str = "finished", played_s: float | None = None):
    """A small live run folder (a swarm's shape): one participant paid an envelope, nothing else."""
    from rehearse.observations import RunInfo, RunWriter
    from rehearse.scenarios import load_scenario

    extra = {"duration_s": 30.0, **({"played_s": played_s} if played_s is not None else {})}
    with RunWriter(folder, RunInfo.start(load_scenario(), engine="swarm", extra=extra)) as out:
        for t, action, fen in ((10.0, "open_page", 0), (11.0, "login", 0), (11.5, "complete_task", 0),
                               (12.0, "open_envelope", 88)):
            out.request(t=t, engine="swarm", persona="normal", user_id="normal-1", action=action, channel="c",
                        domain="", status=200, ok=True, refused=False, latency_ms=5.0, payout_fen=fen, error="",
                        prize="anhe" if fen else "", attempt=f"normal-1#{int(t)}")
        out.gauge(t=10.0, active_users=8000)
    if status != "finished":
        from rehearse.observations import read_info
        info = read_info(folder).model_copy(update={"status": status})
        (folder / "run.json").write_text(info.model_dump_json())
    return folder


def test_a_live_run_that_verified_too_little_is_inconclusive_unless_allowed(tmp_path, capsys):
    run = str(live_folder(tmp_path / "live"))
    assert check(run) == 3  # nothing failed: neither a pass nor a failure
    out = capsys.readouterr().out.replace("\n", " ")
    assert out.count("INCONCLUSIVE: 9 passed; 0 failed;") == 1 and "FAIL:" not in out
    assert "required check(s) not verified" in out and "failover.links_off" in out and "payout.paid_once" in out
    assert "not verified (required)" in out
    # what would make it conclusive: one line per remedy, the checks it would verify
    assert ("live: failover.links_off, failover.visits_lost, failover.pool_never_empty: a run against the target "
            "with a domain ban in it") in out
    assert "payout.paid_once: a run against the target in which payout attempts are sent more than once" in out
    assert check(run, "--allow-unverified") == 0


def test_an_interrupted_or_unfinished_run_never_passes(tmp_path, capsys):
    stopped = str(live_folder(tmp_path / "stopped", "interrupted", played_s=8.0))
    assert check(stopped, "--allow-unverified") == 3
    out = capsys.readouterr().out.replace("\n", " ")
    assert "INCONCLUSIVE:" in out and "was interrupted after 8 s of 30 s" in out
    assert check(stopped, "--allow-unverified", "--allow-interrupted") == 0
    running = str(live_folder(tmp_path / "running", "running"))
    assert check(running, "--allow-unverified") == 3
    assert "is running (no end recorded" in capsys.readouterr().out.replace("\n", " ")


@pytest.mark.parametrize("table", ["requests", "gauges", "events"])
def test_a_run_folder_missing_a_table_is_bad_input_naming_the_file(tmp_path, capsys, table):
    from rehearse.observations import consolidate

    folder = live_folder(tmp_path / "live")
    consolidate(folder)
    gone = next(folder.glob(f"{table}.*"))
    gone.unlink()
    assert check(str(folder)) == 2
    err = capsys.readouterr().err
    assert str(gone) in err and "is missing" in err and "Traceback" not in err
