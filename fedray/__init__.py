"""fedray: federated-learning simulation on Ray, described by one YAML scenario."""

from fedray.api import RunResult, run
from fedray.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run"]
__version__ = "0.1.0"
