"""A private Ray head for tests: started with `ray start --head --block`, stopped alone.

`ray stop` would stop every Ray on the machine, other test sessions' included. This head
instead runs in its own session with its own `--temp-dir` and ports; stopping it sends
SIGTERM to its `ray start --block` process, which shuts down the processes it started, and
then kills whatever still names that temp dir on its command line (workers the raylet
left). Nothing else on the machine is touched. `start_cluster` starts a
`ray.cluster_utils.Cluster` for the processes that run one. Both try a slow start once more.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ray.cluster_utils import Cluster
from ray.job_submission import JobSubmissionClient
from ray.util.state import list_nodes

from tests.retry import children, kill_new_children, twice

BIN = Path(sys.executable).parent


def free_ports(count: int, low: int = 6400, high: int = 6500) -> list[int]:
    """`count` distinct ports in [low, high) that nothing listens on now, in random order
    (helpers running at the same time then rarely pick the same)."""
    found = []
    for port in random.sample(range(low, high), high - low):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"fewer than {count} free ports in [{low}, {high})")


def private_temp_dir() -> Path:
    # Short: Ray's Unix socket paths under it must stay within 107 characters.
    return Path(tempfile.mkdtemp(prefix="fr-", dir="/tmp"))


def processes_of(temp_dir: Path) -> list[int]:
    """Pids of the processes whose command line names `temp_dir` (Linux /proc)."""
    needle = str(temp_dir).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return pids


def kill_leftovers(temp_dir: Path) -> None:
    """SIGKILL every process of this instance only (see `processes_of`)."""
    for pid in processes_of(temp_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@dataclass(frozen=True)
class Head:
    gcs_address: str  # host:port, for RAY_ADDRESS / --address
    dashboard: str  # http://host:port, for `ray job submit --address`
    temp_dir: Path

    def node_ids(self) -> set[str]:
        """The cluster's nodes, from the dashboard's state API."""
        return {n.node_id for n in list_nodes(address=self.dashboard)}


def _wait_for_dashboard(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{log.read_text()}")
        try:
            JobSubmissionClient(url).get_version()
            if list_nodes(address=url):  # the head's raylet has registered
                return
        except (ConnectionError, RuntimeError):
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"the dashboard at {url} did not answer within {timeout:g} s:\n{log.read_text()}"
    )


def head_env(**extra: str) -> dict:
    """The environment for this head and its clients (`ray job submit`, `fedray run`).

    Ray 2.5x turns token authentication on when ~/.ray/auth_token exists, a file shared by
    every Ray on the machine; these tests turn it off on both sides instead of depending on
    that file, and never take RAY_ADDRESS from the outer shell.
    """
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "RAY_AUTH_MODE": "disabled", **extra}


def start_cluster(head: dict, nodes: list[dict], what: str):
    """A `ray.cluster_utils.Cluster` of a head with `head`'s arguments and one node per entry
    of `nodes`, all registered; a start that fails is undone and tried once more, on another
    GCS port (`tests.retry.twice`). Returns (cluster, the added nodes)."""
    before, attempts = children(), []

    def start():
        args = head if not attempts else {**head, "gcs_server_port": free_ports(1)[0]}
        attempts.append(None)
        cluster = Cluster(initialize_head=True, head_node_args=args)
        attempts[-1] = cluster
        added = [cluster.add_node(**n) for n in nodes]
        cluster.wait_for_nodes()
        return cluster, added

    def undo():
        if attempts and attempts[-1] is not None:
            attempts[-1].shutdown()
        kill_new_children(before)  # what a head or node that failed to register left

    return twice(start, undo, what)


@contextmanager
def ray_head(env: dict, num_cpus: int = 2, num_gpus: int = 2, timeout: float = 90):
    """Start a head with the dashboard (the Jobs server) and yield a `Head`; stop it after.
    A head that does not answer within `timeout` is stopped and started once more.

    `env` is the head's environment, which its jobs' drivers inherit; it should hold
    RAY_AUTH_MODE=disabled like every client of the head (see `head_env`).
    """
    started = []  # each attempt's (process, temp dir, log file), all stopped at the end

    def start() -> Head:
        temp_dir = private_temp_dir()
        gcs, dash, agent, client = free_ports(4)
        cmd = [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={gcs}",
            f"--num-cpus={num_cpus}",
            f"--num-gpus={num_gpus}",  # logical GPUs, as in the session's Ray
            "--object-store-memory=300000000",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}",
            f"--dashboard-agent-listen-port={agent}",
            f"--ray-client-server-port={client}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
        ]
        log_path = temp_dir / "ray-start.log"
        log = open(log_path, "w")  # noqa: SIM115 (closed in _stop)
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append((proc, temp_dir, log))
        head = Head(f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dash}", temp_dir)
        _wait_for_dashboard(head.dashboard, proc, log_path, timeout)
        return head

    try:
        yield twice(start, lambda: _stop(*started[-1]), "the private Ray head")
    finally:
        for attempt in started:
            _stop(*attempt)


def _stop(proc: subprocess.Popen, temp_dir: Path, log) -> None:
    """Stop one `ray start --block` and whatever names its temp dir; safe to call twice."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    kill_leftovers(temp_dir)
    log.close()
    shutil.rmtree(temp_dir, ignore_errors=True)
