"""A driver killed outright (SIGKILL) between two checkpoints, then `fedray run --resume`:
the same bits as a run never interrupted, and every round's rows exactly once."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import fedray
from fedray.output import params_sha256
from tests.factories import tiny

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Killed once round 3's checkpoint is written: round 6's is the next, which the resume writes.
ROUNDS = 6
SCENARIO = tiny(
    rounds=ROUNDS,
    output={"checkpoint_every": 3},
    resources={"num_workers": 1, "num_cpus": 1},
    evaluation={"every": 1, "federated_every": 2, "federated_clients": 4},
)


def fedray_cli(*args, marker: str) -> subprocess.Popen:
    """`fedray ...` in its own session, its processes (Ray's too) tagged by `marker`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FEDRAY_TEST_SESSION": marker}
    return subprocess.Popen(
        [sys.executable, "-m", "fedray.cli", *args, "--no-progress"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def tagged(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (Ray's daemons and workers inherit it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "environ").read_bytes():
                if (proc / "stat").read_text().split(")")[-1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def survivors(marker: str, patience: float = 60) -> list[int]:
    """Processes tagged `marker` still alive after `patience` seconds; killed, so a failing
    test leaves nothing behind."""
    deadline = time.monotonic() + patience
    while tagged(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = tagged(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.01)


def test_sigkill_between_checkpoints_then_resume_gives_the_same_bits(ray_cluster, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    out, marker = tmp_path / "run", uuid.uuid4().hex
    # The uninterrupted reference runs on the session's Ray meanwhile, in a thread: the
    # commands below spend most of their time starting Python and a Ray of their own.
    with ThreadPoolExecutor(1) as background:
        uninterrupted = background.submit(fedray.run, SCENARIO, out=tmp_path / "reference")
        driver = fedray_cli("run", str(path), "--out", str(out), marker=marker)
        try:
            wait_for(out / "checkpoints" / "round_0000003.npz", driver)
        finally:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it embeds, at once
            driver.wait()
        assert not survivors(marker), "processes of the killed run still alive"
        assert not (out / "summary.json").exists()  # it was killed mid-run

        resumed = fedray_cli("run", "--resume", str(out), marker=marker)
        stdout, stderr = resumed.communicate(timeout=300)
        reference = uninterrupted.result()

    assert resumed.returncode == 0, stderr.decode()[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params_sha256"] == params_sha256(reference.params)
    metrics = pq.read_table(out / "metrics.parquet").to_pylist()
    assert [r["round"] for r in metrics] == list(range(1, ROUNDS + 1))
    same = ("train_loss", "test_accuracy", "test_loss", "fed_accuracy_mean", "clients_trained")
    assert [{k: r.get(k) for k in same} for r in metrics] == [
        {k: r.get(k) for k in same} for r in reference.history.to_pylist()
    ]
    keep = ["round", "client_id", "status", "num_examples", "train_loss", "update_norm"]
    clients = pq.read_table(out / "clients.parquet").select(keep)
    expected = pq.read_table(tmp_path / "reference" / "clients.parquet").select(keep)
    assert clients.to_pylist() == expected.to_pylist()  # each (round, client) row once
    assert not survivors(marker)
