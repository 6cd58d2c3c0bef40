"""Does a long run leak? Resident memory of the driver and every actor over many rounds.

Runs a small scenario (digits, logistic regression, 100 clients, 10 per round) for 1,000
rounds with everything a real run writes (TensorBoard, Parquet, a checkpoint every 10
rounds), and every `--every` rounds reads the resident set size (VmRSS in
/proc/PID/status) of the driver, the Aggregator and each Worker.

    python benchmarks/soak.py [--rounds 1000] [--every 100] [--set path=value ...]

Prints a table (MiB) and each process's growth from the first sample to the last: the
first sample is taken after `--every` rounds, once allocators and caches have warmed up.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import fedray
import fedray.api
from fedray.progress import Progress

ACTORS = ("ray::Aggregator", "ray::Worker", "ray::ClientStateStore")
SCENARIO = {
    "name": "soak",
    "seed": 0,
    "federation": {"population": 100, "clients_per_round": 10},
    "data": {"dataset": "digits", "partition": {"type": "dirichlet", "alpha": 0.5}},
    "model": {"type": "logreg"},
    "client": {"epochs": 1, "batch_size": 16, "lr": 0.1},
    "evaluation": {"every": 10, "federated_every": 50, "federated_clients": 10},
    "output": {"checkpoint_every": 10},
    "resources": {"num_workers": 2, "num_cpus": 1},
}


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(root: int) -> list[int]:
    """Every live process below `root` (Ray's daemons, then its workers)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def actor_processes() -> dict[str, int]:
    """'Aggregator', 'Worker 0', ... -> pid, for this driver's actors (by process title)."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        for name in ACTORS:
            if title.startswith(name):
                found.append((name.removeprefix("ray::"), pid))
    counts: dict[str, int] = {}
    labels = {}
    for name, pid in sorted(found):
        index = counts.get(name, 0)
        counts[name] = index + 1
        labels[name if name != "Worker" else f"Worker {index}"] = pid
    return labels


class Sampler(Progress):
    """The run's progress hook, sampling memory every `every` rounds."""

    every = 100
    samples: list[tuple[int, float, dict[str, float]]] = []  # (round, seconds, label -> MiB)
    started = 0.0

    def __init__(self, total: int, done: int, enabled=None, unit: str = "round"):
        super().__init__(total, done, enabled=False, unit=unit)

    def update(self, row: dict) -> None:
        super().update(row)
        if row["round"] % self.every == 0:
            mem = {"driver": rss_mib(os.getpid())}
            mem.update({k: rss_mib(pid) for k, pid in actor_processes().items()})
            elapsed = time.perf_counter() - Sampler.started
            Sampler.samples.append((row["round"], elapsed, mem))
            print(f"round {row['round']:5d}  {elapsed:7.1f} s  {_fmt(mem)}", flush=True)


def _fmt(mem: dict) -> str:
    return "  ".join(f"{k} {v:.1f}" for k, v in mem.items() if v is not None)


def report(samples: list, total_seconds: float, rounds: int) -> None:
    labels = list(dict.fromkeys(k for _, _, m in samples for k in m))
    print()
    print("| round | seconds | " + " | ".join(f"{k} MiB" for k in labels) + " | total MiB |")
    print("|---:|---:|" + "---:|" * (len(labels) + 1))
    for round_, seconds, mem in samples:
        cells = [f"{mem[k]:.1f}" if mem.get(k) is not None else "-" for k in labels]
        total = sum(v for v in mem.values() if v is not None)
        print(f"| {round_} | {seconds:.0f} | " + " | ".join(cells) + f" | {total:.1f} |")
    first, last = samples[0][2], samples[-1][2]
    print()
    for k in [*labels, "total"]:
        a = sum(v for v in first.values() if v) if k == "total" else first.get(k)
        b = sum(v for v in last.values() if v) if k == "total" else last.get(k)
        if a and b:
            print(
                f"{k:>10}: {a:7.1f} -> {b:7.1f} MiB  ({(b - a) / a * 100:+.1f}% from round "
                f"{samples[0][0]} to {samples[-1][0]})"
            )
    print(
        f"\n{rounds} rounds in {total_seconds:.0f} s ({total_seconds / rounds * 1000:.0f} ms/round)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100, help="sample memory every k rounds")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    Sampler.every = args.every
    # The run's progress bar is its per-round hook; this one samples memory instead.
    fedray.api.Progress = Sampler
    with tempfile.TemporaryDirectory() as out:
        Sampler.started = time.perf_counter()
        fedray.run(SCENARIO, [f"rounds={args.rounds}", *args.overrides], out=Path(out) / "run")
        seconds = time.perf_counter() - Sampler.started
    if Sampler.samples:
        report(Sampler.samples, seconds, args.rounds)


if __name__ == "__main__":
    main()
