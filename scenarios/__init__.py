"""Scenarios: the campaign under rehearsal, as validated data (see `load_scenario`)."""

from rehearse.scenarios.errors import RehearseError, ScenarioError, UsageError
from rehearse.scenarios.loader import default_scenario_path, load_scenario, parse_scenario
from rehearse.scenarios.model import Scenario

__all__ = [
    "RehearseError",
    "Scenario",
    "ScenarioError",
    "UsageError",
    "default_scenario_path",
    "load_scenario",
    "parse_scenario",
]
