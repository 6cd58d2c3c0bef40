"""Worker placement on the shared cluster: fractional GPUs, lost workers."""

import time

import pytest
import ray

import fedray
from fedray.client.pool import WorkerPool, plan_pool
from fedray.scenario import load_scenario
from fedray.scenario.convert import to_plain
from tests.factories import tiny

pytestmark = pytest.mark.slow


def test_fractional_gpus_give_eight_concurrent_workers_on_two_gpus(ray_cluster):
    scenario = load_scenario(
        tiny(
            federation={"population": 100, "clients_per_round": 8},
            resources={"num_cpus": 0.25, "num_gpus": 0.25},
        )
    )
    plan = plan_pool(scenario.resources, 100, 8, ray.nodes())

    pool = WorkerPool(to_plain(scenario), plan, scenario.resources)
    try:
        info = pool.info()
        free = ray.available_resources().get("GPU", 0.0)
    finally:
        pool.shutdown()

    assert plan.num_workers == 8 and plan.mode == "cross-device"
    assert all(len(i["gpu_ids"]) == 1 for i in info)
    per_gpu = {g: sum(i["gpu_ids"] == [g] for i in info) for g in ("0", "1")}
    assert per_gpu == {"0": 4, "1": 4}
    assert free == 0.0  # all eight hold their quarter at once
    assert all(i["device"] == "cpu" for i in info)  # logical GPUs, no CUDA device here


@pytest.fixture(scope="module")
def clean(ray_cluster, tmp_path_factory):
    """A run without faults: the reference each faulty run must match bit for bit.

    All of this module's runs train one client at a time: the hanging model cannot be
    vectorised (it branches on its input), and a vectorised reference differs from the loop
    by float rounding (about 1e-8), which a bitwise comparison would catch."""
    model = {"type": "tests.engine_plugins:crash_once_model", "flag": "/nonexistent"}
    out = tmp_path_factory.mktemp("clean") / "run"
    return fedray.run(
        tiny(model=model, resources={"num_workers": 2}, client__vectorize="off"), out=out
    )


def test_lost_worker_is_retried_and_changes_no_bit(clean, tmp_path):
    flag = tmp_path / "crash"
    model = {"type": "tests.engine_plugins:crash_once_model", "flag": str(flag)}

    flag.write_text("crash the next worker that trains")
    scenario = tiny(model=model, resources={"num_workers": 2}, client__vectorize="off")
    crashed = fedray.run(scenario, out=tmp_path / "crashed")

    assert not flag.exists()  # a worker did die
    assert crashed.params.tobytes() == clean.params.tobytes()
    assert crashed.history.column("clients_failed").to_pylist() == [0, 0, 0]


@pytest.mark.timeout(300)  # without call timeouts this run would wait forever
def test_hung_worker_is_killed_replaced_and_changes_no_bit(clean, tmp_path):
    flag = tmp_path / "hang"
    model = {"type": "tests.engine_plugins:hang_once_model", "flag": str(flag)}
    scenario = tiny(
        model=model, resources={"num_workers": 2, "call_timeout": 4}, client__vectorize="off"
    )

    flag.write_text("hang the next worker that trains")
    started = time.monotonic()
    hung = fedray.run(scenario, out=tmp_path / "hung")

    assert not flag.exists()  # a worker did hang
    assert time.monotonic() - started < 120  # nobody waited for the hung call to end
    assert hung.params.tobytes() == clean.params.tobytes()
    assert hung.history.column("workers_timed_out").to_pylist() == [1, 0, 0]
    assert clean.history.column("workers_timed_out").to_pylist() == [0, 0, 0]
    assert hung.history.column("clients_failed").to_pylist() == [0, 0, 0]
    assert hung.history.column("test_accuracy") == clean.history.column("test_accuracy")
