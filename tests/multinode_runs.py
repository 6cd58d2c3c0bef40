"""Run one scenario on a three-node `ray.cluster_utils.Cluster`, losing a node in round 2.

`tests/test_cluster.py` runs this file as its own process (`python -m tests.multinode_runs
OUT PORT`): a Cluster starts its own head, and a process already connected to the test
session's Ray (`ray.init` in conftest) cannot start or join another one. Writes OUT/run
(the run) and OUT/cluster.json (which node is which, and what happened to node A).

One run serves every multi-node test: the worker pool spreads over the nodes, a node
holding a worker dies while that worker is mid-call, and still the run must end with a
single-node run's bits. (An uninterrupted multi-node run would cost another 20 s of actor
start-up on two cores.)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from ray.cluster_utils import Cluster

import fedray
from tests.factories import tiny
from tests.ray_head import start_cluster

# A head with no CPU for workers (only the driver and the zero-CPU Aggregator), and two
# worker nodes of different sizes with logical GPUs: one worker per (1 CPU, 1 GPU) puts one
# on node A and two on node B.
NODE_A = {"num_cpus": 1, "num_gpus": 1}
NODE_B = {"num_cpus": 2, "num_gpus": 2}


def scenario(gate: Path) -> dict:
    """The tests' scenario; `gate` only decides when a worker waits (see cluster_plugins)."""
    return tiny(
        model={"type": "tests.cluster_plugins:gated_model", "gate": str(gate)},
        resources={"num_cpus": 1, "num_gpus": 1, "max_retries": 1},
        output={"checkpoint_every": 1},
    )


def lose_node(cluster: Cluster, node, gate: Path, run: threading.Thread, log: dict) -> None:
    """Once the worker on `node` is inside round 2, kill the node, let a replacement join
    (as an autoscaler would), then open the gate for the workers that are left."""
    marker = Path(f"{gate}.{node.node_id}")
    deadline = time.monotonic() + 120
    try:
        while not marker.exists() and time.monotonic() < deadline and run.is_alive():
            time.sleep(0.05)
        log["worker_was_waiting"] = marker.exists()
        log["aggregator_nodes"] = [
            actor["Address"]["NodeID"]
            for actor in cluster.global_state.actor_table(None, None, "ALIVE").values()
            if actor["ActorClassName"] == "Aggregator"
        ]
        cluster.remove_node(node, allow_graceful=False)
        log["replacement"] = cluster.add_node(**NODE_A).node_id
    finally:
        open_gate(gate)


def open_gate(gate: Path) -> None:
    if gate.parent.exists():  # else the run failed before its first checkpoint
        Path(f"{gate}.open").touch()


def run_in_thread(*args, **kwargs) -> threading.Thread:
    """`fedray.run` in a thread, its exception kept in `thread.error`: Ray starts a node only
    from the main thread (it sets signal handlers), so that one must be free to lose a node."""

    def target():
        try:
            fedray.run(*args, **kwargs)
        except BaseException as exc:
            thread.error = exc

    thread = threading.Thread(target=target)
    thread.error = None
    thread.start()
    return thread


def main(out: Path, port: int) -> None:
    # A head with its own GCS port, and a random one for the head's agent (not Ray's fixed
    # default), so that other Ray instances on this machine are left alone.
    head = {
        "num_cpus": 0,
        "gcs_server_port": port,
        "dashboard_agent_listen_port": None,
        "include_dashboard": False,
    }
    cluster, (a, b) = start_cluster(head, [NODE_A, NODE_B], "the three-node cluster")
    try:
        log = {"head": cluster.head_node.node_id, "a": a.node_id, "b": b.node_id}
        gate = out / "run" / "checkpoints" / "round_0000001.npz"
        run = run_in_thread(scenario(gate), address=cluster.address, out=out / "run")
        lose_node(cluster, a, gate, run, log)
        run.join()
        if run.error is not None:
            raise run.error
        (out / "cluster.json").write_text(json.dumps(log))
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
