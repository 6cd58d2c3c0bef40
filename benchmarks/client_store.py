"""The client state store at the issue's size: 100,000 participants of 10,000 floats each.

    python benchmarks/client_store.py [--participants 100000] [--dim 10000] [--cohort 10000]
                                      [--revisits 5] [--checkpoint-every 2] [--dir DIR]

The store actor (`fedray.server.client_state.ClientStateStore`, the one SCAFFOLD's
variates and error-feedback residuals live in) runs in a Ray actor, as in a run. The first
participants / cohort rounds bring fresh clients (so every participant ends up in the
store), then `--revisits` rounds draw cohorts at random among them, which kills rows and
makes the store compact. Each round does what a run does: the cohort's rows are read in two
worker shares, then the cohort's deltas are added; every `--checkpoint-every` rounds the
store is checkpointed (hard links). Per round it prints seconds for reads, the add and the
checkpoint, the disk the live store takes, and the peak resident memory (VmHWM, reset each
round) of the driver and of the store actor: both should follow the cohort (one round is
cohort x dim x 4 bytes), never the participants.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from fedray.server.client_state import ClientStateStore


def _vm(key: str) -> int:
    """This process's /proc status field `key` in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return 0


def _reset_peak() -> None:
    """Start a new VmHWM window (Linux: writing 5 to clear_refs resets the peak RSS)."""
    Path("/proc/self/clear_refs").write_text("5")


class ProbedStore(ClientStateStore):
    def peak_mb(self, reset: bool) -> tuple[int, int]:
        peak, rss = _vm("VmHWM"), _vm("VmRSS")
        if reset:
            _reset_peak()
        return peak, rss


def _du(path: Path) -> int:
    """MB the files under `path` take (hard links counted once)."""
    seen, total = set(), 0
    for f in path.rglob("*"):
        st = f.stat()
        if f.is_file() and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total // 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--participants", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=10_000)
    ap.add_argument("--cohort", type=int, default=10_000)
    ap.add_argument("--revisits", type=int, default=5)
    ap.add_argument("--checkpoint-every", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where the store writes (default: a temp dir)")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="fedray-store-"))
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    store = ray.remote(ProbedStore).remote(args.dim, str(base / "client_state"))
    rng = np.random.default_rng(0)
    fresh = args.participants // args.cohort
    print(
        f"{args.participants} participants x {args.dim} floats "
        f"({args.participants * args.dim * 4 / 2**30:.1f} GiB of state), "
        f"cohort {args.cohort} ({args.cohort * args.dim * 4 / 2**20:.0f} MiB a round)"
    )
    print("round  held    read s  add s  ckpt s  live MB  driver peak MB  actor peak MB")
    try:
        for r in range(1, fresh + args.revisits + 1):
            _reset_peak()
            if r <= fresh:
                cohort = np.arange((r - 1) * args.cohort, r * args.cohort, dtype=np.int64)
            else:
                cohort = np.sort(rng.choice(args.participants, args.cohort, replace=False))
            t0 = time.perf_counter()
            for share in np.array_split(cohort, 2):  # two workers read their shares
                ids, values = ray.get(store.get.remote(share))
                del values
            t1 = time.perf_counter()
            deltas = rng.standard_normal((len(cohort), args.dim), dtype=np.float32)
            held = ray.get(store.add.remote(cohort, deltas))
            del deltas
            t2 = time.perf_counter()
            if r % args.checkpoint_every == 0:
                ray.get(store.save.remote(str(base / "checkpoints" / f"round_{r:07d}.clients")))
                old = base / "checkpoints" / f"round_{r - 2 * args.checkpoint_every:07d}.clients"
                shutil.rmtree(old, ignore_errors=True)  # keep_checkpoints: 2
            t3 = time.perf_counter()
            actor_peak, _ = ray.get(store.peak_mb.remote(reset=True))
            print(
                f"{r:5d}  {held:6d}  {t1 - t0:6.2f}  {t2 - t1:5.2f}  {t3 - t2:6.2f}  "
                f"{_du(base / 'client_state'):7d}  {_vm('VmHWM'):14d}  {actor_peak:13d}",
                flush=True,
            )
        print(f"disk with checkpoints: {_du(base)} MB under {base}")
    finally:
        ray.shutdown()
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
