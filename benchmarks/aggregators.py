"""How long does each robust aggregation rule take? Seconds per aggregation, as a Markdown table.

    python benchmarks/aggregators.py [--n 100 1000] [--d 10000 1000000] [--repeat 5]

Every registered defense, plus Krum over buckets of 2, runs on n standard-normal float32
updates of d parameters where f = 10% of them are scaled by 1000 (the assumed count given
to the rules that take one). Each rule is warmed up on a narrow slice first; small cells
report the best of `--repeat` runs, cells of more than 10^7 values a single run. A cell
whose rule would not fit in the memory available now prints "skipped (memory)" instead of
crashing. Timings on a shared machine are noisy: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

from fedray.defenses import DEFENSES, RoundContext, compose, with_bucketing
from fedray.defenses.common import Assumed

BUCKETED = "krum + bucketing (s=2)"
MIXED = "krum after nnm"
# Scratch a rule may need beyond the update matrix: its column/row blocks (a few times
# 256 MiB) and, for bucketing, the bucket means (half the matrix).
SCRATCH_BYTES = 2 * 2**30


def available_bytes() -> int:
    """Return MemAvailable from /proc/meminfo, or a huge number where there is none."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2**62


def make_cohort(n: int, d: int, f: int, seed: int = 0) -> np.ndarray:
    """Return (n, d) float32 N(0, 1) updates whose first f rows are scaled by 1000."""
    updates = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    updates[:f] *= 1000.0
    return updates


def rules() -> dict:
    """Name -> (fn, params class) for every rule in the table."""
    table = {name: (entry.fn, entry.params) for name, entry in DEFENSES.items()}
    table[BUCKETED] = (with_bucketing(DEFENSES["krum"].fn, 2), DEFENSES["krum"].params)
    table[MIXED] = (compose([("nnm", Assumed())], DEFENSES["krum"].fn), DEFENSES["krum"].params)
    return table


def params_for(cls: type, f: int):
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(f=f) if "f" in names else cls()


def _context(d: int) -> RoundContext:
    return RoundContext(
        np.random.default_rng(1),
        previous=np.zeros(d, dtype=np.float32),
        reference=np.ones(d, dtype=np.float32),
    )


def time_rule(fn, params, updates: np.ndarray, repeat: int) -> float:
    n, d = updates.shape
    ctx = _context(d)
    weights = np.ones(n)
    fn(updates[:, :1000], weights, params, _context(1000))  # warm-up: BLAS threads, imports
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn(updates, weights, params, ctx)
        best = min(best, time.perf_counter() - start)
    return best


def run_cell(n: int, d: int, repeat: int) -> dict[str, str]:
    """Return rule name -> formatted seconds (or the reason for a skip) for one (n, d)."""
    f = n // 10
    table = rules()
    matrix_bytes = n * d * 4
    if available_bytes() < matrix_bytes + SCRATCH_BYTES:
        return dict.fromkeys(table, "skipped (memory)")
    updates = make_cohort(n, d, f)
    repeat = repeat if n * d <= 10**7 else 1
    cells = {}
    for name, (fn, cls) in table.items():
        extra = matrix_bytes // 2 if name == BUCKETED else 0
        if available_bytes() < SCRATCH_BYTES + extra:
            cells[name] = "skipped (memory)"
            continue
        print(f"  n={n} d={d:.0e} {name} ...", file=sys.stderr, flush=True)
        try:
            cells[name] = f"{time_rule(fn, params_for(cls, f), updates, repeat):.3f}"
        except MemoryError:
            cells[name] = "skipped (memory)"
        except ValueError:  # a rule that refuses the size (MDA's exact search)
            cells[name] = "refused (size)"
    del updates
    return cells


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--d", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    grid = [(n, d) for n in args.n for d in args.d]
    load_before = os.getloadavg()[0]
    columns = {cell: run_cell(*cell, args.repeat) for cell in grid}
    load_after = os.getloadavg()[0]
    header = ["rule"] + [f"n={n}, d={d:.0e}".replace("e+0", "e") for n, d in grid]
    print("seconds per aggregation (f = 10% of n)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in rules():
        print("| " + " | ".join([name] + [columns[cell][name] for cell in grid]) + " |")
    print(
        f"\n{os.cpu_count()} CPUs; 1-minute load average {load_before:.1f} before, "
        f"{load_after:.1f} after (above 0 means other work shared the CPUs)"
    )


if __name__ == "__main__":
    main()
