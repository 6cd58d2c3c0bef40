"""fedray: federated-learning simulation on Ray, described by one YAML scenario.

`import fedray` is light: the pure layers (`fedray.defenses`, `fedray.strategies`,
`fedray.attacks`, `fedray.secagg`, `fedray.privacy`, `fedray.data`, `fedray.scenario`) import
without Ray. `fedray.run` and `fedray.RunResult` load the driver, and Ray, on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fedray.api import RunResult, run
    from fedray.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run"]
__version__ = "0.1.0"

_LAZY = {
    "run": "fedray.api",
    "RunResult": "fedray.api",
    "Scenario": "fedray.scenario",
    "ScenarioError": "fedray.scenario",
    "load_scenario": "fedray.scenario",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fedray' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # resolved once; later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
