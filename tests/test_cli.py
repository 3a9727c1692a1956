"""The command line: help that explains itself, and the backend as the README starts it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rehearse.cli.main import main

COMMANDS = [[], ["scenario"], ["scenario", "validate"], ["scenario", "show"], ["backend"]]


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "rehearse")
def test_every_command_explains_itself(words, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith(f"Usage: rehearse {' '.join(words)}".rstrip())
    assert len(out.splitlines()) >= 5


def test_backend_help_lists_every_fault(capsys):
    with pytest.raises(SystemExit):
        main(["backend", "--help"])
    out = capsys.readouterr().out
    for fault in ("overspend", "double-pay", "no-failover", "no-antifraud", "slow-open", "preheat-leak"):
        assert f"{fault}:" in out


def test_scenario_show_summarises_the_bundled_campaign(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "show"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "400,000 in 24 h, 900,000 in total" in out
    assert "top prize 666.00 yuan" in out


def test_scenario_show_json_has_every_field(capsys):
    with pytest.raises(SystemExit):
        main(["scenario", "show", "--format", "json"])
    assert '"participants_total": 900000' in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["backend", "--fault", "slow-everything"], "--fault slow-everything: no such fault; choose from"),
    (["backend", "--at", "soonish"], "--at soonish: expected launch, preheat, end"),
])
def test_bad_backend_options_are_one_line_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert message in err and err.count("\n") == 1


def test_backend_command_serves_on_loopback_until_stopped(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearse", "backend", "--port", "0", "--db", str(tmp_path / "b.sqlite3"),
         "--at", "preheat+1d"],
        stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        banner = proc.stderr.readline()  # printed once the port is bound
        url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
        assert "phase preheat" in banner
        with httpx.Client(base_url=url, timeout=10, transport=httpx.HTTPTransport(retries=20)) as client:
            for _ in range(200):  # bounded: the server is bound, uvicorn may still be starting
                try:
                    health = client.get("/healthz")
                    break
                except httpx.ConnectError:
                    continue
            assert health.json() == {"ok": True, "phase": "preheat"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode in (0, -15, 130)  # 130: SIGTERM stops it as Ctrl-C does
