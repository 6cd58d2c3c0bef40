"""A stress grid one run at a time against `--parallel auto`, in one process on one Ray.

    python benchmarks/stress_parallel.py [SCENARIO] [--grid client.lr=0.02,0.05,0.1,0.2]
        [--set path=value ...] [--repeat 1] [--out runs/bench-stress-parallel]

Both modes run the same grid back to back (A B, repeated), against the same local Ray, so
the machine's load weighs on both alike; wall seconds and the ratio are printed as a
Markdown table with the load average, and the final parameters of the two are compared
(they must be bitwise equal). On a shared machine, read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import ray

from fedray.api import _connect
from fedray.stress import parse_grid, run_matrix


def hashes(out: Path) -> list[str]:
    paths = sorted(out.glob("runs/*/*/summary.json"))
    return [json.loads(p.read_text())["params_sha256"] for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?", default="scenarios/sweep_digits.yaml")
    parser.add_argument("--grid", action="append", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default="runs/bench-stress-parallel")
    args = parser.parse_args()
    axes = parse_grid(args.grid or ["client.lr=0.02,0.05,0.1,0.2"])
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    _connect(None)
    cpus = ray.cluster_resources().get("CPU", 0)
    rows = []
    try:
        for rep in range(args.repeat):
            seconds = {}
            for mode in (1, "auto"):
                target = out / f"{rep}-{mode}"
                started = time.perf_counter()
                run_matrix(
                    args.scenario,
                    axes,
                    out=target,
                    overrides=args.overrides,
                    progress=False,
                    parallel=mode,
                )
                seconds[mode] = time.perf_counter() - started
            same = hashes(out / f"{rep}-1") == hashes(out / f"{rep}-auto")
            rows.append((rep, seconds[1], seconds["auto"], same, os.getloadavg()[0]))
    finally:
        ray.shutdown()
    cells = len(hashes(out / "0-1"))
    sets = " ".join(f"--set {o}" for o in args.overrides)
    print(f"{cells} runs of {args.scenario} {sets} on local Ray ({cpus:g} CPUs)\n")
    print("| repeat | one at a time (s) | --parallel auto (s) | ratio | same bits | load avg |")
    print("|---|---:|---:|---:|---|---:|")
    for rep, seq, par, same, load in rows:
        print(f"| {rep} | {seq:.1f} | {par:.1f} | {seq / par:.2f}x | {same} | {load:.1f} |")


if __name__ == "__main__":
    main()
