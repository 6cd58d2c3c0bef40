"""Placing Worker actors on the cluster and sharing a round's cohort among them.

Two modes. cross-device (population larger than the pool): a few workers multiplex the
virtual clients, each call carrying one worker's share of the cohort, balanced by size.
cross-silo (the population fits): one actor per client, pinned to its resources and
holding its data for the whole run.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, WorkerCrashedError

from fedray.client.worker import Worker

WORKER_LOST = (ActorDiedError, ActorUnavailableError, WorkerCrashedError)


@dataclass(frozen=True)
class PoolPlan:
    num_workers: int
    mode: str  # "cross-device" or "cross-silo"
    capacity: int  # how many workers of this size the cluster holds at once


def capacity_per_node(nodes: list[dict], num_cpus: float, num_gpus: float) -> list[int]:
    """How many workers of (num_cpus, num_gpus) fit on each alive node."""
    out = []
    for node in nodes:
        if not node.get("Alive", True):
            continue
        res = node.get("Resources", {})
        fits = math.floor(res.get("CPU", 0) / num_cpus + 1e-9) if num_cpus > 0 else math.inf
        if num_gpus > 0:
            fits = min(fits, math.floor(res.get("GPU", 0) / num_gpus + 1e-9))
        out.append(int(fits) if fits != math.inf else 0)
    return out


def plan_pool(resources, population: int, clients_per_round: int, nodes: list[dict]) -> PoolPlan:
    """Decide how many workers to start; raise ValueError naming the numbers when none fit."""
    per_node = capacity_per_node(nodes, resources.num_cpus, resources.num_gpus)
    capacity = sum(per_node)
    totals = {
        k: sum(n.get("Resources", {}).get(k, 0) for n in nodes if n.get("Alive", True))
        for k in ("CPU", "GPU")
    }
    if capacity == 0:
        raise ValueError(
            f"no worker fits: each asks num_cpus={resources.num_cpus}, num_gpus={resources.num_gpus}, "
            f"and the cluster's nodes have {totals['CPU']:g} CPUs and {totals['GPU']:g} GPUs in all "
            f"(per node: {per_node}); lower resources.num_cpus / resources.num_gpus or add nodes"
        )
    wanted = resources.num_workers
    if wanted != "auto" and wanted > capacity:
        raise ValueError(
            f"resources.num_workers={wanted} but only {capacity} workers of num_cpus={resources.num_cpus}, "
            f"num_gpus={resources.num_gpus} fit ({totals['CPU']:g} CPUs, {totals['GPU']:g} GPUs); "
            "lower num_workers or the per-worker resources, or use num_workers: auto"
        )
    if wanted == "auto" and population <= capacity:
        return PoolPlan(population, "cross-silo", capacity)
    count = min(capacity, clients_per_round) if wanted == "auto" else wanted
    return PoolPlan(count, "cross-device", capacity)


def balance(client_ids: np.ndarray, sizes: np.ndarray, num_workers: int) -> list[list[int]]:
    """Share clients among workers, largest first onto the least-loaded (LPT); each share sorted."""
    loads = [(0, w) for w in range(num_workers)]
    shares: list[list[int]] = [[] for _ in range(num_workers)]
    for i in np.argsort(-np.asarray(sizes), kind="stable"):
        load, w = heapq.heappop(loads)
        shares[w].append(int(client_ids[i]))
        heapq.heappush(loads, (load + max(int(sizes[i]), 1), w))
    return [sorted(s) for s in shares]


class WorkerPool:
    """The live Worker actors of one run."""

    def __init__(self, scenario_plain: dict, plan: PoolPlan, resources):
        self.plan = plan
        actor = ray.remote(Worker).options(
            num_cpus=resources.num_cpus,
            num_gpus=resources.num_gpus,
            max_restarts=resources.max_retries,
        )
        silo = plan.mode == "cross-silo"
        self.actors = [
            actor.remote(scenario_plain, [w] if silo else None) for w in range(plan.num_workers)
        ]
        self.max_retries = resources.max_retries

    def shares(self, cohort: np.ndarray, sizes: np.ndarray) -> list[list[int]]:
        if self.plan.mode == "cross-silo":  # actor i holds client i
            shares = [[] for _ in self.actors]
            for cid in cohort:
                shares[int(cid)].append(int(cid))
            return shares
        return balance(cohort, sizes, len(self.actors))

    def train(self, params_ref, round_: int, cohort: np.ndarray, sizes: np.ndarray):
        """Train the cohort; return (update refs for the Aggregator, client records, failed ids).

        Only the small records come back to the driver; the update batches stay in the
        object store until the Aggregator reads them. A share whose worker died is sent
        again, up to `max_retries` times, to the next worker; training is a pure function
        of (seed, round, client), so a retried client gives the same bits.
        """
        pending = {w: s for w, s in enumerate(self.shares(cohort, sizes)) if s}
        update_refs, records, failed = [], [], []
        for attempt in range(self.max_retries + 1):
            calls = {}
            for w, share in pending.items():
                target = self.actors[(w + attempt) % len(self.actors)]
                calls[w] = target.train.options(num_returns=2).remote(params_ref, round_, share)
            pending_next = {}
            for w, (update_ref, record_ref) in calls.items():
                try:
                    records.extend(ray.get(record_ref))
                    update_refs.append(update_ref)
                except WORKER_LOST:
                    pending_next[w] = pending[w]
            pending = pending_next
            if not pending:
                break
        for share in pending.values():
            failed.extend(share)
        # Client order must not depend on the worker count: sums over records are order-sensitive.
        return update_refs, sorted(records, key=lambda r: r["client_id"]), sorted(failed)

    def evaluate(self, params_ref, client_ids: np.ndarray) -> list[dict]:
        shares = self.shares(client_ids, np.ones(len(client_ids)))
        refs = [a.evaluate.remote(params_ref, s) for a, s in zip(self.actors, shares) if s]
        return sorted((r for part in ray.get(refs) for r in part), key=lambda r: r["client_id"])

    def info(self) -> list[dict]:
        return ray.get([a.info.remote() for a in self.actors])

    def shutdown(self) -> None:
        for a in self.actors:
            ray.kill(a)
        self.actors = []
