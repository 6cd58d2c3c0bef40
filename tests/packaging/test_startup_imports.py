"""What start-up imports: `fedray validate` loads no Ray, and an actor that builds the
quickstart's workers and Aggregator loads neither scikit-learn, scipy nor torch._dynamo
(each costs over a second of CPU per process; see README, "Start-up")."""

import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ["sklearn", "scipy", "torch._dynamo", "opacus", "matplotlib", "pandas"]


def loaded(code: str, modules: list[str]) -> list[str]:
    code += f"\nimport sys\nprint('loaded:' + ','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), out.stdout
    return [m for m in last.removeprefix("loaded:").split(",") if m]


def test_validate_loads_no_ray_and_nothing_heavy():
    code = (
        "from fedray.cli import main\nassert main(['validate', 'scenarios/quickstart.yaml']) == 0"
    )

    assert loaded(code, ["ray", *HEAVY]) == []


def test_quickstart_actors_build_without_heavy_imports():
    code = (
        "import numpy as np\n"
        "from fedray.scenario import load_scenario\n"
        "from fedray.scenario.convert import to_plain\n"
        "from fedray.client.worker import Worker\n"
        "from fedray.server.aggregator import Aggregator\n"
        "from fedray.server.state import ServerState\n"
        "plain = to_plain(load_scenario('scenarios/quickstart.yaml'))\n"
        "worker = Worker(plain)\n"
        "Aggregator(plain, ServerState(0, np.zeros(4810, np.float32)))\n"
        "worker.train(np.zeros(4810, np.float32), 1, [0, 1, 2])\n"
    )

    assert loaded(code, HEAVY) == []
