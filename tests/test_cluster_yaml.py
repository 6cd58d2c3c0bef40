"""The cluster-launcher files, checked by Ray's own launcher code (no cloud, no SSH).

`ray up` fills a file's defaults in (`prepare_config`) and validates the result against
Ray's schema (`validate_config`); these tests do the same steps. (The errors are Ray's
dependencies' jsonschema.ValidationError and click.ClickException: matched by message,
as fedray does not depend on those packages itself.) Ray's local (SSH)
provider refuses node types, hence two files: cluster.yaml (AWS: head, CPU and GPU worker
types) and cluster-local.yaml (machines you already have).
"""

import copy
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from fedray.client.pool import plan_pool
from fedray.scenario import load_scenario
from tests.factories import tiny

ROOT = Path(__file__).resolve().parent.parent


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_launcher_fills_in_and_validates_the_file(name):
    config = prepare_config(load(name))

    validate_config(config)  # raises on a schema violation

    setup = config["head_setup_commands"] + config["worker_setup_commands"]
    assert sum('pip install -e "$HOME/fedray[cluster]"' in c for c in setup) == 2
    assert config["file_mounts"] == {"~/fedray": "."}


def test_cluster_yaml_has_a_head_a_cpu_and_a_gpu_worker_type():
    config = prepare_config(load("cluster.yaml"))

    types = config["available_node_types"]

    assert config["head_node_type"] == "head"
    assert types["cpu_worker"]["resources"].get("GPU", 0) == 0
    assert types["cpu_worker"]["resources"]["CPU"] >= 1
    assert types["gpu_worker"]["resources"]["GPU"] >= 1
    # fedray sizes its pool from the nodes that are up: each worker type starts at least one
    assert all(types[t]["min_workers"] >= 1 for t in ("cpu_worker", "gpu_worker"))


def test_the_minimal_cluster_holds_four_gpu_workers_per_gpu():
    types = load("cluster.yaml")["available_node_types"]
    nodes = [
        {"Alive": True, "Resources": {k: float(v) for k, v in t["resources"].items()}}
        for t in types.values()
        for _ in range(t.get("min_workers", 1))  # the head, and each type's minimum
    ]
    scenario = load_scenario(
        tiny(
            federation={"population": 1000, "clients_per_round": 100},
            resources={"num_cpus": 1, "num_gpus": 0.25},
        )
    )

    plan = plan_pool(scenario.resources, 1000, 100, nodes)

    gpu = types["gpu_worker"]
    assert plan.num_workers == 4 * gpu["resources"]["GPU"] * gpu["min_workers"]


def test_validation_catches_a_fractional_gpu_count():
    config = load("cluster.yaml")
    config["available_node_types"]["gpu_worker"]["resources"]["GPU"] = 0.5

    with pytest.raises(Exception, match="0.5 is not of type 'integer'"):
        validate_config(prepare_config(config))


def test_local_provider_refuses_node_types():
    config = copy.deepcopy(load("cluster.yaml"))
    config["provider"] = load("cluster-local.yaml")["provider"]

    with pytest.raises(Exception, match="available_node_types is not supported"):
        prepare_config(config)
