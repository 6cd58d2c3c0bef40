"""Worker placement on the shared cluster: fractional GPUs, lost workers."""

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


def test_lost_worker_is_retried_and_changes_no_bit(ray_cluster, tmp_path):
    flag = tmp_path / "crash"
    model = {"type": "tests.engine_plugins:crash_once_model", "flag": str(flag)}
    clean = fedray.run(tiny(model=model, resources={"num_workers": 2}), out=tmp_path / "clean")

    flag.write_text("crash the next worker that trains")
    crashed = fedray.run(tiny(model=model, resources={"num_workers": 2}), out=tmp_path / "crashed")

    assert not flag.exists()  # a worker did die
    assert crashed.params.tobytes() == clean.params.tobytes()
    assert crashed.history.column("clients_failed").to_pylist() == [0, 0, 0]
