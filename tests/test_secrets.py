"""Secrets and personal data: no phone number in full outside a run's private/ folder (target
check's output, the walkthrough's narration and Markdown), and the reference backend's database,
which holds the ops token, the TOTP secret and every phone number, the owner's only."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from stub_backend import Books, serving

from rehearse.cli.main import main
from rehearse.personas.identity import IdentityFactory, PhoneMask, masked_phone
from rehearse.personas.steps import Act, Outcome
from rehearse.scenarios.rules import ParticipantRules
from rehearse.client.contract import RequestSpec
from rehearse.walkthrough.engine import Copy, Participant, StepReport
from rehearse.walkthrough.markdown import Played, render
from rehearse.walkthrough.narrate import line
from rehearse.walkthrough.target_check import Exchange, MappingCheck

WHOLE_NUMBER = re.compile(r"(?<!\d)1\d{10}(?!\d)")
"""Any 11-digit number starting with 1 (the scenario's own phone rule): a mobile, virtual or not."""
VIRTUAL = "100"  # a virtual segment no mainland mobile shape covers: masked by value only
HOTLINE = "+86 139 1234 5678"  # no participant's number: masked by shape only


def target_check(capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "400")  # no line folded inside a number
    with pytest.raises(SystemExit):
        main(["target", "check", *args])
    return capsys.readouterr().out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- phone numbers -----------------------------------------------------------------------------


def test_a_phone_number_is_masked_by_value_and_by_shape():
    phones = PhoneMask([VIRTUAL + "12345678"])
    assert phones(f'{{"phone": "{VIRTUAL}12345678", "hotline": "{HOTLINE}"}}') == \
        '{"phone": "100****5678", "hotline": "+86 139****5678"}'
    assert phones("8613812345678, 0086-138-1234-5678, 13812345678") == \
        "86138****5678, 0086-138****5678, 138****5678"
    assert phones("t=1733123456789 fen=12345678901 id=2013812345678") == \
        "t=1733123456789 fen=12345678901 id=2013812345678"  # longer runs and no mobile prefix: kept
    assert masked_phone("13812345678") == "138****5678"


@pytest.mark.xdist_group("live")
def test_target_check_prints_no_phone_number_in_full(capsys, monkeypatch):
    """In a request's body (the participants' own numbers, a virtual one the shape cannot see),
    its query (a number no participant has) and its headers."""
    out = target_check(capsys, monkeypatch,
                       "--set", f"antifraud.virtual_segments=['{VIRTUAL}']",
                       "--set", f'target.actions.open_page.query={{channel_id: "{{user.channel}}", hotline: "{HOTLINE}"}}',
                       "--set", 'target.actions.view_rules={method: GET, path: /api/rules, headers: {X-Caller: "{user.phone}"}}')
    assert WHOLE_NUMBER.findall(out) == [] and "1234 5678" not in out
    assert '"phone": "100****' in out and "+86 139****5678" in out and '"X-Caller": "1' in out
    assert '"Authorization": "***"' in out and '"token": "***"' in out  # secrets stay masked


@pytest.mark.xdist_group("live")
def test_target_check_masks_a_number_the_backend_echoes(capsys, monkeypatch):
    """The stub backend answers a login with the phone as the user id."""
    with serving(Books()) as url:
        out = target_check(capsys, monkeypatch, "--host", url, "--ops-token", "unused")
    assert WHOLE_NUMBER.findall(out) == []
    assert '"user_id": "1' in out and "****" in out


def exchange(body: dict, phone: str, error: str | None = None) -> Exchange:
    act = Act("login")
    outcome = Outcome(error is None, 200 if error is None else 403, 1.0, error is not None, 0, {}, error)
    spec = RequestSpec("login", "POST", f"/api/users/{phone}", json={"mobile": phone})
    return Exchange(act, spec, outcome.status, json.dumps(body).encode(), {}, 1.0, outcome, {}, phone)


def test_target_check_masks_every_text_it_shows(scenario):
    """Path, body, an answer echoing the number (or another one), a refusal's reason, warnings."""
    printed: list[str] = []
    check = MappingCheck(scenario, on_exchange=lambda shown: printed.extend(
        [shown.request, shown.headers, shown.answer, shown.judged, shown.learned]))
    virtual = VIRTUAL + "87654321"
    check.observe(exchange({"user": {"mobile": virtual}, "friend": HOTLINE}, virtual))
    check.observe(exchange({"msg": f"{virtual} is blocked"}, virtual, error=f"{virtual} is blocked"))
    text = "\n".join(printed + check.warnings())
    assert "100****4321" in text and "+86 139****5678" in text
    assert WHOLE_NUMBER.findall(text) == [] and virtual not in text


def test_the_walkthrough_tells_no_phone_number_in_full(scenario):
    """Narrated lines and the Markdown: a refusal's reason or a share link carrying a number."""
    user = IdentityFactory(scenario, 1).new("normal")
    who = Participant("Normal participant", user, 1, rules=ParticipantRules(scenario, user.phone))
    refused = Copy(ok=False, refused=True, status=403, error=f"{user.phone} is blacklisted")
    visit = Act("visit_link", url="https://hb1.example/s/c1?from=+8613912345678")
    reports = [StepReport(1.0, who, Act("login"), (refused,), 1, None, None),
               StepReport(2.0, who, visit, (Copy(ok=True, refused=False, status=200),), 1, None, None)]
    told = [" ".join([x.did, x.answered, x.judged]) for x in (line(r, scenario) for r in reports)]
    document = render(scenario, [Played("Normal participant", reports)], [f"Header {HOTLINE}"])
    for text in (*told, document):
        assert WHOLE_NUMBER.findall(text) == [] and user.phone not in text
    assert masked_phone(user.phone) in told[0] and "+86139****5678" in told[1]


# --- the reference backend's database -------------------------------------------------------------


@contextmanager
def backend_started(cwd: Path, *args: str) -> Iterator[None]:
    """`rehearse backend` (umask 022: the default that made 0644 files) for the block, from the
    moment its banner is out: the database opened, its secrets written."""
    proc = subprocess.Popen([sys.executable, "-m", "rehearse", "backend", "--port", "0", *args],
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200"},
                            preexec_fn=lambda: os.umask(0o022))
    try:
        banner = []
        for text in proc.stderr:
            banner.append(text)
            if "Ctrl-C to stop" in text:
                break
        assert "ops token" in "".join(banner), "".join(banner)
        # the rest of its stderr read as it comes: a pipe nobody reads would block the backend
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # seen once under the full suite's load: not what is tested here
            proc.kill()
            proc.wait(timeout=30)


def test_the_backend_database_and_the_folders_it_makes_are_the_owners_only(tmp_path):
    os.chmod(tmp_path, 0o755)
    db = tmp_path / "state" / "campaign" / "b.sqlite3"
    with backend_started(tmp_path, "--db", str(db)):
        sides = [p for p in (Path(str(db) + "-wal"), Path(str(db) + "-shm")) if p.exists()]
        assert mode(db) == 0o600 and sides and [mode(p) for p in sides] == [0o600] * len(sides)
        assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
        assert mode(tmp_path) == 0o755  # a folder that was there is not the backend's to change


def test_the_ready_file_says_where_the_backend_listens_is_the_owners_only_and_goes_when_it_stops(tmp_path):
    import httpx

    from rehearse.reference_backend.ready import Ready

    ready = tmp_path / "backend.ready.json"
    with backend_started(tmp_path, "--db", str(tmp_path / "b.sqlite3"), "--ready-file", str(ready)):
        written = Ready.read(ready)
        assert written is not None and mode(ready) == 0o600
        answer = httpx.get(f"{written.url}/ops/stats", headers={"X-Ops-Token": written.ops_token}, timeout=10)
        assert answer.status_code == 200, answer.text  # the token in the file operates the backend
        assert httpx.get(f"{written.url}/ops/stats", timeout=10).status_code == 401
    assert not ready.exists()


def test_a_backend_stopping_leaves_a_newer_backends_ready_file_alone(tmp_path):
    from rehearse.reference_backend.ready import Ready

    older, newer = (Ready(url=f"http://127.0.0.1:{port}", ops_token="t", otp_secret="s", pid=pid)
                    for port, pid in ((8700, 1), (8701, 2)))
    path = tmp_path / "backend.ready.json"
    newer.write(path)
    older.remove(path)
    assert Ready.read(path) == newer and mode(path) == 0o600
    newer.remove(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no scratch file left either


def test_a_ready_file_that_cannot_be_written_is_refused_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rehearse", "backend", "--port", "0", "--db",
                           str(tmp_path / "b.sqlite3"), "--ready-file", str(tmp_path / "absent" / "r.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--ready-file" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_an_existing_database_and_its_default_folder_are_tightened_when_the_backend_opens_them(tmp_path):
    from rehearse.reference_backend.app import Backend
    from rehearse.scenarios import load_scenario

    folder = tmp_path / ".rehearse"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    db = folder / "year_end_red_envelope.sqlite3"
    Backend(load_scenario(), db).store.close()
    for path in (db, *folder.glob("*-wal"), *folder.glob("*-shm")):
        os.chmod(path, 0o644)  # as an earlier version left them
    with backend_started(tmp_path):  # the default --db
        assert mode(folder) == 0o700
        assert {p.name: mode(p) for p in folder.iterdir()} == {p.name: 0o600 for p in folder.iterdir()}


def test_a_backend_opening_a_world_readable_database_tightens_it_and_its_side_files(tmp_path, scenario):
    from rehearse.reference_backend.app import Backend

    db = tmp_path / "b.sqlite3"
    first = Backend(scenario, db)
    first.store.set_meta("probe", "x")  # the -wal and -shm exist
    for path in tmp_path.iterdir():
        os.chmod(path, 0o644)
    second = Backend(scenario, db)
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {p.name: 0o600 for p in tmp_path.iterdir()}
    assert second.ops_token == first.ops_token  # the token survives the reopen, as before
    first.store.close()
    second.store.close()
