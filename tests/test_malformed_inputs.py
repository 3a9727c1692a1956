"""Malformed input to every command: exit 2, one line on stderr naming the file, field or flag,
and never a traceback. In-process (`main([...])`): each case is refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearse.cli.main import main
from rehearse.observations import REQUESTS, RunInfo, RunWriter
from rehearse.scenarios import default_scenario_path, load_scenario

BUNDLED = default_scenario_path().read_text(encoding="utf-8")
REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


def edited(old: str, new: str) -> str:
    assert BUNDLED.count(old) == 1, f"the bundled scenario no longer has exactly one {old!r}"
    return BUNDLED.replace(old, new)


# A scenario file's text (or bytes), then the word the error must name.
SCENARIOS = {
    "duplicated top-level key": (BUNDLED + "\nname: again\n", "name: given twice"),
    "duplicated nested key": (edited("  invite_fen: 10000000", "  invite_fen: 10000000\n  invite_fen: 5"),
                              "invite_fen: given twice"),
    "impossible date": (edited("    end: 2026-12-31T10:00:00+08:00", "    end: 2026-13-45T10:00:00+08:00"),
                        "2026-13-45"),
    "missing name": (edited("name: year_end_red_envelope", ""), "name: missing value"),
    "empty name": (edited("name: year_end_red_envelope", "name: ''"), "name:"),
    "huge participant count": (edited("  participants_total: 900000", "  participants_total: 900000000000"),
                               "traffic.participants_total"),
    "infinite participant count": (edited("  participants_total: 900000", "  participants_total: .inf"),
                                   "traffic.participants_total"),
    "nan share": (edited("fraud_script: 0.08,", "fraud_script: .nan,"), "personas.mix"),
    "money beyond int64": (edited("  grand_round_fen: 90000000 ", "  grand_round_fen: 900000000000000000000 "),
                           "budget.grand_round_fen"),
    "endless half-life": (edited("    tail_half_life: 2.5d", "    tail_half_life: 99999999999d"),
                          "traffic.curve.tail_half_life"),
    "campaign over centuries": (edited("    end: 2026-12-31T10:00:00+08:00", "    end: 2926-12-31T10:00:00+08:00"),
                                "campaign.phases"),
    "negative seed": (edited("seed: 20261220", "seed: -5"), "seed"),
    "absurd shares per sharer": (edited("    shares_mean: 3", "    shares_mean: 1000000000"),
                                 "personas.sharer.shares_mean"),
    "absurd fraud wave": (edited("multiplier: 5,", "multiplier: 1000000,"), "multiplier"),
    "misspelt user field": (edited('        phone: "{user.phone}"', '        phone: "{user.nosuch}"'),
                            "user.nosuch"),
    "misspelt session key": (edited('    X-Sign: "{session.sign}"', '    X-Sign: "{session.sigh}"'),
                             "session.sigh"),
    "misspelt link field": (edited('      path: "{link.path}"', '      path: "{link.pth}"'), "link.pth"),
    "YAML jargon explained": ("name: a\n  foo: b: c\n", "quote the value"),
    "tabs": ("name: a\nbudget:\n\tx: 1\n", "spaces, not tabs"),
    "empty file": ("", "a scenario is a YAML mapping"),
    "a list": ("- a\n- b\n", "a scenario is a YAML mapping"),
    "not text": (b"\xff\xfe\x00binary", "not a text file"),
}


def run_dir(tmp_path: Path, damage: str) -> Path:
    """A small run folder of the bundled scenario with its requests file damaged."""
    folder = tmp_path / "run"
    info = RunInfo.start(load_scenario(), engine="swarm", seed=1)
    with RunWriter(folder, info) as out:
        out.request(t=1.0, engine="swarm", persona="normal", user_id="u1", action="open_page", channel="c",
                    domain="", status=200, ok=True, refused=False, latency_ms=3.0, payout_fen=0, error="",
                    prize="", attempt="u1#1")
    from rehearse.observations import consolidate

    consolidate(folder)
    table = folder / "requests.parquet"
    assert table.exists() and REQUESTS.name == "requests"
    if damage == "empty":
        table.write_bytes(b"")
    elif damage == "truncated":
        table.write_bytes(table.read_bytes()[: len(table.read_bytes()) // 2])
    elif damage == "run.json":
        (folder / "run.json").write_text("{not json")
    return folder


def tmp(tmp_path: Path) -> dict[str, str]:
    """Paths the cases refer to: a file where a folder is wanted, a name too long, a non-database."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    not_db = tmp_path / "notes.sqlite3"
    not_db.write_text("not a database")
    return {"FILE": str(a_file), "LONG": str(tmp_path / ("x" * 300)), "NOTDB": str(not_db),
            "OUT": str(tmp_path / "out"), "DIR": str(tmp_path)}


# argv (with FILE, LONG, NOTDB, OUT replaced), then the word the error must name.
COMMANDS = {
    "simulate negative seed": ("simulate --seed -5", "--seed"),
    "simulate no replicas": ("simulate --replicas 0", "--replicas"),
    "simulate too many replicas": ("simulate --replicas 100000", "--replicas"),
    "simulate no jobs": ("simulate --jobs 0", "--jobs"),
    "simulate out under a file": ("simulate --out FILE/x", "--out"),
    "simulate out name too long": ("simulate --out LONG", "--out"),
    "simulate huge override": ("simulate --set traffic.participants_total=10000000000000000000", "participants_total"),
    "simulate nan override": ("simulate --set personas.mix.normal=.nan", "personas.mix"),
    "simulate scenario name too long": ("simulate LONG", "cannot read the scenario"),
    "swarm compress nan": ("swarm --compress nan", "--compress"),
    "swarm compress inf": ("swarm --compress inf", "--compress"),
    "swarm compress zero": ("swarm --compress 0", "--compress"),
    "swarm compress negative": ("swarm --compress -1", "--compress"),
    "swarm compress too slow": ("swarm --compress 0.00001", "--compress"),
    "swarm no users": ("swarm --users 0", "--users"),
    "swarm absurd users": ("swarm --users 99999999999999999999", "--users"),
    "swarm users not a number": ("swarm --users many", "--users"),
    "swarm endless duration": ("swarm --duration 99999999999999999999999s", "--duration"),
    "swarm zero duration": ("swarm --duration 0s", "--duration"),
    "swarm duration not a duration": ("swarm --duration soon", "--duration"),
    "swarm empty window": ("swarm --window=", "--window"),
    "swarm unknown window": ("swarm --window nope", "--window"),
    "swarm unclosed IPv6 host": ("swarm --host http://[::1", "--host"),
    "swarm port out of range": ("swarm --host http://127.0.0.1:99999", "--host"),
    "swarm port zero": ("swarm --host http://127.0.0.1:0", "--host"),
    "swarm not http": ("swarm --host ftp://127.0.0.1", "--host"),
    "swarm nothing listening": (f"swarm --host {REFUSED}", "nothing answers"),
    "swarm remote host": ("swarm --host http://192.0.2.10:8700", "not a loopback address"),
    "swarm scale zero": ("swarm --scale 1:0", "--scale"),
    "swarm scale too fine": ("swarm --scale 1:0.0001", "--scale"),
    "swarm scale not a ratio": ("swarm --scale lots", "--scale"),
    "swarm negative workers": ("swarm --workers -1", "--workers"),
    "swarm absurd workers": ("swarm --workers 1000", "--workers"),
    "swarm negative seed": ("swarm --seed -1", "--seed"),
    "swarm out under a file": ("swarm --out FILE/run", "--out"),
    "swarm unknown fault": ("swarm --fault slow-everything", "--fault"),
    "swarm fault with host": ("swarm --fault overspend --host http://127.0.0.1:8700", "--fault"),
    "backend speed inf": ("backend --speed inf", "--speed"),
    "backend speed nan": ("backend --speed nan", "--speed"),
    "backend speed zero": ("backend --speed 0", "--speed"),
    "backend db not a database": ("backend --port 0 --db NOTDB", "--db"),
    "backend db under a file": ("backend --port 0 --db FILE/b.sqlite3", "--db"),
    "backend db is a folder": ("backend --port 0 --db DIR", "--db"),
    "backend port out of range": ("backend --port 70000", "--port"),
    "backend time far away": ("backend --at 99999999999d", "--at"),
    "backend negative seed": ("backend --seed -5", "--seed"),
    "walkthrough unknown persona": ("walkthrough --persona nobody", "--persona"),
    "walkthrough bad time": ("walkthrough --at never", "--at"),
    "walkthrough negative seed": ("walkthrough --seed -1", "--seed"),
    "walkthrough nothing listening": (f"walkthrough --host {REFUSED} --out OUT", "nothing answers"),
    "walkthrough out under a file": ("walkthrough --out FILE/w", "--out"),
    "drill unknown drill": ("drill --drill nosuch", "nosuch"),
    "drill duration without live": ("drill --drill ban_wave --duration 10s", "--duration"),
    "drill zero duration": ("drill --drill ban_wave --live --duration 0s", "--duration"),
    "drill negative seed": ("drill --seed -1", "--seed"),
    "run endless duration": ("run --swarm-duration 99999999999999999999999s", "--swarm-duration"),
    "run no users": ("run --users 0", "--users"),
    "run bad host, before simulating": ("run --host http://[::1", "--host"),
    "run out under a file": ("run --out FILE/r", "--out"),
    "report out under a file": ("report OUT --out FILE/r", "--out"),
    "unknown command": ("rehersal", "rehersal"),
    "unknown option": ("simulate --sed 5", "--sed"),
}

RUNS = {
    "check on an empty parquet file": ("check RUN", "empty", "requests.parquet"),
    "check on a truncated parquet file": ("check RUN", "truncated", "requests.parquet"),
    "report on a truncated parquet file": ("report RUN", "truncated", "requests.parquet"),
    "check on a broken run.json": ("check RUN", "run.json", "run.json"),
}


def refused(argv: list[str], capsys) -> str:
    """Run the command; it must exit 2 with one line on stderr and no traceback. The line."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert exited.value.code == 2, (argv, exited.value.code, err, captured.out[-500:])
    assert "Traceback" not in err + captured.out, err
    assert err.count("\n") == 1 and err.startswith("rehearse: error: "), repr(err)
    return err


@pytest.mark.parametrize("case", SCENARIOS, ids=list(SCENARIOS))
def test_malformed_scenario(case, tmp_path, capsys):
    text, named = SCENARIOS[case]
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    err = refused(["scenario", "validate", str(path)], capsys)
    assert str(path) in err and named in err


@pytest.mark.parametrize("case", COMMANDS, ids=list(COMMANDS))
def test_malformed_command_line(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a case that got further than it should writes here, not in the tree
    words, named = COMMANDS[case]
    paths = tmp(tmp_path)
    argv = []
    for word in words.split(" "):
        for key, value in paths.items():
            word = word.replace(key, value)
        argv.append(word)
    err = refused(argv, capsys)
    assert named in err
    assert not any((tmp_path / "runs").glob("*")), "a refused command must not leave a run folder"


@pytest.mark.parametrize("case", RUNS, ids=list(RUNS))
def test_damaged_run_folder(case, tmp_path, capsys):
    words, damage, named = RUNS[case]
    folder = run_dir(tmp_path, damage)
    err = refused([w.replace("RUN", str(folder)) for w in words.split(" ")], capsys)
    assert str(folder) in err and named in err


def test_every_bad_file_gets_its_line(tmp_path, capsys):
    good, bad_a, bad_b = tmp_path / "good.yaml", tmp_path / "a.yaml", tmp_path / "b.yaml"
    good.write_text(BUNDLED)
    bad_a.write_text("name: a\nname: b\n")
    bad_b.write_text("- a list\n")
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "validate", str(bad_a), str(good), str(bad_b)])
    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert [line.split(":")[2].strip() for line in captured.err.splitlines()] == [str(bad_a), str(bad_b)]
    assert captured.out.startswith(f"ok: {good}:")


def test_the_table_is_broad():
    assert len(SCENARIOS) + len(COMMANDS) + len(RUNS) >= 60
