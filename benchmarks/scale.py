"""How a round's cost grows with the cohort and the population: W1's model at scale.

    python benchmarks/scale.py [--populations 1e4,1e5,1e6] [--cohorts 1e2,1e3,1e4] [--rounds 3]
        [--json cells.json] [--plot docs/scale.png] [--replot]

Each cell runs `scenarios/w1_synthetic.yaml` (Synthetic(1,1), logistic regression, one
local epoch, batch 10) in its own process with its own local Ray, so that memory figures
belong to that cell alone. It reports seconds per round (the mean over rounds 2.., round 1
carries one-time costs), client updates per second, and the peak resident memory (VmHWM)
of the driver and of the largest Ray actor, read from /proc (Linux). Cost should be linear
in the cohort and flat in the population. `--json` keeps the cells; `--plot` draws the two
cost curves (seconds a round against the cohort, one line per population; against the
population, one line per cohort), from this run, or with `--replot` from an earlier `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "w1_synthetic.yaml"


def _status(pid: int, key: str) -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> dict[int, str]:
    """pid -> process title of every process below `root` (Ray's are the driver's)."""
    parent, title = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out = {}
    for pid in parent:
        p = pid
        while p in parent and p != root and p > 1:
            p = parent[p]
        if p == root and pid != root:
            out[pid] = title.get(pid, "")
    return out


class ActorPeak(threading.Thread):
    """Polls the resident memory of this process's Ray actors (Worker, Aggregator)."""

    def __init__(self, every: float = 0.5):
        super().__init__(daemon=True)
        self.every, self.peak_kb, self.done = every, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid, title in _descendants(os.getpid()).items():
                if "ray::Worker" in title or "ray::Aggregator" in title:
                    self.peak_kb = max(self.peak_kb, _status(pid, "VmRSS"))
            self.done.wait(self.every)


def cell(population: int, cohort: int, rounds: int) -> dict:
    """Run one cell in this process; return its figures."""
    import tempfile

    import fedray

    watcher = ActorPeak()
    watcher.start()
    with tempfile.TemporaryDirectory() as out:
        result = fedray.run(
            SCENARIO,
            {
                "federation.population": population,
                "federation.clients_per_round": cohort,
                "rounds": rounds,
                "evaluation.every": rounds,
                "output.tensorboard": False,
            },
            out=Path(out) / "run",
            progress=False,
        )
    watcher.done.set()
    watcher.join()
    walls = result.history.column("wall_seconds").to_pylist()
    steady = walls[1:] or walls
    per_round = sum(steady) / len(steady)
    return {
        "population": population,
        "cohort": cohort,
        "seconds_per_round": per_round,
        "updates_per_second": cohort / per_round,
        "startup_seconds": result.summary["startup_seconds"],
        "vectorized": result.summary.get("vectorized"),
        "driver_peak_mb": _status(os.getpid(), "VmHWM") / 1024,
        "actor_peak_mb": watcher.peak_kb / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--populations", default="1e4,1e5,1e6")
    parser.add_argument("--cohorts", default="1e2,1e3,1e4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the cells here")
    parser.add_argument("--plot", type=Path, help="draw the cost curves to this image")
    parser.add_argument(
        "--replot", action="store_true", help="run nothing: draw --plot from the cells in --json"
    )
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # population,cohort: run one here
    args = parser.parse_args()
    if args.cell:
        population, cohort = (int(float(v)) for v in args.cell.split(","))
        print(json.dumps(cell(population, cohort, args.rounds)))
        return
    if args.replot:
        if not (args.plot and args.json and args.json.exists()):
            parser.error("--replot draws --plot PNG from --json FILE, an earlier run's cells")
        plot(json.loads(args.json.read_text()), args.plot)
        return
    cells = grid(args)
    if args.json:
        args.json.write_text(json.dumps(cells, indent=1))
    if args.plot:
        plot(cells, args.plot)


def plot(cells: list[dict], path: Path) -> None:
    """Seconds a round against the cohort (a line per population) and against the
    population (a line per cohort), log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_cohort, by_population) = plt.subplots(1, 2, figsize=(10, 4))
    for key, other, ax in (
        ("cohort", "population", by_cohort),
        ("population", "cohort", by_population),
    ):
        for value in sorted({c[other] for c in cells}):
            line = sorted((c[key], c["seconds_per_round"]) for c in cells if c[other] == value)
            ax.plot(*zip(*line), marker="o", label=f"{other} {value:,}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{key} (clients)")
        ax.set_ylabel("seconds a round")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    by_cohort.set_title("linear in the cohort")
    by_population.set_title("flat in the population")
    fig.suptitle("W1's model, 2 workers (benchmarks/scale.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def grid(args) -> list[dict]:
    """Run every (population, cohort) cell with cohort <= population, each in a child
    process; print the table as it goes; return the cells."""
    cells = []
    populations = [int(float(v)) for v in args.populations.split(",")]
    cohorts = [int(float(v)) for v in args.cohorts.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds a cell", flush=True)
    header = "| population | cohort | s/round | updates/s | start-up s | driver MB | actor MB |"
    print(header + "\n|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for population in populations:
        for cohort in cohorts:
            if cohort > population:
                continue
            started = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--cell",
                    f"{population},{cohort}",
                    "--rounds",
                    str(args.rounds),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if proc.returncode != 0:
                print(f"| {population:,} | {cohort:,} | failed: {proc.stderr.strip()[-300:]} |")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            cells.append(r)
            print(
                f"| {population:,} | {cohort:,} | {r['seconds_per_round']:.2f} | "
                f"{r['updates_per_second']:,.0f} | {r['startup_seconds']:.1f} | "
                f"{r['driver_peak_mb']:.0f} | {r['actor_peak_mb']:.0f} |"
                f"  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return cells


if __name__ == "__main__":
    main()
