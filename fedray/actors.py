"""A run's actors: starting the worker pool, the Aggregator and the client state store,
stopping them, and keeping them warm between runs that fit the same pool (`fedray stress`).

An actor's cost is mostly its process: starting Python, importing torch and fedray. A warm
actor is re-initialised in place for the next run's scenario (`reset`), which rebuilds its
data and model from names in a process that has already paid for the imports.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from fedray import backend, checkpoint, compression
from fedray.client.plan import client_plan
from fedray.client.pool import PoolPlan, WorkerPool
from fedray.failures import StartupError
from fedray.scenario import Scenario
from fedray.scenario.convert import to_plain
from fedray.server.aggregator import Aggregator
from fedray.server.client_state import ClientStateStore, defense_tables
from fedray.server.state import ServerState


class WarmActors:
    """Pools and Aggregators kept alive between runs, by the resources their actors hold.

    `fedray stress` opens one and passes it to every run of the matrix; a run whose pool
    has the same shape (workers, mode, CPUs and GPUs per worker, restarts) as a previous
    one's takes that pool's actors over instead of starting new ones. `close` kills them.
    """

    placement_group = None  # a `fedray.slots.Slot` reserves one for its pools

    def __init__(self):
        self._idle: dict[tuple, tuple[WorkerPool, object]] = {}

    def reserved_plan(self, scenario) -> PoolPlan | None:
        """The pool a run gets from what this holds reserved (`fedray.slots.Slot`); None here:
        the run sizes its pool from the cluster."""
        return None

    @staticmethod
    def key(plan: PoolPlan, resources) -> tuple:
        return (
            resources.backend,
            plan.num_workers,
            plan.mode,
            resources.num_cpus,
            resources.num_gpus,
            resources.max_retries,
        )

    def holds(self, plan: PoolPlan, resources) -> bool:
        return self.key(plan, resources) in self._idle

    def take(self, plan: PoolPlan, resources) -> tuple[WorkerPool, object] | None:
        return self._idle.pop(self.key(plan, resources), None)

    def give_back(self, plan: PoolPlan, resources, pool: WorkerPool, aggregator) -> None:
        old = self._idle.pop(self.key(plan, resources), None)
        if old is not None:  # two runs of one shape at once (--parallel): keep one
            _kill(*old)
        self._idle[self.key(plan, resources)] = (pool, aggregator)

    def close(self) -> None:
        for pool, aggregator in self._idle.values():
            _kill(pool, aggregator)
        self._idle.clear()


def start(
    scenario: Scenario,
    plan: PoolPlan,
    state: ServerState,
    sizes,
    out_dir: Path,
    warm: WarmActors | None = None,
):
    """Start (or, from `warm`, re-initialise) the workers and the Aggregator, and wait until
    each has built its model and data.

    Returns (pool, aggregator, client state store or None, placement, seconds). On failure
    nothing is left running.
    """
    plain = to_plain(scenario)
    started = time.perf_counter()
    pool = aggregator = store = None
    timeout = scenario.resources.startup_timeout
    try:
        tables = compression.store_tables(scenario.compression) + defense_tables(scenario.defense)
        if client_plan(scenario, sizes).control_variates or tables:
            store = _start_store(out_dir, state, scenario.resources, tables)
        server_state = replace(state, client_states=None)  # those live in the store
        reused = warm.take(plan, scenario.resources) if warm is not None else None
        if reused is not None:
            pool, aggregator = reused
            pool.reuse(plain)
            ready = aggregator.reset.remote(plain, server_state, store)
        else:
            group = warm.placement_group if warm is not None else None
            pool = WorkerPool(plain, plan, scenario.resources, placement_group=group)
            aggregator = _on_driver(scenario.resources, Aggregator, plain, server_state, store)
            ready = aggregator.params.remote()
        placement = pool.info(timeout=timeout)
        backend.get(ready, timeout=timeout)
    except GetTimeoutError:
        stop(pool, aggregator, store)
        raise StartupError(
            f"the workers did not start within resources.startup_timeout={timeout:g} s; the cluster "
            f"has {ray.available_resources()} free: another job may hold the resources"
        ) from None
    except RayActorError as exc:
        stop(pool, aggregator, store)
        raise StartupError(f"a worker or the aggregator failed to start: {exc}") from None
    except Exception as exc:
        stop(pool, aggregator, store)
        if scenario.resources.backend != "local":
            raise
        # A local actor's constructor ran in this process: as Ray reports a failed actor.
        raise StartupError(
            f"a worker or the aggregator failed to start: {type(exc).__name__}: {exc}"
        ) from exc
    return pool, aggregator, store, placement, time.perf_counter() - started


def _start_store(out_dir: Path, state: ServerState, resources, tables: tuple[str, ...] = ()):
    """The client state store actor, on this (the driver's) node: its files live under the
    run's directory, so that checkpoints can link them. Resumes from the checkpoint's copy."""
    saved = checkpoint.clients_dir(out_dir, state.round)
    return _on_driver(
        resources,
        ClientStateStore,
        len(state.params),
        str((out_dir / "client_state").resolve()),
        checkpoint=str(saved.resolve()) if state.round and saved.exists() else None,
        snapshot=state.client_states,  # checkpoints written before the on-disk store
        tables=tables,
    )


def _on_driver(resources, cls, *args, **kwargs):
    """An actor of the run's server side (the Aggregator, the client state store) beside the
    driver: in this process (`resources.backend: local`), else a zero-CPU Ray actor on this
    node. A worker node may be lost mid-run; the driver's node ends the run if it is."""
    if resources.backend == "local":
        return backend.LocalActor(cls, *args, **kwargs)
    return ray.remote(cls).options(num_cpus=0, scheduling_strategy=_here()).remote(*args, **kwargs)


def _here() -> NodeAffinitySchedulingStrategy:
    """Place an actor on the driver's node. The Aggregator and the client state store hold the
    run's state and are not restarted: there they share the driver's fate, not that of a
    worker node that may be preempted (a zero-CPU actor could otherwise land on any node).
    Not `soft`: Ray then spreads them anyway. The driver's node always fits a zero-CPU actor."""
    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def stop(pool: WorkerPool | None, aggregator, store=None, *, warm=None, plan=None, resources=None):
    """Stop a run's actors; with `warm`, keep the pool and Aggregator there for the next run
    (only if every worker is still live: a pool that lost one starts afresh next time)."""
    if store is not None:
        backend.kill(store)
    if warm is not None and len(pool.live) == len(pool.actors) and pool.actors:
        warm.give_back(plan, resources, pool, aggregator)
    else:
        _kill(pool, aggregator)


def _kill(pool: WorkerPool | None, aggregator) -> None:
    """Stop the pool and the Aggregator (either may be None: a start that failed midway)."""
    if pool is not None:
        pool.shutdown()
    if aggregator is not None:
        backend.kill(aggregator)


def node_table(placement: list[dict]) -> list[dict]:
    """Summarise `WorkerPool.info()`: one entry per node that held workers at start, by node
    id, with its `node_id`, `ip`, `hostname`, how many `workers` and `workers_per_gpu` (GPU
    ids are per node: the top-level count adds up nodes' GPUs of the same id)."""
    nodes: dict[str, dict] = {}
    for p in placement:
        node = nodes.setdefault(
            p["node_id"],
            {"node_id": p["node_id"], "ip": p["ip"], "hostname": p["hostname"], "workers": 0},
        )
        node["workers"] += 1
        gpus = node.setdefault("workers_per_gpu", {})
        for g in p["gpu_ids"]:
            gpus[g] = gpus.get(g, 0) + 1
    return [nodes[k] for k in sorted(nodes)]
