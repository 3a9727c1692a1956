"""The scenario with a calibrated backend_model, as a YAML file's text: the scenario the run was
made with (its --set overrides applied) and the fit's queues, checked to load before it is given."""

from __future__ import annotations

from typing import Iterable

import yaml

from rehearse.scenarios.loader import parse_scenario
from rehearse.scenarios.overrides import apply_overrides
from rehearse.scenarios.yaml_text import read_yaml


def calibrated_text(text: str, source: str, overrides: Iterable[str], backend_model: dict, header: str) -> str:
    """`text` (a scenario file's YAML, read from `source`) with `overrides` applied and its
    backend_model replaced, under a `# ` comment `header`; refused like any scenario if it would
    not load."""
    _, data = read_yaml(text, source)
    assert isinstance(data, dict)  # the run's scenario loaded: it is a mapping
    data = apply_overrides(data, overrides)
    data["backend_model"] = backend_model
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    out = "".join(f"# {line}\n" for line in header.splitlines()) + body
    parse_scenario(out, source=f"{source} (calibrated)")
    return out
