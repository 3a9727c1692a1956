"""Scenario input bounded at the edge: hostile or mistaken YAML, templates, paths, headers,
adapters and cross-references each get one line (file, line, field, value, fix) and exit 2,
never a traceback, a hang or a silent acceptance."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from rehearse.cli.main import main
from rehearse.scenarios import ScenarioError, default_scenario_path, load_scenario, parse_scenario
from rehearse.scenarios.loader import MAX_DEPTH, MAX_NODES, MAX_SCENARIO_BYTES

BUNDLED = default_scenario_path().read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    assert BUNDLED.count(old) == 1, f"the bundled scenario no longer has exactly one {old!r}"
    return BUNDLED.replace(old, new)


def refused(tmp_path: Path, text: str, capsys) -> str:
    """Validate text as a file: exit 2, one line on stderr naming the file, no traceback. The line."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "validate", str(path)])
    captured = capsys.readouterr()
    assert exited.value.code == 2, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"rehearse: error: {path}"), captured.err
    return captured.err.strip()


def laughs(levels: int = 9, indent: str = "") -> str:
    """A "billion laughs": each level a list of ten aliases of the one above (10**levels values)."""
    lines = [f"{indent}lol0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{indent}lol{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# --- the YAML itself: size, depth, aliases, tags, keys ---------------------------------------

YAML_CASES = {
    "5,000-deep flow nest": ("a: " + "[" * 5000 + "]" * 5000, f"nests deeper than {MAX_DEPTH} levels"),
    "deep block nest": ("".join(" " * n + "a:\n" for n in range(200)) + " " * 200 + "x\n",
                        f"nests deeper than {MAX_DEPTH} levels"),
    "deep list nest": ("a:\n" + "".join("  " * n + "- \n" for n in range(100)), "nests deeper than"),
    "an alias inside its own anchor": ("a: &x [1, *x]\n", "the alias *x is inside its own anchor &x"),
    "a mapping inside its own anchor": ("a: &x {b: *x}\n", "the alias *x is inside its own anchor &x"),
    "a list as a key": ("? [a, b]\n: c\n", "a list is used as a key"),
    "a mapping as a key": ("{a: 1}: 2\n", "a mapping is used as a key"),
    "a python tag": ("name: !!python/object/apply:os.system [echo]\n", "the tag !!python/object/apply:os.system"),
    "a binary tag": ("name: !!binary aGVsbG8=\n", "the tag !!binary is not used in scenarios"),
    "a set tag": ("name: !!set {a, b}\n", "the tag !!set"),
    "a custom tag": ("name: !secret key\n", "the tag !secret"),
    "two documents": ("name: a\n---\nname: b\n", "expected a single document"),
    "a NUL byte": ("name: a\nb: \x00\n", ":2: YAML does not parse"),
    "a merge of a list": ("a: &x [1]\nc: {<<: *x}\n", "a merge key `<<:` takes a mapping"),
    "an int tag on a word": ("seed: !!int many\n", "'many' cannot be read"),
}


@pytest.mark.parametrize("case", YAML_CASES, ids=list(YAML_CASES))
def test_hostile_yaml_is_one_line(case, tmp_path, capsys):
    text, named = YAML_CASES[case]
    assert named in refused(tmp_path, text, capsys)


def test_a_billion_laughs_under_an_unknown_key_is_refused_in_well_under_a_second(tmp_path, capsys):
    text = BUNDLED + "\nbonus:\n" + laughs(indent="  ")
    assert len(laughs()) < 1100  # about 1 KB of YAML, 10**9 values expanded
    started = time.process_time()
    line = refused(tmp_path, text, capsys)
    assert time.process_time() - started < 0.5
    assert f"over {MAX_NODES:,} values with its aliases expanded" in line


def test_aliases_as_the_bundled_scenario_uses_them_are_fine():
    text = BUNDLED + "\n" + "\n".join(f"x{n}: &x{n} [1, 2]" for n in range(3))
    with pytest.raises(ScenarioError, match=r"x0: unknown field"):  # read, then refused as a field, not as YAML
        parse_scenario(text)


def test_a_scenario_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, capsys):
    line = refused(tmp_path, "name: a\ndescription: " + "x" * MAX_SCENARIO_BYTES + "\n", capsys)
    assert f"over {MAX_SCENARIO_BYTES:,} bytes" in line
    with pytest.raises(ScenarioError, match="over 1,048,576 bytes"):
        parse_scenario("#" * (MAX_SCENARIO_BYTES + 1))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="a pipe, not a file"):
        load_scenario(fifo)


def test_an_override_value_is_bounded_like_the_file():
    started = time.process_time()
    with pytest.raises(ScenarioError, match=r"--set 'description=.*over 100,000 values"):
        load_scenario(overrides=["description={" + laughs().replace("\n", ", ").rstrip(", ") + "}"])
    assert time.process_time() - started < 0.5
    with pytest.raises(ScenarioError, match="nests deeper than"):
        load_scenario(overrides=["description=" + "[" * 100 + "]" * 100])
    with pytest.raises(ScenarioError, match="the tag !!python/name:os.system"):
        load_scenario(overrides=["description=!!python/name:os.system ''"])


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
def test_a_scenario_is_composed_once_by_libyaml(monkeypatch):
    """The pure-Python scanner and composer are ~15x slower: a valid scenario never meets them."""
    def slow(*_args, **_kwargs):
        raise AssertionError("the pure-Python YAML scanner or composer ran")

    monkeypatch.setattr(yaml.scanner.Scanner, "check_token", slow)
    monkeypatch.setattr(yaml.composer.Composer, "compose_node", slow)
    monkeypatch.setattr(yaml, "compose", slow)
    scenario = load_scenario(overrides=["personas.mix.fraud_script=0.2", "personas.mix.normal=0.5"])
    assert scenario.personas.mix.fraud_script == 0.2


def test_errors_keep_their_lines_after_the_single_composition(tmp_path, capsys):
    text = edited("    chunhui: 95000000", "    chunhui: -1")
    line_no = next(n for n, line in enumerate(text.splitlines(), 1) if "chunhui: -1" in line)
    assert f"bad.yaml:{line_no}: budget.institutions_fen.chunhui:" in refused(tmp_path, text, capsys)
    text = edited("  invite_fen: 10000000", "  invite_fen: 10000000\n  invite_fen: 5")
    line_no = next(n for n, line in enumerate(text.splitlines(), 1) if "invite_fen: 5" in line)
    assert f"bad.yaml:{line_no}: invite_fen: given twice" in refused(tmp_path, text, capsys)


def test_bytes_that_are_not_utf8_in_an_override_are_one_line():
    """A non-UTF-8 argv reaches Python as lone surrogates, which no YAML parser can encode."""
    with pytest.raises(ScenarioError, match=r"--set 'name=\\udcff':1: the text holds '\\udcff'"):
        load_scenario(overrides=["name=\udcff"])
