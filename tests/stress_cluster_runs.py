"""`fedray stress` and `fedray tune` on a two-node `ray.cluster_utils.Cluster`.

`tests/test_stress_cluster.py` runs this file as its own process (`python -m
tests.stress_cluster_runs OUT PORT`): a Cluster starts its own head, which a process already
connected to the test session's Ray cannot do. It drives the CLI as a user does, against
a head and one worker node of 1 CPU each, and writes OUT/log.json for the tests to read:

- a 2-cell matrix with `--address` (so `--parallel auto`: 2 runs of 1 worker, side by side);
- that command again (it must find every run done);
- a 2-trial grid with ASHA, one trial at a time, so the weak trial is stopped at round 1.

(The matrix one run at a time against `--parallel auto` is `tests/test_stress.py`'s, on the
session's Ray: it needs no second node.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import ray
import yaml

from fedray.cli import main as fedray
from tests.factories import tiny
from tests.ray_head import start_cluster

GRID = ["--grid", "client.lr=0.05,0.2"]


def stamps(out: Path) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in sorted(out.glob("runs/*/*/summary.json"))}


def drive(out: Path, address: str) -> dict:
    path = out / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(rounds=2, evaluation={"federated_clients": 0})))
    log, scenario = {}, [str(path), "--no-progress"]
    started = time.perf_counter()
    # With --address, --parallel is auto.
    concurrent = ["stress", *scenario, *GRID, "--address", address, "--out", f"{out}/par"]
    log["concurrent"] = fedray(concurrent)
    log["concurrent_seconds"] = time.perf_counter() - started
    before = stamps(out / "par")
    log["resumed"] = fedray(concurrent)
    log["untouched"] = before == stamps(out / "par") and len(before) == 2
    started = time.perf_counter()
    log["tune"] = fedray(
        [
            "tune",
            str(path),
            "--space",
            "client.lr=grid(0.2,0.0001)",
            "--scheduler",
            "asha",
            "--parallel",
            "1",
            "--set",
            "resources.num_workers=1",
            "--address",
            address,
            "--out",
            f"{out}/tune",
        ]
    )
    log["tune_seconds"] = time.perf_counter() - started
    return log


def main(out: Path, port: int) -> None:
    head = {
        "num_cpus": 1,
        "gcs_server_port": port,
        "dashboard_agent_listen_port": None,
        "include_dashboard": False,
    }
    cluster, _ = start_cluster(head, [{"num_cpus": 1}], "the two-node cluster")
    try:
        out.mkdir(parents=True, exist_ok=True)
        ray.init(address=cluster.address, logging_level="WARNING")
        log = drive(out, cluster.address)
        log["nodes"] = len(ray.nodes())
        (out / "log.json").write_text(json.dumps(log))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
