"""A run's fixed costs: wall time, and the CPU time of the driver and of every Ray process.

    python benchmarks/startup.py [SCENARIO] [--set path=value ...] [--repeat N]

Runs `fedray run SCENARIO` (default: the quickstart) in a child process N times and prints,
per run: the wall time end to end, `startup_seconds` (Ray running to round 1 beginning),
and the CPU seconds of the whole process tree, the driver apart (sampled every 0.1 s from
/proc, Linux). On a machine shared with other jobs wall times stretch with the load; CPU
seconds much less, so compare two trees by CPU, side by side:
`cd /path/to/other/tree && PYTHONPATH=. python /path/to/benchmarks/startup.py`: Ray puts
the working directory first on its workers' path, so `PYTHONPATH` alone would change only
the driver's tree, not the actors'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int) -> dict[int, float]:
    """pid -> CPU seconds (user + system) of `root` and every process below it."""
    parent, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICK
    out = {}
    for pid in parent:
        p = pid
        while p in parent and p != root and p > 1:
            p = parent[p]
        if p == root:
            out[pid] = cpu[pid]
    return out


def _name(pid: int) -> str:
    """A process's kind: Ray's own title (ray::Worker, raylet, gcs_server, ...) or its program."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    first = argv[0].decode(errors="replace")
    if first.startswith("ray::"):
        return first.split()[0]
    words = [Path(a.decode(errors="replace")).name for a in argv if a]
    if not words:
        return "?"
    if words[0].startswith("python"):  # the script: the first argument that is not a flag
        words = [w for w in words[1:] if not w.startswith("-")] or words
    return words[0].removesuffix(".py")


def measure(scenario: str, overrides: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="fedray-startup-")) / "run"
    cmd = [sys.executable, "-m", "fedray.cli", "run", scenario, "--out", str(out), "--no-progress"]
    for o in overrides:
        cmd += ["--set", o]
    seen: dict[int, float] = {}
    names: dict[int, str] = {}
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sample():
        while child.poll() is None:
            for pid, c in _tree_cpu(child.pid).items():
                seen[pid] = max(seen.get(pid, 0.0), c)
                if names.get(pid, "?") in ("?", "default_worker", "ray::IDLE"):
                    names[pid] = _name(pid)  # a worker retitles itself once it hosts an actor
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    wall = time.perf_counter() - start
    sampler.join()
    if code != 0:
        raise SystemExit(f"fedray run exited {code}: {' '.join(cmd)}")
    summary = json.loads((out / "summary.json").read_text())
    driver = seen.pop(child.pid, 0.0)
    kinds: dict[str, float] = {}
    for pid, c in seen.items():
        kinds[names.get(pid, "?")] = kinds.get(names.get(pid, "?"), 0.0) + c
    return {
        "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "wall": wall,
        "startup": summary["startup_seconds"],
        "driver_cpu": driver,
        "ray_cpu": sum(seen.values()),
        "accuracy": summary["final_test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "quickstart.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        r = measure(args.scenario, args.overrides)
        print(
            f"wall {r['wall']:.1f} s, startup_seconds {r['startup']:.2f}, CPU: driver "
            f"{r['driver_cpu']:.1f} s + Ray processes {r['ray_cpu']:.1f} s = "
            f"{r['driver_cpu'] + r['ray_cpu']:.1f} s, final accuracy {r['accuracy']:.4f} "
            f"(load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)",
            flush=True,
        )
        print("  Ray CPU by process: " + ", ".join(f"{k} {v:.1f}" for k, v in r["kinds"].items()))


if __name__ == "__main__":
    main()
