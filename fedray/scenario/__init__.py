"""Scenario files: the schema, and loading with validation that reports every problem at once."""

from fedray.scenario.load import ScenarioError, load_scenario, parse_override, to_yaml
from fedray.scenario.schema import Scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_override", "to_yaml"]
