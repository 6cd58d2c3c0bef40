"""`fedray stress --parallel auto` and `fedray tune` on a two-node Ray cluster.

The cluster lives in a process of its own (`tests/stress_cluster_runs.py`, like
`tests/test_cluster.py`'s): a process joins one Ray only, and this session's is the shared
`ray_cluster`. One module-scoped run of that process serves every test here.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.ray_head import free_ports, head_env, kill_leftovers, private_temp_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster_runs() -> tuple[Path, dict]:
    work = private_temp_dir()  # also RAY_TMPDIR: the Cluster's sessions and address file
    (port,) = free_ports(1)
    path = os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stress_cluster_runs", str(work / "out"), str(port)],
        cwd=ROOT,
        env=head_env(PYTHONPATH=path, RAY_TMPDIR=str(work)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, output[-5000:]
        yield work / "out", json.loads((work / "out" / "log.json").read_text())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        kill_leftovers(work)
        shutil.rmtree(work, ignore_errors=True)


def summaries(out: Path) -> dict[str, dict]:
    return {
        p.parent.parent.name: json.loads(p.read_text()) for p in out.glob("runs/*/*/summary.json")
    }


def test_runs_side_by_side_one_per_node_and_resume_skips_them(cluster_runs):
    out, log = cluster_runs

    runs = summaries(out / "par")

    assert (log["concurrent"], log["resumed"], log["nodes"]) == (0, 0, 2)
    assert sorted(runs) == ["client.lr=0.05", "client.lr=0.2"]
    # 2 free CPUs, 2 runs: a fair share is one worker each, and each run's placement group
    # (one 1-CPU bundle) lands on a node of its own.
    assert [r["num_workers"] for r in runs.values()] == [1, 1]
    assert len({n["node_id"] for r in runs.values() for n in r["nodes"]}) == 2
    assert log["untouched"]  # the second command found both runs done
    cells = pq.read_table(out / "par" / "stress.parquet").to_pylist()
    assert [c["client.lr"] for c in cells] == ["0.05", "0.2"]


def test_tune_grid_with_asha_stops_the_weak_trial_and_keeps_run_dirs(cluster_runs):
    out, log = cluster_runs
    tune = out / "tune"

    rows = pq.read_table(tune / "tune_results.parquet").to_pylist()

    assert log["tune"] == 0
    assert [(r["client.lr"], r["status"]) for r in rows] == [(0.2, "finished"), (0.0001, "stopped")]
    assert rows[0]["rounds"] == 2 and rows[1]["stopped_at_round"] == 1
    assert rows[0]["best_test_accuracy"] > rows[1]["best_test_accuracy"]
    for r in rows:
        run = Path(r["run_dir"])
        assert {"scenario.yaml", "metrics.parquet", "summary.json"} <= {
            p.name for p in run.iterdir()
        }
        assert pq.read_table(run / "metrics.parquet").column("round").to_pylist()[-1] == r["rounds"]
    assert (tune / "tune_results.csv").read_text().count("\n") == 3
    assert list((tune / "tensorboard").rglob("events.out.tfevents.*"))
    # The finished trial is the stress cell client.lr=0.2 run alone in a Tune trial: same bits.
    trial = json.loads((Path(rows[0]["run_dir"]) / "summary.json").read_text())
    assert trial["params_sha256"] == summaries(out / "par")["client.lr=0.2"]["params_sha256"]
