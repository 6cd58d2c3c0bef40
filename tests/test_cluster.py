"""fedray on real clusters: several nodes, a node lost mid-run, `--address auto`, Ray Jobs.

None of these can share the test session's Ray (`ray.init` in conftest): a process joins
one Ray only. So each cluster lives in processes of its own, and the tests talk to it the
way a user does: `python -m tests.multinode_runs` builds a `ray.cluster_utils.Cluster` in a
child process; `ray start --head` (tests/ray_head.py) serves `fedray run --address auto`
and `ray job submit`, and its `--address auto` run is the single-node reference for the
multi-node one. So the module runs the same whether or not the session's Ray has started.
Every cluster is stopped in its fixture's teardown, alone (no `ray stop`: that stops every
Ray on the machine).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from ray.job_submission import JobStatus, JobSubmissionClient

from tests.multinode_runs import scenario
from tests.ray_head import free_ports, head_env, kill_leftovers, private_temp_dir, ray_head

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def metrics(run_dir: Path) -> dict:
    return pq.read_table(run_dir / "metrics.parquet").to_pydict()


def _env(**extra: str) -> dict:
    """Workers, job drivers and plug-ins import this checkout's fedray and `tests`."""
    path = os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    return head_env(PYTHONPATH=path, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra)


@pytest.fixture(scope="module")
def multinode() -> tuple[Path, dict]:
    """Run tests/multinode_runs.py; return its run dir and which node is which."""
    work = private_temp_dir()  # also RAY_TMPDIR: the Cluster's sessions and address file
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.multinode_runs", str(work / "out"), str(port)],
        cwd=ROOT,
        env=_env(RAY_TMPDIR=str(work)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-5000:]
        yield work / "out" / "run", json.loads((work / "out" / "cluster.json").read_text())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        kill_leftovers(work)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def head():
    with ray_head(_env()) as h:
        yield h


@pytest.fixture(scope="module")
def single(head, tmp_path_factory) -> Path:
    """`fedray run --address auto` on the head alone (2 CPUs, 2 GPUs: 2 workers): the
    single-node reference for the multi-node run, whose scenario it runs."""
    tmp = tmp_path_factory.mktemp("single")
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(scenario(tmp / "no-gate")))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedray.cli",
            "run",
            str(path),
            "--out",
            str(tmp / "run"),
            "--address",
            "auto",
        ],
        env=_env(RAY_ADDRESS=head.gcs_address),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return tmp / "run"


def test_address_auto_joins_a_running_head(head, single):
    ran_on = {n["node_id"] for n in summary(single)["nodes"]}

    assert ran_on and ran_on <= head.node_ids()  # joined the head, not a private local Ray
    assert summary(single)["num_workers"] == 2


def test_workers_spread_over_the_nodes_and_summary_names_them(multinode):
    run, nodes = multinode

    placed = summary(run)["nodes"]  # where the workers started

    # node A (1 CPU, 1 GPU) holds one worker, node B (2 CPUs, 2 GPUs) two, the head none
    expected = sorted([(nodes["a"], 1), (nodes["b"], 2)])
    assert [(n["node_id"], n["workers"]) for n in placed] == expected
    assert all(n["ip"] and n["hostname"] for n in placed)
    assert [n["workers_per_gpu"] for n in placed if n["node_id"] == nodes["b"]] == [
        {"0": 1, "1": 1}  # each of B's two workers holds one of B's GPUs
    ]
    assert summary(run)["num_workers"] == 3


def test_node_lost_mid_round_is_survived_and_recorded(multinode):
    run, nodes = multinode

    m = metrics(run)

    assert nodes["worker_was_waiting"]  # node A died while its worker was inside round 2
    assert nodes["aggregator_nodes"] == [nodes["head"]]  # the run's state stays with the driver
    assert m["workers_lost"] == [0, 1, 0]
    assert m["clients_failed"] == [0, 0, 0]  # A's clients were retried on another node
    assert m["clients_trained"] == [6, 6, 6]


def test_multinode_run_has_the_bits_of_a_single_node_run(multinode, single):
    run, _ = multinode

    # three workers on two nodes, one of them lost in round 2, against two on one node
    assert summary(run)["params_sha256"] == summary(single)["params_sha256"]
    assert metrics(run)["test_accuracy"] == metrics(single)["test_accuracy"]


USER_MODEL = """
import math
from torch import nn


def linear(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))
"""


def job_dir(root: Path, out: Path) -> Path:
    """A user's project: a plug-in module, a Parquet file and a scenario naming both
    relatively, as `ray job submit --working-dir` ships it to every node."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 4)).astype(np.float32)
    (root / "data").mkdir(parents=True)
    columns = {f"f{i}": x[:, i] for i in range(4)}
    table = pa.table(
        {**columns, "label": (x[:, 0] > 0).astype(np.int64), "client_id": np.arange(240) % 6}
    )
    pq.write_table(table, root / "data" / "train.parquet")
    (root / "userplugins.py").write_text(USER_MODEL)
    s = {
        "name": "job",
        "seed": 1,
        "rounds": 2,
        "federation": {"population": 6, "clients_per_round": 3},
        "data": {
            "dataset": "parquet",
            "path": "data/train.parquet",
            "partition": {"type": "natural"},
        },
        "model": {"type": "userplugins:linear"},
        "client": {"epochs": 1, "batch_size": 16, "lr": 0.1},
        "evaluation": {"federated_clients": 3},
        "output": {"dir": str(out)},
        "resources": {"num_cpus": 1, "num_workers": 1},
    }
    (root / "scenario.yaml").write_text(yaml.safe_dump(s))
    return root


def test_ray_job_with_working_dir_runs_user_plugins_and_relative_data(head, tmp_path):
    project = job_dir(tmp_path / "project", tmp_path / "out")

    done = subprocess.run(
        [
            str(BIN / "ray"),
            "job",
            "submit",
            "--address",
            head.dashboard,
            "--submission-id",
            "fedray-job",
            "--working-dir",
            str(project),
            "--",
            "fedray",
            "run",
            "scenario.yaml",
        ],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )

    status = JobSubmissionClient(head.dashboard).get_job_status("fedray-job")
    assert status == JobStatus.SUCCEEDED, done.stdout[-5000:] + done.stderr[-3000:]
    ran_on = {n["node_id"] for n in summary(tmp_path / "out")["nodes"]}
    assert ran_on and ran_on <= head.node_ids()  # the job's cluster, not a Ray of its own
    assert metrics(tmp_path / "out")["clients_trained"] == [3, 3]
