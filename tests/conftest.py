"""One Ray cluster for the whole session: 2 CPUs and 2 logical GPUs, shut down at the end.

A start that times out on a loaded machine is undone and tried once more (`tests.retry`).
"""

import contextlib
import os
import sys
from pathlib import Path

import pytest

from tests.retry import children, kill_new_children, twice

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    # Workers must import `tests.plugins` (user models and strategies given as module:attr).
    path = os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    before = children()

    def start():
        return ray.init(
            num_cpus=2,
            num_gpus=2,
            include_dashboard=False,
            logging_level="WARNING",
            runtime_env={"env_vars": {"PYTHONPATH": path}},
        )

    def undo():
        ray.shutdown()  # what ray.init had set up, if it got that far
        kill_new_children(before)  # a GCS or raylet it started before failing

    twice(start, undo, "the session's Ray")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        yield ray
    finally:
        # Ray prints the workers' last log lines on its way out: to the process's own stderr,
        # since the last test's captured stream may be closed by now.
        with contextlib.redirect_stderr(sys.__stderr__):
            ray.shutdown()


@pytest.fixture(scope="module")
def warm(ray_cluster):
    """One set of warm actors for a module's runs, as `fedray stress` keeps them: a run whose
    pool has the shape of the last one takes its processes over instead of starting new ones
    (a warm pool gives a cold one's bits: tests/test_actors.py). Its idle actors hold their
    CPUs until the module ends, so every run in a module that uses it passes it."""
    from fedray.actors import WarmActors

    actors = WarmActors()
    yield actors
    actors.close()
