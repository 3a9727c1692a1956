"""What-if overrides: `PATH=VALUE` pairs applied to a scenario before it is validated.

PATH is dotted (`budget.grand_round_fen`, `campaign.institutions.0.envelope.max_fen`,
`personas.mix.fraud_script`); VALUE is read as YAML, so `5`, `0.2`, `true`, `[a, b]` and
`{kind: uniform, min_fen: 1, max_fen: 2}` all work. A path that does not exist is an error.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from rehearse.scenarios.errors import ScenarioError
from rehearse.scenarios.yaml_text import read_yaml


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """A copy of scenario data with each PATH=VALUE applied in order."""
    result = copy.deepcopy(data)
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise ScenarioError(f"{source} {item!r}: expected PATH=VALUE, e.g. budget.grand_round_fen=1000")
        value = _read_value(raw, f"{source} {item!r}") if raw.strip() else ""
        set_path(result, path.strip(), value, source=f"{source} {item!r}")
    return result


def _read_value(raw: str, source: str) -> Any:
    """A VALUE read as YAML under the scenario file's bounds (size, depth, aliases, tags)."""
    return read_yaml(raw, source)[1]


def set_path(data: Any, path: str, value: Any, source: str = "--set") -> None:
    """Set the value at a dotted path whose parents must exist (the last key may be new only
    in a mapping, so that typos in section names are caught)."""
    keys = path.split(".")
    node = data
    for depth, key in enumerate(keys[:-1]):
        node = _child(node, key, ".".join(keys[: depth + 1]), source)
    last = keys[-1]
    if isinstance(node, list):
        node[_index(node, last, path, source)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(f"{source}: {'.'.join(keys[:-1])} is a value, not a section")


def _child(node: Any, key: str, where: str, source: str) -> Any:
    if isinstance(node, dict):
        if key not in node:
            known = ", ".join(sorted(map(str, node))) or "nothing"
            raise ScenarioError(f"{source}: no field {where!r}; this level has: {known}")
        return node[key]
    if isinstance(node, list):
        return node[_index(node, key, where, source)]
    raise ScenarioError(f"{source}: {where!r} is inside a value, not a section")


def _index(node: list, key: str, where: str, source: str) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise ScenarioError(f"{source}: {where!r} needs a list index from 0 to {len(node) - 1}")
    return int(key)
