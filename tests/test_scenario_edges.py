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
from rehearse.scenarios.yaml_text import MAX_DEPTH, MAX_NODES, MAX_SCENARIO_BYTES

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


# --- the target mapping: templates, paths, headers ---------------------------------------------

TARGET_CASES = {
    "a format spec": (('        phone: "{user.phone}"', '        phone: "{user.phone:d}"'),
                      "target.actions.login.body.phone: template '{user.phone:d}' has a format spec ':d'; "
                      "templates fill values as they are: write {user.phone}", "{user.phone:d}"),
    "a conversion": (('        phone: "{user.phone}"', '        phone: "{user.phone!r}"'),
                     "target.actions.login.body.phone: template '{user.phone!r}' has a conversion '!r'; "
                     "templates fill values as they are: write {user.phone}", "{user.phone!r}"),
    "a spec in a header": (('    X-Device-Id: "{user.device_id}"', '    X-Device-Id: "{user.device_id:>40}"'),
                           "target.headers.X-Device-Id: template '{user.device_id:>40}' has a format spec",
                           "{user.device_id:>40}"),
    "an index": (('        phone: "{user.phone}"', '        phone: "{user.phone[0]}"'),
                 "indexes with [...] in {user.phone[0]}; templates name fields with dots only", "phone[0]"),
    "a root alone": (('        phone: "{user.phone}"', '        phone: "{user}"'),
                     "names no field of user in {user}; write {user.FIELD}, e.g. {user.phone}", '"{user}"'),
    "an empty field": (('        phone: "{user.phone}"', '        phone: "{user.}"'),
                       "names no field of user", "{user.}"),
    "inside a plain value": (('        phone: "{user.phone}"', '        phone: "{user.phone.real}"'),
                             "{user.phone.real} reaches inside user.phone, which holds a plain value", "phone.real"),
    "a path that is a link's URL": (('      path: "{link.path}"', '      path: "{link.url}"'),
                                    "target.actions.visit_link.path: path '{link.url}' must begin with a "
                                    "single '/': the path is appended to --host and may not name a host",
                                    'path: "{link.url}"'),
    "a path from the session": (("      path: /api/share", '      path: "{session.share_url}"'),
                                "must begin with a single '/'", "session.share_url"),
    "a path naming a host": (("      path: /api/share", "      path: //evil.example/api/share"),
                             "may not name a host", "//evil"),
    "a path that is a URL": (("      path: /api/share", "      path: http://evil.example/api/share"),
                             "may not name a host", "http://evil"),
    "a path with a space": (("      path: /api/share", '      path: "/api/share now"'),
                            "holds ' '; a path has no spaces or control characters", "share now"),
    "a header name with a space": (('    X-Device-Id: "{user.device_id}"', '    X Device: "{user.device_id}"'),
                                   "target.headers.X Device: header name 'X Device' is not an HTTP token",
                                   "X Device:"),
    "a header name with a colon": (('    X-Device-Id: "{user.device_id}"', '    "X-Device:Id": "{user.device_id}"'),
                                   "header name 'X-Device:Id' is not an HTTP token", "X-Device:Id"),
    "an empty header name": (('    X-Device-Id: "{user.device_id}"', '    "": "{user.device_id}"'),
                             "header name '' is not an HTTP token", '"": '),
    "a line break in a header value": (('    X-Device-Id: "{user.device_id}"', '    X-Device-Id: "a\\r\\nX-Evil: 1"'),
                                       "target.headers.X-Device-Id: value 'a\\r\\nX-Evil: 1' holds '\\r', which "
                                       "would end the header and split the request", "X-Evil"),
    "a NUL in an operation's header": (("      headers: {X-Ops-Token: \"{params.ops_token}\"}\n"
                                        "      body: {domain:",
                                        "      headers: {X-Ops-Token: \"{params.ops_token}\\0\"}\n"
                                        "      body: {domain:"),
                                       "target.operations.report_ban.headers.X-Ops-Token: value", '\\0"}'),
    "a session key of the harness's own": (("extract: {token: token,", "extract: {_cookies: token,"),
                                           "extract._cookies: '_cookies' is no session key", "_cookies"),
    "a header to extract that is no header name": (("extract: {share_url: url, share_domain: domain}",
                                                    'extract: {share_url: url, share_domain: "header:X Domain"}'),
                                                   "'X Domain' is not a header name", "X Domain"),
    "a remote host with a scheme": (("  allow_remote_hosts: []", "  allow_remote_hosts: [https://api.example.com]"),
                                    "target.allow_remote_hosts.0: 'https://api.example.com' is not a host name",
                                    "https://api"),
    "a remote host in capitals": (("  allow_remote_hosts: []", "  allow_remote_hosts: [API.example.com]"),
                                  "is not a host name; write the host alone, in lower case", "API.example"),
}


@pytest.mark.parametrize("case", TARGET_CASES, ids=list(TARGET_CASES))
def test_a_target_mistake_is_one_line_naming_its_field_and_line(case, tmp_path, capsys):
    (old, new), expected, on_line = TARGET_CASES[case]
    text = edited(old, new)
    line = refused(tmp_path, text, capsys)
    assert expected in line
    line_no = next(n for n, row in enumerate(text.splitlines(), 1) if on_line in row)
    assert f"bad.yaml:{line_no}: " in line


def test_a_condition_on_a_header_no_answer_could_carry_is_refused():
    with pytest.raises(ScenarioError, match=r"target.ok_when.0.header: .*'Bad Header' is not an HTTP header"):
        load_scenario(overrides=['target.ok_when={"header": "Bad Header", "exists": true}'])


def test_the_share_links_path_and_literal_paths_stay_allowed():
    scenario = load_scenario()
    assert scenario.target.actions["visit_link"].path == "{link.path}"
    assert scenario.target.actions["complete_task"].path.startswith("/api/institutions/{params.institution}")


def test_the_contract_refuses_a_formatted_field_too():
    """Defence in depth: a Target built without validation still cannot format a field."""
    from rehearse.client.contract import ContractError, compile_template

    with pytest.raises(ContractError, match=r"template '\{user.phone:d\}' formats a field"):
        compile_template({"phone": "{user.phone:d}"})
    assert compile_template("/a/{params.x}/{{b}}")({"params": {"x": 5}}) == "/a/5/{b}"
    assert compile_template("{params.x}")({"params": {"x": 5}}) == 5


# --- adapters and functions: checked when the scenario is read ---------------------------------

MODULES = {
    "edge_exits": "import sys\nsys.exit(3)\n",
    "edge_shapes": '''
CONSTANT = 5


def a_function(target):
    return target


class NoRead:
    def __init__(self, target):
        pass

    def build(self, act, user, session, step_id=""):
        return None


class Raises:
    def __init__(self, target):
        raise RuntimeError("no connection string configured")

    def build(self, act, user, session, step_id=""):
        return None

    def read(self, act, status, body, latency_ms, headers=None):
        return None


class ExitsWhenBuilt(Raises):
    def __init__(self, target):
        raise SystemExit(4)


class FailsTheSecondTime(Raises):
    built = 0

    def __init__(self, target):
        type(self).built += 1
        if self.built > 1:
            raise KeyError("token")
''',
}


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """The modules above, importable from a folder of their own (and forgotten afterwards)."""
    folder = tmp_path / "mods"
    folder.mkdir()
    for name, source in MODULES.items():
        (folder / f"{name}.py").write_text(source)
        monkeypatch.delitem(__import__("sys").modules, name, raising=False)
    monkeypatch.syspath_prepend(str(folder))
    return folder


ADAPTERS = {
    "a module that calls sys.exit at import": (
        "edge_exits:Adapter", "target.adapter: adapter edge_exits:Adapter: cannot import edge_exits: it called "
                              "sys.exit(3) while loading"),
    "a constant": ("edge_shapes:CONSTANT", "adapter edge_shapes:CONSTANT: it is an int (5), not a class"),
    "a function": ("edge_shapes:a_function", "it is a function (a_function), not a class"),
    "a class without read": ("edge_shapes:NoRead", "adapter edge_shapes:NoRead: the class has no read()"),
    "a class whose construction raises": (
        "edge_shapes:Raises", "target.adapter: edge_shapes:Raises(target) raised RuntimeError: no connection "
                              "string configured; fix the class's __init__(self, target)"),
    "a class whose construction exits": ("edge_shapes:ExitsWhenBuilt", "raised sys.exit(4)"),
}


@pytest.mark.parametrize("case", ADAPTERS, ids=list(ADAPTERS))
def test_a_bad_adapter_is_one_line_when_the_scenario_is_read(case, modules, tmp_path, capsys):
    adapter, expected = ADAPTERS[case]
    text = edited("target:\n  headers:", f"target:\n  adapter: {adapter}\n  headers:")
    line = refused(tmp_path, text, capsys)
    assert expected in line
    assert f"bad.yaml:{text.splitlines().index(f'  adapter: {adapter}') + 1}: " in line


@pytest.mark.parametrize("function, expected", [
    ("edge_exits:sign", "target.functions: functions.sign edge_exits:sign: cannot import edge_exits: it called "
                        "sys.exit(3) while loading"),
    ("edge_shapes:CONSTANT", "functions.sign edge_shapes:CONSTANT: it is an int (5), not a function"),
    ("edge_shapes:Raises", "it is a class (Raises), not a function"),
])
def test_a_bad_function_is_one_line_when_the_scenario_is_read(function, expected, modules, tmp_path, capsys):
    text = edited("target:\n  headers:", f"target:\n  functions: {{sign: '{function}'}}\n  headers:")
    assert expected in refused(tmp_path, text, capsys)


def test_an_adapter_that_fails_when_the_contract_is_loaded_is_one_contract_error(modules):
    from rehearse.client.contract import ContractError, load_contract

    scenario = load_scenario(overrides=["target.adapter=edge_shapes:FailsTheSecondTime"])  # built once here
    with pytest.raises(ContractError, match=r"^target.adapter: edge_shapes:FailsTheSecondTime\(target\) raised "
                                            r"KeyError: 'token'; fix") as error:
        load_contract(scenario.target)
    assert "\n" not in str(error.value)


def test_ctrl_c_while_importing_is_not_swallowed(modules):
    (modules / "edge_interrupts.py").write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_scenario(overrides=["target.functions={sign: 'edge_interrupts:sign'}"])


# --- cross-checks: windows inside the campaign, bans within the domains, SLOs above zero --------

CROSS_CASES = {
    "a window after the campaign's end": (
        ("    long_tail: {start: 6d, duration: 1h}", "    long_tail: {start: 30d, duration: 1h}"),
        "traffic.windows.long_tail.start: the window +30 d to +30.04 d from launch is not inside the campaign "
        "(-7 d (the preheat) to +11 d (end))", "long_tail:"),
    "a window running past the end": (
        ("    long_tail: {start: 6d, duration: 1h}", "    long_tail: {start: 6d, duration: 6d}"),
        "traffic.windows.long_tail.start: the window +6 d to +12 d from launch is not inside", "long_tail:"),
    "a window before the preheat": (
        ("    preheat_day: {start: -3d, duration: 1h}", "    preheat_day: {start: -8d, duration: 1h}"),
        "is not inside the campaign (-7 d (the preheat)", "preheat_day:"),
    "a drill's own window after the end": (
        ("    window: launch_hour\n    steady_state: [failover.pool_never_empty]",
         "    window: {start: 12d, duration: 1h}\n    steady_state: [failover.pool_never_empty]"),
        "drills.ban_wave.window.start: the window +12 d to +12.04 d from launch is not inside", "start: 12d"),
    "more bans than domains": (
        ("      - {kind: ban_domains, at: 20m, count: 2}", "      - {kind: ban_domains, at: 20m, count: 99}"),
        "drills.ban_wave.incidents.0.count: 99 is more than the 12 domains links.primary_domains and "
        "links.backup_domains hold", "count: 99"),
    "a p95 of zero": (
        ("    p95: {default: 500ms,", "    p95: {default: 0ms,"),
        "gates.peak.p95.default: input should be greater than 0", "default: 0ms"),
}


@pytest.mark.parametrize("case", CROSS_CASES, ids=list(CROSS_CASES))
def test_a_cross_check_that_fails_is_one_line_at_its_field(case, tmp_path, capsys):
    (old, new), expected, on_line = CROSS_CASES[case]
    text = edited(old, new)
    line = refused(tmp_path, text, capsys)
    assert expected in line, line
    line_no = next(n for n, row in enumerate(text.splitlines(), 1) if on_line in row)
    assert f"bad.yaml:{line_no}: " in line


def test_windows_at_the_campaigns_edges_are_accepted():
    load_scenario(overrides=["traffic.windows.long_tail={start: 10d, duration: 1d}",  # ends at the end
                             "traffic.windows.preheat_day={start: -7d, duration: 1h}"])  # the preheat's start


def test_a_control_character_a_value_brings_into_a_message_is_shown_escaped():
    with pytest.raises(ScenarioError) as error:
        load_scenario(overrides=["a\nb=1"])
    assert "\n" not in str(error.value) and "a\\nb" in str(error.value)
