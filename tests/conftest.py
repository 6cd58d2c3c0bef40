"""One Ray cluster for the whole session: 2 CPUs and 2 logical GPUs, shut down at the end."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    # Workers must import `tests.plugins` (user models and strategies given as module:attr).
    path = os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    ray.init(
        num_cpus=2,
        num_gpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    yield ray
    ray.shutdown()
