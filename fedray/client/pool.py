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
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    GetTimeoutError,
    WorkerCrashedError,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from fedray import backend
from fedray.calls import split_ready
from fedray.client.vectorized import block_size_for, blocks
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
    """Decide how many workers to start; raise ValueError naming the numbers when none fit.

    `nodes` is `ray.nodes()`: what each node has, whoever uses it now (see `check_free`).
    """
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
        plan = PoolPlan(population, "cross-silo", capacity)
    else:
        count = min(capacity, clients_per_round) if wanted == "auto" else wanted
        plan = PoolPlan(count, "cross-device", capacity)
    return plan


def check_free(plan: PoolPlan, resources, free: dict) -> None:
    """Raise ValueError if `free` (`ray.available_resources()`) cannot hold the whole pool now,
    so that no actor waits forever behind another job's."""
    need = {
        "CPU": plan.num_workers * resources.num_cpus,
        "GPU": plan.num_workers * resources.num_gpus,
    }
    short = {k: v for k, v in need.items() if v > free.get(k, 0.0) + 1e-9}
    if short:
        have = ", ".join(f"{free.get(k, 0.0):g} {k}s free" for k in short)
        raise ValueError(
            f"{plan.num_workers} workers need {', '.join(f'{v:g} {k}s' for k, v in short.items())} "
            f"but the cluster has {have} (other jobs hold the rest); set resources.num_workers lower, "
            "or wait for them"
        )


def balance(client_ids: np.ndarray, sizes: np.ndarray, num_workers: int) -> list[list[int]]:
    """Share clients among workers, largest first onto the least-loaded (LPT); each share sorted."""
    loads = [(0, w) for w in range(num_workers)]
    shares: list[list[int]] = [[] for _ in range(num_workers)]
    for i in np.argsort(-np.asarray(sizes), kind="stable"):
        load, w = heapq.heappop(loads)
        shares[w].append(int(client_ids[i]))
        heapq.heappush(loads, (load + max(int(sizes[i]), 1), w))
    return [sorted(s) for s in shares]


def balance_blocks(
    client_ids: np.ndarray, sizes: np.ndarray, num_workers: int, block_size: int
) -> list[list[int]]:
    """Share whole blocks among workers: the cohort cut into blocks of `block_size` clients
    of like size (`fedray.client.vectorized.blocks`), costliest block first onto the
    least-loaded (LPT).

    A block's cost is its length times its largest client (it is padded to that client's
    steps). Blocks never depend on the worker count, so neither do the bits.
    """
    ids = np.asarray(client_ids)
    order = np.argsort(ids, kind="stable")
    size_of = dict(zip(ids.tolist(), np.asarray(sizes).tolist()))
    cut = blocks(ids[order], block_size, np.asarray(sizes)[order])
    cost = [len(b) * max(max(size_of[int(c)] for c in b), 1) for b in cut]
    per_worker = balance(np.arange(len(cut)), np.asarray(cost), num_workers)
    return [sorted(int(c) for b in share for c in cut[b]) for share in per_worker]


class WorkerPool:
    """The live Worker actors of one run, and how a round's work is sent to them."""

    def __init__(self, scenario_plain: dict, plan: PoolPlan, resources, placement_group=None):
        self.plan = plan
        # In a placement group (runs side by side, `fedray.slots`), each worker takes a bundle.
        if resources.backend == "local":
            self.actors = [
                backend.LocalActor(Worker, scenario_plain, self._own(w))
                for w in range(plan.num_workers)
            ]
        else:
            where = (
                {"scheduling_strategy": PlacementGroupSchedulingStrategy(placement_group, -1)}
                if placement_group is not None
                else {}
            )
            actor = ray.remote(Worker).options(
                num_cpus=resources.num_cpus,
                num_gpus=resources.num_gpus,
                max_restarts=resources.max_retries,
                **where,
            )
            self.actors = [
                actor.remote(scenario_plain, self._own(w)) for w in range(plan.num_workers)
            ]
        # Ray restarts a lost actor with the arguments it was created with: a pool reused for
        # another scenario must re-initialise those (see `_drop_dead`).
        self.created_with = scenario_plain
        self.pids: dict[int, int] = {}  # actor index -> its process, as `info` last saw it
        self._configure(scenario_plain)
        self.max_retries = resources.max_retries
        self.ping_timeout = resources.startup_timeout
        self.call_timeout = resources.call_timeout

    def _own(self, w: int) -> list[int] | None:
        """Cross-silo: worker w holds client w for the whole run."""
        return [w] if self.plan.mode == "cross-silo" else None

    def _configure(self, scenario_plain: dict) -> None:
        self.scenario_plain = scenario_plain
        self.live = list(range(len(self.actors)))  # indices of actors still worth calling
        # Vectorised workers train blocks of the cohort: a share must be whole blocks.
        client = scenario_plain.get("client", {})
        vectorize = client.get("vectorize", "auto") != "off"
        per_round = scenario_plain.get("federation", {}).get("clients_per_round", 1)
        self.block_size = (
            block_size_for(client.get("block_size", "auto"), per_round) if vectorize else 0
        )
        self.faults = {"workers_lost": 0, "workers_timed_out": 0}  # since `take_faults`

    def reuse(self, scenario_plain: dict) -> None:
        """Re-initialise every worker in place for another run's scenario (same resources);
        `info` then waits for them."""
        for w, actor in enumerate(self.actors):
            actor.reset.remote(scenario_plain, self._own(w))
        self._configure(scenario_plain)

    def shares(self, cohort: np.ndarray, sizes: np.ndarray) -> dict[int, list[int]]:
        """Actor index -> the sorted client ids it handles this round."""
        if self.plan.mode == "cross-silo":  # actor i holds client i, while it lives
            out: dict[int, list[int]] = {}
            for cid in map(int, cohort):
                home = cid if cid in self.live else self.live[cid % len(self.live)]
                out.setdefault(home, []).append(cid)
            return out
        if self.block_size:
            parts = balance_blocks(cohort, sizes, len(self.live), self.block_size)
        else:
            parts = balance(cohort, sizes, len(self.live))
        return {self.live[i]: share for i, share in enumerate(parts) if share}

    def _dispatch(self, submit, shares: dict[int, list[int]]):
        """Send each share to its actor; re-send a lost worker's share to the next live actor.

        `submit(actor, share)` returns (payload ref or None, result ref). Returns
        ([(actor index, payload ref, result)], failed client ids). Work is a pure function of
        (seed, round, client), so a re-sent share gives the same bits.
        """
        pending, done, lost, died = dict(shares), [], set(), set()
        for attempt in range(self.max_retries + 1):
            calls = {}
            for w, share in pending.items():
                target = self.live[(self.live.index(w) + attempt) % len(self.live)]
                calls[w] = (target, submit(self.actors[target], share))
            pending_next = {}
            hung = self._unanswered([result for _, (_, result) in calls.values()])
            for i, (w, (target, (payload, result))) in enumerate(calls.items()):
                if i not in hung:
                    try:
                        done.append((target, payload, backend.get(result)))
                        continue
                    except WORKER_LOST:
                        died.add(target)
                lost.add(target)
                pending_next[w] = pending[w]
            self._kill_hung({calls[w][0] for i, w in enumerate(calls) if i in hung})
            pending = pending_next
            if not pending:
                break
        self.faults["workers_lost"] += len(died)
        self._drop_dead(lost)
        return done, sorted(c for share in pending.values() for c in share)

    # Hung workers: a worker that does not answer within resources.call_timeout is lost
    # like a dead one. Ray restarts it (within resources.max_retries) and `_drop_dead`
    # waits for the new process before the pool calls it again.

    def _unanswered(self, results: list) -> set[int]:
        """Indices of `results` not ready within call_timeout (one deadline for all)."""
        return split_ready(results, self.call_timeout)[1]

    def _kill_hung(self, hung: set[int]) -> None:
        for w in sorted(hung):
            self.faults["workers_timed_out"] += 1
            backend.kill(self.actors[w], no_restart=False)

    def take_faults(self) -> dict:
        """Workers lost (died) and timed out (hung, killed) since the last call; reset."""
        out, self.faults = self.faults, dict.fromkeys(self.faults, 0)
        return out

    def _drop_dead(self, suspects: set[int]) -> None:
        """Stop calling actors that are gone for good (restarts used up, node lost)."""
        for w in sorted(suspects):
            try:
                reply = self.actors[w].info.remote()
                pid = backend.get(reply, timeout=self.ping_timeout)["pid"]
                self.pids[w] = pid
                if self.scenario_plain is not self.created_with:  # restarted with old args
                    call = self.actors[w].reset.remote(self.scenario_plain, self._own(w))
                    backend.get(call, timeout=self.ping_timeout)
            except (*WORKER_LOST, GetTimeoutError):
                self.live.remove(w)
        if not self.live:
            raise RuntimeError("every worker was lost; see the Ray logs for why they died")

    def train(
        self,
        params_ref,
        round_: int,
        cohort: np.ndarray,
        sizes: np.ndarray,
        server=None,
        store=None,
        steps: dict | None = None,
    ):
        """Train the cohort (`steps`: {client id: local steps} for the clients cut short by
        the virtual clock); return (update refs for the Aggregator, client records, failed ids,
        holders).

        Only the small records come back to the driver; the update batches stay in the
        object store until the Aggregator reads them. With a client state store (SCAFFOLD),
        each call carries the server's message and only its own share's variates. `holders`
        lists (actor index, client ids it trained): under secure aggregation those clients'
        encoded updates and secrets stay on that actor for the rest of the round.
        """

        def submit(actor, share):
            call = actor.train.options(num_returns=2)
            states = store.rows.remote(share) if store is not None else None
            cut = {c: steps[c] for c in share if c in steps} if steps else None
            return tuple(call.remote(params_ref, round_, share, server, states, cut))

        self._refresh_restarted()
        done, failed = self._dispatch(submit, self.shares(cohort, sizes))
        records = [r for *_, part in done for r in part]
        holders = [
            (w, [r["client_id"] for r in part if r["status"] == "trained"]) for w, _, part in done
        ]
        # Client order must not depend on the worker count: sums over records are order-sensitive.
        records = sorted(records, key=lambda r: r["client_id"])
        return [ref for _, ref, _ in done], records, failed, holders

    def call(self, holders: list, method: str, round_: int, messages=None) -> list:
        """Call `method(round_, message)` on each holder actor (`messages`: one per holder, or
        none). Return the refs, each wrapped in a list so that the receiver resolves it itself:
        a lost actor's reply then fails alone, and its clients count as dropouts."""
        messages = messages if messages is not None else [None] * len(holders)
        return [
            [getattr(self.actors[w], method).remote(round_, *([m] if m is not None else []))]
            for (w, _), m in zip(holders, messages)
        ]

    def evaluate(self, params_ref, client_ids: np.ndarray) -> list[dict]:
        """Evaluate on each client's local test split; a lost share is retried, then left out."""

        def submit(actor, share):
            return None, actor.evaluate.remote(params_ref, share)

        self._refresh_restarted()
        done, _ = self._dispatch(submit, self.shares(client_ids, np.ones(len(client_ids))))
        return sorted((r for *_, part in done for r in part), key=lambda r: r["client_id"])

    def info(self, timeout: float | None = None) -> list[dict]:
        placement = backend.get([a.info.remote() for a in self.actors], timeout=timeout)
        self.pids = {w: p["pid"] for w, p in enumerate(placement)}
        return placement

    def _refresh_restarted(self) -> None:
        """Re-initialise the workers of a reused pool that Ray restarted since it last looked
        (a new pid), wherever they were lost: one lost in a secure-aggregation call is seen
        by the Aggregator only, and Ray restarts it with the first run's scenario."""
        if self.scenario_plain is self.created_with:
            return
        replies = {w: self.actors[w].info.remote() for w in self.live}
        moved = set()
        for w, reply in replies.items():
            try:
                if backend.get(reply, timeout=self.ping_timeout)["pid"] != self.pids.get(w):
                    moved.add(w)
            except (*WORKER_LOST, GetTimeoutError):
                moved.add(w)
        self._drop_dead(moved)

    def shutdown(self) -> None:
        for a in self.actors:
            backend.kill(a)
        self.actors, self.live = [], []


def answered(replies, timeout: float | None = None) -> list:
    """The replies `WorkerPool.call` sent for, leaving out those of actors lost meanwhile
    and, with `timeout` (seconds, for all), those of actors that did not answer in time."""
    refs = [ref for wrapped in replies for ref in wrapped]
    ready = set(range(len(refs))) if timeout is None else split_ready(refs, timeout)[0]
    out = []
    for i, ref in enumerate(refs):
        try:
            if i in ready:
                out.append(backend.get(ref))
        except WORKER_LOST:
            continue  # that worker's clients have dropped out of the protocol
    return out
