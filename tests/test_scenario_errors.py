"""Bad scenario input: one line naming the file, line, field path and what is expected; exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearse.cli.main import main
from rehearse.scenarios import default_scenario_path

BUNDLED = default_scenario_path().read_text(encoding="utf-8")


def _edit(old: str, new: str) -> str:
    assert BUNDLED.count(old) == 1, f"the bundled scenario no longer has exactly one {old!r}"
    return BUNDLED.replace(old, new)


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def _validate(tmp_path: Path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "validate", str(path)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1, f"expected one line, got: {err!r}"
    assert err.startswith(f"rehearse: error: {path}")
    return exited.value.code, err.strip()


CASES = {
    "yaml does not parse": (
        ("  title: Year-end red-envelope collection game", "  title: [unclosed"),
        "bad.yaml:12:9:", "YAML does not parse"),
    "unknown field": (
        ("  invite_fen: 10000000", "  invite_fen: 10000000\n  bonus_fen: 5"),
        "budget.bonus_fen", "unknown field"),
    "wrong type": (
        ("  participants_total: 900000", "  participants_total: lots"),
        "traffic.participants_total", "valid integer"),
    "missing value": (
        ("  grand_round_fen: 90000000                     # 900,000 yuan\n", ""),
        "budget.grand_round_fen", "missing value"),
    "launch after end": (
        ("    end: 2026-12-31T10:00:00+08:00", "    end: 2026-12-19T10:00:00+08:00"),
        "campaign.phases", "must be before end"),
    "negative budget": (
        ("    anhe: 130000000                             # 1.3 million yuan", "    anhe: -5"),
        "budget.institutions_fen.anhe", "greater than or equal to 0 (got -5)"),
    "persona mix does not add up": (
        ("fraud_script: 0.08,", "fraud_script: 0.5,"),
        "personas.mix", "must add up to 1, they add up to 1.42"),
    "budget for an unknown institution": (
        ("    hengyuan: 45000000", "    hengyuan: 45000000\n    zhongtai: 1"),
        "(top level)", "remove zhongtai (no such institution)"),
    "impossible day-one share": (
        ("  participants_first_24h: 400000", "  participants_first_24h: 100000"),
        "traffic.curve: ", "no launch spike and tail fit 11% of participants on day one"),
    "bad template in the target contract": (
        ('      path: /api/share', '      path: "/api/{secret.key}/share"'),
        "target.actions.share", "refers to {secret.key}; a template may use only"),
    "prizes that cannot fall back": (
        ("amount_fen: 88, probability: 0.7895, count: null", "amount_fen: 88, probability: 0.7895, count: 5"),
        "campaign.grand_round", "the last prize must have count: null"),
    "unknown envelope kind": (
        ("&small_envelope {kind: uniform,", "&small_envelope {kind: gaussian,"),
        "campaign.institutions.0.envelope", "expected kind: uniform or weighted"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_scenario_gives_one_line_and_exit_2(case, tmp_path, capsys):
    (old, new), field, expected = CASES[case]
    code, line = _validate(tmp_path, _edit(old, new), capsys)
    assert code == 2
    assert field in line
    assert expected in line


def test_error_names_the_line_of_the_bad_value(tmp_path, capsys):
    text = _edit("    anhe: 130000000                             # 1.3 million yuan", "    anhe: -5")
    _, line = _validate(tmp_path, text, capsys)
    assert f"bad.yaml:{_line_of(text, 'anhe: -5')}: " in line


def test_missing_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "validate", str(tmp_path / "nope.yaml")])
    assert exited.value.code == 2
    assert "no such scenario file" in capsys.readouterr().err


def test_a_list_instead_of_a_mapping(tmp_path, capsys):
    code, line = _validate(tmp_path, "- just\n- a list\n", capsys)
    assert code == 2 and "a scenario is a YAML mapping" in line
