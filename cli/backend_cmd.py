"""`rehearse backend`: the reference campaign backend, on 127.0.0.1."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import click
from rich.console import Console

from rehearse.cli.options import DRY_RUN, SCENARIO_ARGUMENT, SEED, SPEED_MAX, FiniteFloat, InPath, Override
from rehearse.reference_backend.app import Backend
from rehearse.reference_backend.clock import RunningClock
from rehearse.reference_backend.faults import FAULTS, check_faults
from rehearse.reference_backend.ready import Ready
from rehearse.reference_backend.server import LOOPBACK, bind_loopback, serve
from rehearse.reference_backend.store import make_folder
from rehearse.scenarios import Scenario, UsageError, load_scenario
from rehearse.scenarios.units import parse_duration

FAULT_HELP = "\n".join(f"  {name}: {doc}" for name, doc in FAULTS.items())


def campaign_time(value: str, scenario: Scenario) -> float:
    """Campaign seconds from --at: launch, preheat, end, a traffic window's name (its start),
    any of those plus an offset (launch+2h), or an offset from launch (-2d, 3h)."""
    phases = scenario.campaign.phases
    named = {"launch": 0.0, "preheat": -phases.preheat_s, "end": phases.live_s,
             **{name: window.start for name, window in scenario.traffic.windows.items()}}
    text = value.strip()
    if text.startswith("preheat") and "preheat" not in scenario.traffic.windows and not phases.has_preheat:
        raise UsageError(f"--at {value}: the campaign has no preheat (campaign.phases.preheat_start is left "
                         "out); use launch, end, a traffic window or an offset from launch")
    for name in sorted(named, key=len, reverse=True):  # preheat_day before preheat
        base = named[name]
        if text.startswith(name):
            rest = text[len(name):]
            try:
                return base + (parse_duration(rest) if rest else 0.0)
            except ValueError:
                break
    try:
        return parse_duration(text)
    except ValueError:
        raise UsageError(f"--at {value}: expected launch, preheat, end, a traffic window "
                         f"({', '.join(scenario.traffic.windows)}), an offset such as launch+2h or "
                         "preheat+1d, or seconds from launch such as -2d") from None


def _check_db_path(db_path: Path) -> None:
    """--db must be a file path whose folders can exist: refused at once with the flag named."""
    if db_path.is_dir():
        raise UsageError(f"--db {db_path}: a folder; give a file path such as .rehearse/campaign.sqlite3")
    for parent in db_path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--db {db_path}: {parent} is a file, so it cannot hold the database; "
                                 "choose another path")
            break


def _held_campaign(db_path: Path) -> str | None:
    """The campaign an existing database holds (None: no file, or no campaign in it yet), read
    without writing a byte (SQLite's immutable mode); a file that is no database is refused."""
    if not db_path.is_file():
        return None
    from urllib.parse import quote

    try:
        db = sqlite3.connect(f"file:{quote(str(db_path.resolve()))}?immutable=1", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'scenario'").fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise UsageError(f"--db {db_path}: not a database the reference backend can use ({exc}); "
                         "point --db at another file (it is created if absent)") from None
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"--db {db_path}: not a database the reference backend can use ({exc}); "
                         "point --db at another file (it is created if absent)") from None
    return row[0] if row else None


def default_db(scenario: Scenario) -> Path:
    return Path(".rehearse") / f"{scenario.name}.sqlite3"


@click.command(epilog="\b\nFaults:\n" + FAULT_HELP)
@SCENARIO_ARGUMENT
@click.option("--port", type=click.IntRange(0, 65535), default=8700, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--db", "db_path", type=InPath(dir_okay=False, example=".rehearse/campaign.sqlite3"),
              help="SQLite file holding the campaign state (kept across restarts). "
                   "[default: .rehearse/SCENARIO_NAME.sqlite3]")
@click.option("--reset", is_flag=True, help="Delete the database first: start the campaign afresh.")
@click.option("--fault", "faults", multiple=True, metavar="NAME",
              help="Plant a launch defect (repeatable); see the list below.")
@click.option("--at", "at", default="launch", show_default=True,
              help="Campaign time at start: launch, preheat, end, launch+2h, preheat+1d, -3d ...")
@click.option("--speed", type=FiniteFloat(min=0, min_open=True, max=SPEED_MAX), default=1.0, show_default=True,
              help="Campaign seconds per wall-clock second.")
@click.option("--seed", type=SEED, help="Seed for envelope amounts and draws [default: the scenario's].")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", type=Override(),
              help="Override a scenario value (repeatable), e.g. --set budget.grand_round_fen=500000.")
@click.option("--ready-file", type=InPath(dir_okay=False, example="private/backend.ready.json"),
              help="Once listening, write the URL, ops token and 2FA secret there as JSON (owner only), "
                   "for a program that started the backend; removed when it stops.")
@DRY_RUN
def backend(scenario_path: Path | None, port: int, db_path: Path | None, reset: bool,
            faults: tuple[str, ...], at: str, speed: float, seed: int | None,
            overrides: tuple[str, ...], ready_file: Path | None, dry_run: bool) -> None:
    """Serve the reference campaign backend for SCENARIO (default: the bundled one).

    A real, small implementation of the campaign: phone login with anti-fraud, tasks,
    envelopes paid from per-institution budgets, the grand draw, invites, share links over a
    domain pool with failover, a fund-loss monitor, rate limits and a per-channel funnel.
    It listens on 127.0.0.1 only. Operations (/ops/...) need the token it prints at start;
    top-ups also need a one-time code from an authenticator holding the printed secret.
    Stop it with Ctrl-C. --dry-run checks the options and the database and serves nothing.
    """
    scenario = load_scenario(scenario_path, overrides)
    planted = check_faults(faults)
    start_t = campaign_time(at, scenario)
    db_path = db_path or default_db(scenario)
    if dry_run:
        _check_db_path(db_path)
        held = None if reset else _held_campaign(db_path)
        if held is not None and held != scenario.name:
            raise UsageError(f"--db {db_path}: holds campaign {held!r}, not {scenario.name!r}; "
                             "use --reset or another --db")
        click.echo("dry run: every input checked; nothing was started, sent or written")
        click.echo(f"reference backend for {scenario.name} on http://{LOOPBACK}:{port or 'a free port'} "
                   f"(phase {scenario.campaign.phases.phase_at(start_t)}, t={start_t:+g} s, speed x{speed:g})")
        state = ("deleted first (--reset)" if reset else "kept") if db_path.exists() else "created"
        click.echo(f"database {db_path} ({state})")
        click.echo(f"faults {', '.join(sorted(planted)) or 'none (healthy)'}")
        return
    if reset and db_path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
    _check_db_path(db_path)
    make_folder(db_path.parent, ours=db_path == default_db(scenario))  # 0700: the file holds the secrets
    sock = bind_loopback(port)
    try:
        app_backend = Backend(scenario, db_path, planted, clock=RunningClock(start_t, speed), seed=seed)
    except sqlite3.DatabaseError as exc:
        sock.close()
        raise UsageError(f"--db {db_path}: not a database the reference backend can use ({exc}); "
                         "point --db at another file (it is created if absent)") from None
    held = app_backend.store.meta("scenario")
    if held != scenario.name:
        raise UsageError(f"--db {db_path}: holds campaign {held!r}, not {scenario.name!r}; "
                         "use --reset or another --db")
    # the ready file before the banner: whoever waits for either finds both
    ready = None
    if ready_file is not None:
        ready = Ready(url=f"http://{LOOPBACK}:{sock.getsockname()[1]}", ops_token=app_backend.ops_token,
                      otp_secret=app_backend.otp_secret, pid=os.getpid())
        try:
            ready.write(ready_file)
        except OSError as exc:
            sock.close()
            raise UsageError(f"--ready-file {ready_file}: cannot be written ({exc.strerror}); "
                             "point it into a folder you own") from None
    try:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        console.print(f"[bold]reference backend[/] for {scenario.name} on http://{LOOPBACK}:"
                      f"{sock.getsockname()[1]}  (phase {app_backend.service.phase()}, "
                      f"t={start_t:+g} s, speed x{speed:g})")
        console.print(f"  database   {db_path}")
        console.print(f"  faults     {', '.join(sorted(planted)) or 'none (healthy)'}")
        console.print(f"  ops token  {app_backend.ops_token}   (header X-Ops-Token)")
        console.print(f"  2FA secret {app_backend.otp_secret}   (TOTP, for /ops/topup)")
        console.print("  Ctrl-C to stop")
        serve(app_backend, sock)
    finally:
        if ready is not None and ready_file is not None:
            ready.remove(ready_file)
