"""How many fedray runs fit on a Ray cluster at once, and how many workers each gets.

Pure arithmetic over what Ray reports (`ray.available_resources()`, `ray.nodes()`), shared by
`fedray stress --parallel auto` and `fedray tune`; no call to Ray here (`fedray.slots`
reserves what these functions decide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedray.client.pool import capacity_per_node


@dataclass(frozen=True)
class Share:
    runs: int  # runs at once
    workers: int  # workers per run


def worker_capacity(free: dict, nodes: list[dict], num_cpus: float, num_gpus: float) -> int:
    """Workers of (num_cpus, num_gpus) that fit in the free resources now.

    `free` is `ray.available_resources()` (whole-cluster totals, net of other jobs); the
    per-node capacity of `nodes` (`ray.nodes()`) caps it, since a worker cannot straddle
    two nodes (two nodes with 1.5 free CPUs each hold two 1-CPU workers, not three).
    """
    fits = [sum(capacity_per_node(nodes, num_cpus, num_gpus))]
    for key, need in (("CPU", num_cpus), ("GPU", num_gpus)):
        if need > 0:
            fits.append(math.floor(free.get(key, 0.0) / need + 1e-9))
    return max(min(fits), 0)


def share(
    capacity: int, *, todo: int, wanted: int | str, useful: int, parallel: int | str = "auto"
) -> Share:
    """Split `capacity` workers among runs; raise ValueError when not even one run fits.

    Args:
        capacity: workers that fit now (`worker_capacity`).
        todo: runs still to do (no more slots than that).
        wanted: `resources.num_workers`: a fixed pool size, or "auto" for a fair share.
        useful: the most workers a run can keep busy (its cohort, `clients_per_round`).
        parallel: at most this many runs at once, or "auto" (as many as fit).

    With a fixed pool, as many runs as hold `wanted` workers each go at once. With "auto",
    every run gets at least one worker and the capacity is shared evenly among the runs
    that go at once: 4 free CPUs and 8 runs give 4 runs of 1 worker, 2 runs give 2 of 2.
    """
    if capacity < 1:
        raise ValueError(
            "no worker fits in the cluster's free resources now (other jobs may hold them); "
            "lower resources.num_cpus / num_gpus, or wait for them"
        )
    if wanted != "auto" and wanted > capacity:
        raise ValueError(
            f"resources.num_workers={wanted} but only {capacity} workers fit in the free "
            "resources now; lower num_workers, or use num_workers: auto for a fair share"
        )
    limit = max(todo, 1) if parallel == "auto" else min(parallel, max(todo, 1))
    runs = max(1, min(capacity // (1 if wanted == "auto" else wanted), limit))
    if wanted != "auto":
        return Share(runs, wanted)
    return Share(runs, max(1, min(useful, capacity // runs)))


def parse_parallel(text: str | int) -> int | str:
    """`--parallel`: "auto" or a count >= 1; raise ValueError saying what was received."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or str(text).strip() != str(value):
        raise ValueError(f"--parallel: expected auto or a whole number >= 1 (got {text!r})")
    return value
