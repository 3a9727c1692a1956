"""Property-based fuzzing of every input edge: scenario files, --set overrides and every command's
flags. Whatever comes in, a command ends with exit 0 (or 1 where a judged run fails) or 2 with
one line on stderr, never a traceback, within a time bound; the loaders either validate or raise
their one error class.

The flags are read from the commands themselves (click's parameters), so a new flag is fuzzed
from the day it is added. Commands that would start work run with --dry-run: every input is
checked as a real run checks it, nothing is started or sent. The examples are derandomised
(the same ones on every run, so the suite never depends on luck); `REHEARSE_FUZZ=random` draws
new ones for exploring."""

from __future__ import annotations

import contextlib
import io
import math
import os
import signal
import tempfile
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehearse.cli.main import main, rehearse
from rehearse.observations import RunInfo, RunWriter, consolidate
from rehearse.scenarios import Scenario, ScenarioError, default_scenario_path, load_scenario
from rehearse.scenarios.loader import parse_scenario

ROOT = Path(__file__).parents[1]
BUNDLED = default_scenario_path().read_text(encoding="utf-8")
BUNDLED_DATA = yaml.safe_load(BUNDLED)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
EXAMPLE_BOUND_S = 20  # one example taking longer is a hang, not slowness
FUZZ = settings(deadline=None, derandomize=os.environ.get("REHEARSE_FUZZ") != "random", database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])


@contextlib.contextmanager
def bounded(seconds: int = EXAMPLE_BOUND_S) -> Iterator[None]:
    """Fail an example that runs longer than `seconds` (a hang in a parser, a loop that never ends)."""
    def hung(_signum, _frame):
        raise AssertionError(f"the example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- values a hostile or careless user gives ---------------------------------------------------

HOSTILE_TEXT = ["", " ", "\t", "x" * 5000, "é", "王", "\x00", "\x1b[31m", "a\nb", "{user.phone}", "{", "}",
                "{user.phone:d}", "{{", "0", "-1", "1e309", "nan", "inf", "-inf", "null", "~", "[]", "{}",
                "[[[[[[[[", "&a", "*a", "!!python/object:os.system", "'", '"', "\\", "../../etc/passwd",
                "http://127.0.0.1:9", "http://[::1", "ftp://127.0.0.1", "http://user:pw@127.0.0.1:9",
                "http://10.0.0.1:80", "1:100", "1:0", "0:1", "1000,2000", "1,,2", "20m", "5s", "-5s",
                "99999999999999999999d", "launch", "preheat", "launch+2h", "-2d", "launch_hour",
                "ban_wave", "normal", "all", "double-pay", "no-such-fault"]
NUMBERS: list[Any] = [0, 1, -1, 2**31, 2**63, 10**30, 0.5, -0.5, math.nan, math.inf, -math.inf, 1e-320, True]
VALUES = st.one_of(
    st.sampled_from(HOSTILE_TEXT), st.sampled_from(NUMBERS), st.none(), st.booleans(),
    st.text(max_size=30), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.sampled_from(HOSTILE_TEXT + [0, 1, None]), max_size=4),
    st.dictionaries(st.sampled_from(["a", "start", "duration", "x", ""]), st.sampled_from([0, "1h", None, "x"]),
                    max_size=3),
)


def paths_in(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of the scenario's data (mappings and list items)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            found += paths_in(value, (*prefix, n))
    return found


SCENARIO_PATHS = paths_in(BUNDLED_DATA)


def edited(data: Any, path: tuple, how: str, value: Any) -> Any:
    """A deep copy of `data` with the value at `path` replaced, deleted, or given a sibling key."""
    import copy

    data = copy.deepcopy(data)
    holder = data
    for part in path[:-1]:
        holder = holder[part]
    last = path[-1]
    if how == "delete":
        del holder[last]
    elif how == "unknown key" and isinstance(holder, dict):
        holder[f"{last}_extra"] = value
    else:
        holder[last] = value
    return data


def laughs(levels: int) -> str:
    """YAML whose aliases expand to 4**levels values (a "billion laughs" at 15 levels)."""
    lines = ["l0: &l0 [ha]"] + [f"l{k}: &l{k} [*l{k - 1}, *l{k - 1}, *l{k - 1}, *l{k - 1}]" for k in range(1, levels)]
    return "name: x\nextra:\n" + "".join(f"  {line}\n" for line in lines)


# --- the scenario loader -----------------------------------------------------------------------

def assert_one_error(load) -> None:
    """A loader validates or raises ScenarioError with one line; nothing else."""
    with bounded():
        try:
            scenario = load()
        except ScenarioError as exc:
            assert "\n" not in str(exc).strip(), str(exc)
        else:
            assert isinstance(scenario, Scenario)


@settings(FUZZ, max_examples=500)
@given(path=st.sampled_from(SCENARIO_PATHS), how=st.sampled_from(["replace", "delete", "unknown key"]),
       value=VALUES)
def test_an_edited_scenario_validates_or_says_what_to_fix_in_one_line(path, how, value):
    text = yaml.dump(edited(BUNDLED_DATA, path, how, value), Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    assert_one_error(lambda: parse_scenario(text, source="fuzzed.yaml"))


@settings(FUZZ, max_examples=300)
@given(text=st.one_of(st.text(max_size=400), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.sampled_from(HOSTILE_TEXT),
                      st.integers(0, 6000).map(lambda n: "a: " + "[" * n + "]" * n),
                      st.integers(1, 30).map(laughs)))
def test_any_text_is_a_scenario_or_one_line_saying_why_not(text):
    assert_one_error(lambda: parse_scenario(text, source="fuzzed.yaml"))


@settings(FUZZ, max_examples=500)
@given(path=st.one_of(st.sampled_from(SCENARIO_PATHS).map(lambda p: ".".join(map(str, p))),
                      st.sampled_from(HOSTILE_TEXT)),
       value=st.one_of(st.sampled_from(HOSTILE_TEXT), VALUES.map(lambda v: yaml.safe_dump(v).strip()
                                                                 .removesuffix("...").strip())),
       how=st.sampled_from(["=", "", "==", " = "]))
def test_a_set_override_validates_or_says_what_to_fix_in_one_line(path, value, how):
    assert_one_error(lambda: load_scenario(overrides=[f"{path}{how}{value}"]))


# --- every command's flags ---------------------------------------------------------------------

def commands(group: click.Group = rehearse, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


COMMANDS = commands()
JUDGES = {("check",), ("report",)}  # a run judged: exit 1 when it fails its gates is an answer


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    """Paths the examples name: scenarios, a small run folder, a file, a folder, a deep YAML."""
    base = tmp_path_factory.mktemp("fuzz")
    run = base / "run"
    with RunWriter(run, RunInfo.start(load_scenario(), engine="swarm", seed=1)) as out:
        out.request(t=1.0, engine="swarm", persona="normal", user_id="u1", action="open_page", channel="c",
                    domain="", status=200, ok=True, refused=False, latency_ms=3.0, payout_fen=0, error="",
                    prize="", attempt="u1#1")
    consolidate(run)
    (base / "deep.yaml").write_text("a: " + "[" * 3000 + "]" * 3000)
    (base / "notes.txt").write_text("not a scenario")
    return {"bundled": str(default_scenario_path()), "no_extras": str(ROOT / "tests/scenarios/no_extras.yaml"),
            "lucky_bag": str(ROOT / "examples/lucky_bag/scenario.yaml"), "run": str(run),
            "deep": str(base / "deep.yaml"), "file": str(base / "notes.txt"), "dir": str(base),
            "missing": str(base / "nope.yaml")}


PATH_KEYS = ["bundled", "no_extras", "lucky_bag", "run", "deep", "file", "dir", "missing", "new", "", "ctrl"]


def value_for(param: click.Parameter, draw, places: dict[str, str], new_dir: str) -> str:
    """A value for one flag: often one that fits its type, often a hostile one."""
    kind = type(param.type).__name__
    if kind in ("InPath", "OutDir", "Path"):
        key = draw(st.sampled_from(PATH_KEYS))
        return {"new": new_dir, "": "", "ctrl": "a\x01b"}.get(key, places.get(key, ""))
    if isinstance(param.type, click.Choice):
        return draw(st.sampled_from([*map(str, param.type.choices), "nope", ""]))
    if kind in ("IntRange", "IntParamType"):
        low, high = getattr(param.type, "min", None), getattr(param.type, "max", None)
        edges = [v for v in (low, high) if v is not None]
        return str(draw(st.one_of(st.sampled_from(edges + [e + d for e in edges for d in (-1, 1)] or [1]),
                                  st.integers(-10, 10**6), st.sampled_from(["x", "", "1.5", "99999999999999999999"]))))
    if kind in ("FiniteFloat", "FloatRange", "FloatParamType"):
        return draw(st.sampled_from(["nan", "inf", "-1", "0", "0.5", "1", "60", "1e308", "x", ""]))
    if kind == "WallTime":
        return draw(st.sampled_from(["0s", "1s", "5s", "30s", "25h", "soon", "-5s", "", "1e309s", "2m"]))
    return draw(st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20)))


@st.composite
def command_lines(draw, places: dict[str, str]) -> list[str]:
    """A command, some of its flags with values, its arguments; --dry-run where it has one."""
    path, command = draw(st.sampled_from(COMMANDS))
    new_dir = tempfile.mkdtemp(prefix="rehearse-fuzz-") + "/out"
    argv = list(path)
    for param in command.params:
        if isinstance(param, click.Argument):
            count = 1 if param.nargs == 1 else draw(st.integers(0, 2))
            if param.nargs == 1 and not param.required and draw(st.booleans()):
                count = 0
            argv += [value_for(param, draw, places, new_dir) for _ in range(count)]
            continue
        if param.name == "dry_run" or not draw(st.integers(0, 3)) == 0:  # about one flag in four
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            argv.append(flag)
            continue
        for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
            argv += [flag, value_for(param, draw, places, new_dir)]
    if any(p.name == "dry_run" for p in command.params):
        argv.append("--dry-run")
    return argv


def run_command(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), bounded():
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 1), err.getvalue()


def test_the_command_lines_reach_every_command(places):
    seen = set()

    @settings(FUZZ, max_examples=200)
    @given(st.data())
    def draw(data):
        seen.add(tuple(data.draw(command_lines(places))[:2]))

    draw()
    assert {p for p, _ in COMMANDS} <= {s[:len(p)] for s in seen for p, _ in COMMANDS}


def test_every_command_ends_with_exit_0_or_2_and_one_line(places):
    started = set(os.listdir(tempfile.gettempdir()))

    @settings(FUZZ, max_examples=700)
    @given(st.data())
    def one(data):
        argv = data.draw(command_lines(places))
        code, err = run_command(argv)
        allowed = {0, 1, 2, 3} if tuple(argv[:1]) in JUDGES else {0, 2}  # a judge: pass, fail, bad input, inconclusive
        assert code in allowed, (argv, code, err[-2000:])
        assert "Traceback" not in err, (argv, err[-2000:])
        if code == 2:
            lines = err.strip().splitlines()
            most = max(1, len(argv) - 2) if tuple(argv[:2]) == ("scenario", "validate") else 1  # one per file
            assert 1 <= len(lines) <= most, (argv, err[-2000:])
            assert all(line.startswith("rehearse: error: ") for line in lines), (argv, err[-2000:])

    try:
        one()
    finally:
        import shutil

        for name in set(os.listdir(tempfile.gettempdir())) - started:
            if name.startswith("rehearse-fuzz-"):
                shutil.rmtree(Path(tempfile.gettempdir()) / name, ignore_errors=True)
    leftover = [name for name in set(os.listdir(tempfile.gettempdir())) - started
                if name.startswith("rehearse-") and not name.startswith("rehearse-fuzz-")]
    assert not leftover, f"a dry run or a refused command left {leftover} behind"
