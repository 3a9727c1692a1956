"""The project's import graph, drawn from the source (every `import` and `from ... import` the
interpreter can run, inside functions too; `if TYPE_CHECKING:` blocks left out): no file imports
one that imports it back, however far round, and no package imports one above it in LAYERS."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = (
    "scenarios",  # the campaign as data, and the harness's errors
    "personas",  # who takes part and what each step means
    "observations",  # run folders: the one shape every engine writes
    "client",  # the target contract client the engines share (requests, answers, the transport seam)
    "reference_backend",  # the bundled campaign backend
    "simulator",  # the SimPy model of the campaign
    "judging",  # the gates and the judge: verdicts with evidence from run folders
    "calibration",  # a step load fitted to models that predict past it (USL, the backend model)
    "reports",  # the judgement rendered: HTML, Markdown, JUnit, JSON, plots
    "swarm",  # Locust load against a target
    "walkthrough",  # a readable rehearsal, step by step
    "rehearsal",  # the main job's phases, played into a journal
    "cli",  # the commands: the only part that prints and exits
    "rehearse",  # the package's entry points (python -m rehearse, rehearse.testing)
)
"""Lowest first: a package imports from its own layer and those below it only."""


def _modules() -> dict[str, Path]:
    """Every module of the installed package, by its dotted name, from pyproject's package-dir."""
    folders = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    found = {}
    for package, folder in folders.items():
        for path in (ROOT / folder).glob("*.py"):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def _imported(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The project's modules a file imports (`from pkg import module` names that module)."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    sub = f"{child.module}.{alias.name}"
                    out.add(sub if sub in modules else child.module)
            elif isinstance(child, ast.Import):
                out.update(alias.name for alias in child.names)
            visit(child)

    visit(tree)
    return {name for name in out if name in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
            for name, path in modules.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "rehearse"


def test_imports_name_their_module_in_full():
    """A relative import (`from . import x`) would slip past the graph: none is written."""
    relative = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in _modules().values()
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert relative == []


def test_every_package_has_a_layer(graph):
    assert {_package(m) for m in graph} == set(LAYERS)


def test_no_package_imports_one_above_it(graph):
    rank = {package: n for n, package in enumerate(LAYERS)}
    upward = sorted(f"{a} imports {b}" for a, targets in graph.items() for b in targets
                    if rank[_package(b)] > rank[_package(a)])
    assert upward == []


def test_no_file_imports_one_that_imports_it_back(graph):
    # Tarjan's strongly connected components: any with more than one file is a loop
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                loops.append(sorted([v, *component]))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    assert loops == []


def test_the_template_fields_of_a_participant_are_its_identitys():
    """scenarios/target.py lists what {user.…} may name without importing the personas above it."""
    import dataclasses

    from rehearse.personas.identity import Identity
    from rehearse.scenarios.target import USER_FIELDS

    properties = {name for name, value in vars(Identity).items() if isinstance(value, property)}
    assert set(USER_FIELDS) == {f.name for f in dataclasses.fields(Identity)} | properties
