"""Flags at the edge: every command refuses a bad value, a flag its combination would ignore and
a run folder it cannot judge with one line on stderr and exit 2, before anything starts; and
`--dry-run` checks the same inputs, prints the plan and starts, sends and writes nothing.

In-process (`main([...])`); whatever would start work (the simulator, a swarm, a backend, a
walkthrough's backend, a request to the target) fails the test if it is reached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rehearse.cli.main import main
from rehearse.observations import RunInfo, RunWriter, consolidate
from rehearse.scenarios import load_scenario

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a well-formed TOTP secret (base32, 160 bits)


class Started(BaseException):
    """Work began that a refused command or a dry run must never begin."""


@pytest.fixture(autouse=True)
def nothing_starts(monkeypatch, tmp_path):
    """Every seam that starts work raises Started; the command runs in an empty folder."""
    import rehearse.cli.backend_cmd as backend_cmd
    import rehearse.simulator.run as simulator_run
    import rehearse.swarm.orchestrate as orchestrate
    import rehearse.client.safety as safety
    import rehearse.walkthrough.run as walkthrough_run

    def started(what: str):
        def fail(*_args, **_kwargs):
            raise Started(what)
        return fail

    monkeypatch.setattr(simulator_run, "run_replicas", started("the simulator"))
    monkeypatch.setattr(simulator_run, "run_drill", started("a simulated drill"))
    monkeypatch.setattr(orchestrate, "run_swarm", started("a swarm"))
    monkeypatch.setattr(walkthrough_run, "running_backend", started("a walkthrough's backend"))
    monkeypatch.setattr(walkthrough_run, "RunWriter", started("a walkthrough's run folder"))
    monkeypatch.setattr(backend_cmd, "bind_loopback", started("the backend's socket"))
    monkeypatch.setattr(backend_cmd, "serve", started("the backend"))
    monkeypatch.delenv("REHEARSE_OPS_TOKEN", raising=False)
    monkeypatch.delenv("REHEARSE_OTP_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    return safety


def refused(argv: list[str], capsys) -> str:
    """The command exits 2 with one line on stderr, no traceback; the line."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    assert exited.value.code == 2, (argv, exited.value.code, captured.err, captured.out[-500:])
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith("rehearse: error: "), repr(captured.err)
    return captured.err


def dry(argv: list[str], capsys) -> str:
    """A dry run: exit 0, the plan on stdout, nothing written in the working folder."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--dry-run"])
    captured = capsys.readouterr()
    assert exited.value.code == 0, (argv, captured.err)
    assert captured.out.startswith("dry run: every input checked; nothing was started, sent or written\n")
    assert list(Path.cwd().iterdir()) == [], "a dry run must write nothing"
    return captured.out


# --- 1. an empty path is never the current folder ---------------------------------------------

@pytest.mark.parametrize("argv", [
    ["simulate", "--out", ""], ["swarm", "--out", ""], ["swarm", "--out", "  "], ["run", "--out", ""],
    ["ci", "--out", ""], ["drill", "--drill", "ban_wave", "--out", ""], ["walkthrough", "--out", ""],
    ["report", "runs/x", "--out", ""],
], ids=lambda a: " ".join(a))
def test_an_empty_out_is_refused_by_every_command(argv, capsys):
    assert "Invalid value for '--out': an empty path" in refused(argv, capsys)


@pytest.mark.parametrize("argv, named", [
    (["simulate", ""], "[SCENARIO]"), (["backend", "--db", ""], "--db"), (["check", ""], "RUNS"),
    (["check", "runs/x", "--scenario", ""], "--scenario"), (["report", "runs/x", "--baseline", ""], "--baseline"),
    (["scenario", "validate", ""], "PATHS"), (["scenario", "show", ""], "[PATH]"),
    (["swarm", "--out", "runs/a\x00b"], "--out"), (["backend", "--db", "a\nb.sqlite3"], "--db"),
], ids=lambda a: " ".join(map(repr, a)) if isinstance(a, list) else a)
def test_an_empty_or_control_character_path_is_refused(argv, named, capsys):
    err = refused(argv, capsys)
    assert named in err and ("an empty path" in err or "control character" in err)


# --- 2. an empty value is not a flag left out; a message names the flag given -------------------

@pytest.mark.parametrize("argv, message", [
    (["swarm", "--steps", ""], "--steps '': empty"),
    (["swarm", "--ban-at", ""], "--ban-at ''"),
    (["swarm", "--race-at", ""], "--race-at ''"),
    (["swarm", "--host", ""], "--host '': empty"),
    (["run", "--peak-steps", ""], "--peak-steps '': empty"),
    (["run", "--peak-steps", "x"], "--peak-steps x: expected whole numbers"),
    (["run", "--peak-steps", "0,5"], "--peak-steps 0,5: each step is 1 to"),
    (["run", "--peak-step-duration", "1s"], "Invalid value for '--peak-step-duration'"),
    (["ci", "--peak-steps", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21"], "--peak-steps 1,2,"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_empty_values_are_refused_and_the_flag_given_is_named(argv, message, capsys):
    assert message in refused(argv, capsys)


# --- 3. a flag its combination would ignore is refused, saying what it needs --------------------

@pytest.mark.parametrize("argv, message", [
    (["swarm", "--ban-at", "99h"], "--ban-at 99h: the run plays 1h of campaign time of the launch_hour window"),
    (["swarm", "--race-at", "1h"], "--race-at 1h: the run plays 1h"),
    (["swarm", "--ban-at", "-5m"], "--ban-at -5m: expected a duration from 0 on"),
    (["swarm", "--compress", "120", "--duration", "10s", "--ban-at", "30m"], "plays 20m of campaign time"),
    (["swarm", "--steps", "10", "--ban-at", "2m"], "--ban-at 2m: the run plays 20s"),
    (["swarm", "--compress", "120", "--duration", "60s"], "--duration 60s: at --compress 120 the launch_hour window"),
    (["swarm", "--step-duration", "30s"], "--step-duration 30s: applies only with --steps"),
    (["swarm", "--racers", "5"], "--racers 5: applies only with --race-at"),
    (["swarm", "--steps", "10", "--duration", "30s"], "--duration 30s: a step load lasts its steps"),
    (["swarm", "--steps", "100,200", "--users", "50"], "--users 50: fewer Locust users than the largest step"),
    (["swarm", "--duration", "1s", "--set", "traffic.windows.launch_hour={start: -7d, duration: 18d}"],
     "at most x1,000,000"),
    (["swarm", "--ops-token", "t0k"], "--ops-token: applies only with --host"),
    (["swarm", "--allow-remote"], "--allow-remote: applies only with --host"),
    (["run", "--ops-token", "t0k"], "--ops-token: applies only with --host"),
    (["ci", "--allow-remote"], "--allow-remote: applies only with --host"),
    (["run", "--peak-steps", "0", "--peak-step-duration", "10s"], "--peak-step-duration 10s: applies only with a "
                                                                  "peak phase"),
    (["walkthrough", "--ops-token", "t0k"], "--ops-token: applies only with --host"),
    (["target", "check", "--allow-remote"], "--allow-remote: applies only with --host"),
    (["drill", "--drill", "ban_wave", "--scale", "1:10"], "--scale 1:10: applies only to a live drill; add --live"),
    (["drill", "--drill", "ban_wave", "--ops-token", "t0k"], "--ops-token: applies only to a live drill"),
    (["drill", "--drill", "ban_wave", "--allow-remote"], "--allow-remote: applies only to a live drill"),
    (["drill", "--drill", "ban_wave", "--duration", "10s"], "--duration 10s: applies only to a live drill"),
    (["drill", "--drill", "ban_wave", "--live", "--ops-token", "t0k"], "--ops-token: applies only with --host"),
    (["drill", "--drill", "delayed_topup", "--live", "--otp-secret", SECRET], "--otp-secret: applies only with "
                                                                              "--host"),
    (["drill", "--drill", "ban_wave", "--live", "--host", DEAD, "--otp-secret", SECRET],
     "drill ban_wave has no delayed_topup incident"),
    (["drill", "--live"], "--live: applies only to play a drill"),
    (["drill", "--out", "runs/d"], "--out runs/d: applies only to play a drill"),
    (["simulate", "--jobs", "4"], "--jobs 4: applies only with --replicas 2 or more"),
    (["simulate", "--seed", "4294967295", "--replicas", "3"], "the last replica's seed would be 4294967297"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_a_flag_its_combination_would_ignore_is_refused(argv, message, capsys):
    assert message in refused(argv, capsys)


def test_an_environment_token_without_a_host_names_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("REHEARSE_OPS_TOKEN", "t0k")
    err = refused(["swarm"], capsys)
    assert "REHEARSE_OPS_TOKEN (--ops-token): applies only with --host" in err and "unset REHEARSE_OPS_TOKEN" in err
    assert "t0k" not in err  # a secret is never echoed


# --- 6. values that end in HTTP headers ---------------------------------------------------------

@pytest.mark.parametrize("token, message", [
    ("héllo", "holds 'é' (U+00E9) at position 2"), ("a b", "holds ' ' (U+0020)"), ("a\tb", "U+0009"),
    ("", "an empty token"), ("x" * 5000, "5,000 characters long"),
])
def test_an_ops_token_must_be_printable_ascii(token, message, capsys):
    err = refused(["swarm", "--host", DEAD, "--ops-token", token], capsys)
    assert "Invalid value for '--ops-token'" in err and message in err


def test_an_ops_token_from_the_environment_is_checked_too(monkeypatch, capsys):
    monkeypatch.setenv("REHEARSE_OPS_TOKEN", "tökén")
    assert "(from REHEARSE_OPS_TOKEN)" in refused(["walkthrough", "--host", DEAD], capsys)


@pytest.mark.parametrize("secret", ["x", "ééé", "JBSW Y3DP", "JBSWY3DP"])
def test_a_totp_secret_must_make_codes(secret, capsys):
    err = refused(["drill", "--drill", "delayed_topup", "--live", "--host", DEAD, "--otp-secret", secret], capsys)
    assert "Invalid value for '--otp-secret': not a TOTP secret" in err and secret not in err.split(":", 2)[2]


# --- 7. a target that does not answer is refused before any phase -------------------------------

@pytest.mark.parametrize("command", ["run", "ci"])
def test_a_dead_host_is_refused_before_the_simulation(command, capsys):
    assert "nothing answers there" in refused([command, "--host", DEAD], capsys)


@pytest.mark.parametrize("argv", [
    ["drill", "--drill", "ban_wave", "--live", "--host", DEAD], ["walkthrough", "--host", DEAD],
    ["target", "check", "--host", DEAD, "--ops-token", "t0k"], ["swarm", "--host", DEAD],
], ids=lambda a: " ".join(a))
def test_every_command_with_a_host_checks_it_answers_first(argv, capsys):
    assert "nothing answers there" in refused(argv, capsys)


# --- 8. dry runs --------------------------------------------------------------------------------

@pytest.fixture
def no_requests(nothing_starts, monkeypatch):
    """A dry run never asks the target anything, not even whether it answers."""
    def asked(*_args, **_kwargs):
        raise Started("a request to the target")
    monkeypatch.setattr(nothing_starts, "check_reachable", asked)
    monkeypatch.setattr(nothing_starts.httpx, "get", asked)


@pytest.mark.parametrize("argv, says", [
    (["swarm"], "swarm year_end_red_envelope: window launch_hour (3600 campaign s) in 60 s (x60), 1:100"),
    (["swarm", "--steps", "10,20", "--ban-at", "10s", "--host", DEAD], "step load: 10, 20 participants playing"),
    (["swarm", "--ban-at", "20m", "--race-at", "40m", "--preheat-probe"], "incidents: a domain ban 1200 campaign"),
    (["run"], "2/4 the peak at real concurrency against the reference backend: 1,000, 2,000, 4,000, 8,000"),
    (["ci", "--host", DEAD, "--peak-steps", "0", "--out", "runs/ci"], "2/4 the peak at real concurrency: skipped"),
    (["drill", "--drill", "ban_wave"], "in the simulator"),
    (["drill", "--drill", "fraud_wave", "--live", "--duration", "10s"], "live: swarm year_end_red_envelope"),
    (["drill", "--drill", "delayed_topup", "--live", "--host", DEAD, "--otp-secret", SECRET], "target " + DEAD),
    (["walkthrough", "--at", "preheat", "--persona", "normal"], "walkthrough year_end_red_envelope: normal"),
    (["walkthrough", "--host", DEAD, "--ops-token", "t0k"], "target: " + DEAD),
    (["target", "check", "--host", DEAD, "--ops-token", "t0k"], "target check year_end_red_envelope"),
    (["simulate", "--replicas", "4", "--jobs", "2"], "4 replica(s), seeds 20261220..20261223 in 2 process(es)"),
    (["backend", "--port", "0", "--reset", "--fault", "overspend"], "faults overspend"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_a_dry_run_prints_the_plan_and_starts_nothing(argv, says, capsys, no_requests):
    assert says in dry(argv, capsys)


@pytest.mark.parametrize("argv, message", [
    (["swarm", "--ban-at", "99h"], "--ban-at 99h"),
    (["swarm", "--host", "http://192.0.2.10:8700"], "not a loopback address"),
    (["run", "--peak-steps", "x"], "--peak-steps x"),
    (["ci", "--fault", "overspend", "--host", DEAD], "--fault"),
    (["drill", "--drill", "nosuch"], "nosuch"),
    (["walkthrough", "--host", DEAD], "pass the backend's --ops-token"),
    (["walkthrough", "--host", "ftp://127.0.0.1"], "--host ftp://127.0.0.1"),
    (["simulate", "--set", "personas.mix.normal=.nan"], "personas.mix"),
    (["backend", "--at", "never"], "--at never"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_a_dry_run_refuses_what_a_real_run_refuses(argv, message, capsys, no_requests):
    assert message in refused([*argv, "--dry-run"], capsys)


def test_a_dry_run_of_the_backend_reads_its_database_without_writing(tmp_path, capsys, no_requests):
    db = tmp_path / "db" / "other.sqlite3"
    db.parent.mkdir()
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('scenario', 'another_campaign')")
    conn.close()
    before = sorted(p.name for p in db.parent.iterdir())
    assert "holds campaign 'another_campaign'" in refused(["backend", "--db", str(db), "--dry-run"], capsys)
    assert sorted(p.name for p in db.parent.iterdir()) == before


# --- 4. a run folder is judged by the scenario it was made with ---------------------------------

def live_run(folder: Path, scenario=None, extra: dict | None = None) -> Path:
    """A small finished live run: one participant paid an envelope."""
    info = RunInfo.start(scenario or load_scenario(), engine="swarm", seed=1, extra={"duration_s": 30.0, **(extra or {})})
    with RunWriter(folder, info) as out:
        for t, action, fen in ((10.0, "open_page", 0), (11.0, "login", 0), (12.0, "open_envelope", 88)):
            out.request(t=t, engine="swarm", persona="normal", user_id="u1", action=action, channel="c",
                        domain="", status=200, ok=True, refused=False, latency_ms=5.0, payout_fen=fen, error="",
                        prize="anhe" if fen else "", attempt=f"u1#{t:g}")
        out.gauge(t=10.0, active_users=1, rps=0.5)
    consolidate(folder)
    return folder


def judged(argv: list[str], capsys) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return exited.value.code


def test_a_run_of_another_version_of_the_scenario_is_refused_unless_allowed(tmp_path, capsys):
    folder = live_run(tmp_path / "run", load_scenario(overrides=["seed=1"]))
    digest, bundled = load_scenario(overrides=["seed=1"]).digest(), load_scenario().digest()
    for command in (["check", str(folder)], ["report", str(folder), "--out", str(tmp_path / "report")]):
        err = refused(command, capsys)
        assert f"made with scenario digest {digest}" in err and f"has digest {bundled}" in err
        assert "--allow-other-scenario" in err
        assert judged([*command, "--allow-other-scenario"], capsys) in (0, 1)
    assert judged(["check", str(folder), "--set", "seed=1"], capsys) in (0, 1)  # the scenario it was made with


def test_a_live_drill_run_is_judged_by_the_scenario_with_its_window(tmp_path, capsys):
    from rehearse.swarm.drill import LiveDrill, live_request

    inline = "drills.ban_wave.window={start: 0, duration: 3600}"
    played = live_request(LiveDrill(None, (inline,), "ban_wave")).settings.load()
    folder = live_run(tmp_path / "run", played, {"drill": "ban_wave"})
    assert played.digest() != load_scenario(overrides=[inline]).digest()
    assert judged(["check", str(folder), "--set", inline], capsys) in (0, 1)


def test_a_baseline_of_another_campaign_is_refused(tmp_path, capsys):
    folder = live_run(tmp_path / "run")
    other = live_run(tmp_path / "other")
    info = (other / "run.json").read_text().replace('"year_end_red_envelope"', '"lucky_bag"')
    (other / "run.json").write_text(info)
    err = refused(["report", str(folder), "--baseline", str(other), "--out", str(tmp_path / "report")], capsys)
    assert f"--baseline {other}: a run of 'lucky_bag', not of 'year_end_red_envelope'" in err
    assert not (tmp_path / "report").exists()


def test_a_run_given_twice_is_refused(tmp_path, capsys):
    folder = live_run(tmp_path / "run")
    assert "given twice" in refused(["check", str(folder), str(tmp_path / "." / "run")], capsys)


# --- 5. numbers a run cannot have measured ------------------------------------------------------

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("table, column, value, count", [
    ("requests", "t", np.nan, 2), ("requests", "latency_ms", np.inf, 1), ("requests", "latency_ms", -3.0, 1),
    ("gauges", "t", np.nan, 1), ("gauges", "rps", np.inf, 1),
])
def test_nan_or_inf_where_a_run_measures_makes_the_folder_invalid(table, column, value, count, fmt, tmp_path,
                                                                   capsys):
    folder = live_run(tmp_path / "run")
    path = folder / f"{table}.parquet"
    frame = pd.read_parquet(path)
    frame.loc[frame.index[:count], column] = value
    path.unlink()
    target = folder / f"{table}.{fmt}"
    frame.to_parquet(target, index=False) if fmt == "parquet" else frame.to_csv(target, index=False)
    err = refused(["check", str(folder)], capsys)
    assert f"{target}: {table}.{column} holds {count} value(s) that are" in err


def test_a_gauge_not_measured_is_no_error(tmp_path, capsys):
    folder = live_run(tmp_path / "run")  # its gauge row leaves arrival_lag_ms, cpu_percent ... empty
    assert pd.read_parquet(folder / "gauges.parquet")["cpu_percent"].isna().all()
    assert judged(["check", str(folder)], capsys) in (0, 1)


# --- 9. hostile values --------------------------------------------------------------------------

def test_a_very_long_value_is_shortened_in_the_error_line(capsys):
    err = refused(["swarm", "--window", "x" * 100_000], capsys)
    assert len(err) < 1000 and "characters]..." in err and err.startswith("rehearse: error: --window xxx")


@pytest.mark.parametrize("argv, named", [
    (["swarm", "--duration", "0.001s"], "--duration"), (["swarm", "--duration", "nan"], "--duration"),
    (["swarm", "--duration", "1e400s"], "--duration"), (["run", "--swarm-duration", "-1s"], "--swarm-duration"),
    (["drill", "--drill", "ban_wave", "--live", "--duration", "25h"], "--duration"),
    (["swarm", "--steps", "10", "--step-duration", "inf"], "--step-duration"),
    (["swarm", "--ban-at", "nan"], "--ban-at"), (["swarm", "--scale", "1:1e400"], "--scale"),
    (["swarm", "--seed", "-1"], "--seed"), (["walkthrough", "--at", "launch+nan"], "--at"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_numbers_are_finite_and_bounded_at_the_edge(argv, named, capsys):
    assert named in refused(argv, capsys)


def test_a_figure_that_is_no_finite_number_is_missing_in_a_comparison():
    from rehearse.reports.compare import compare

    deltas = {d.figure: d for d in compare({"p95_ms": {"login": float("inf")}, "error_rate": float("nan")},
                                           {"p95_ms": {"login": 9.0}, "error_rate": 0.01})}
    assert (deltas["p95_ms.login"].current, deltas["p95_ms.login"].regressed) == (None, False)
    assert deltas["error_rate"].delta is None


@pytest.mark.parametrize("value, message", [
    ("a=" + "[" * 5000 + "]" * 5000, "an override holds at most 4,096"),
    ("seed=" + "9" * 5000, "an override holds at most 4,096"),
    ("description=" + "[" * 80 + "]" * 80, "nests 80 levels of brackets; at most 64"),
])
def test_an_override_cannot_exhaust_the_yaml_reader(value, message, capsys):
    err = refused(["simulate", "--set", value], capsys)
    assert "Invalid value for '--set'" in err and message in err


def test_a_scenario_nested_thousands_deep_is_one_line(tmp_path, capsys):
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\nx: " + "[" * 3000 + "]" * 3000 + "\n")
    assert "nest" in refused(["scenario", "show", str(deep)], capsys)  # the loader names it, or cli/main.py


def test_every_persona_named_is_checked_even_beside_all(capsys):
    assert "--persona nobody: no such persona" in refused(["walkthrough", "--persona", "all", "--persona", "nobody"],
                                                          capsys)


def test_a_stepwise_walkthrough_goes_on_when_stdin_ends():
    from rich.console import Console

    from rehearse.cli.walkthrough_cmd import _Narrator

    class Closed(Console):
        def input(self, *_args, **_kwargs):
            raise EOFError

    narrator = _Narrator(Closed(), load_scenario(), stepwise=True)
    narrator.pause()  # stdin ended: no traceback, and no more waiting
    assert narrator.stepwise is False
