"""Runs side by side on one Ray cluster: a slot per concurrent run, each a placement group
reserved for its worker pool and a warm pool kept between the slot's runs.

`fedray stress --parallel` runs cells on `Share.runs` slots (`fedray.concurrency.share`);
`fedray tune` adopts the placement group Tune reserved for its trial. A run given a slot
(`fedray.run(..., warm=slot)`) takes its pool size from it and places its workers in the
group, so that runs never wait behind each other's actors.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

import ray
from ray.exceptions import GetTimeoutError
from ray.util.placement_group import placement_group, remove_placement_group

from fedray.actors import WarmActors
from fedray.client.pool import PoolPlan
from fedray.concurrency import Share, share, worker_capacity
from fedray.failures import StartupError
from fedray.scenario import ScenarioError


def bundle(resources) -> dict:
    """One worker's share of a placement group: its CPUs and GPUs (those it asks for)."""
    return {
        k: float(v) for k, v in (("CPU", resources.num_cpus), ("GPU", resources.num_gpus)) if v > 0
    }


class Slot(WarmActors):
    """Room for one run at a time: `workers` bundles of a run's worker resources, reserved
    in a placement group (PACK: a run's workers on as few nodes as fit, so its parameters
    travel to few object stores), and the last run's actors, kept warm for the next.

    A run of another shape (other per-worker resources, or another fixed `num_workers`)
    gets a new group; `close` kills the warm actors and releases the group.
    """

    def __init__(self, workers: int, *, strategy: str = "PACK", group=None, owned: bool = True):
        super().__init__()
        self.workers = workers  # for runs with resources.num_workers: auto
        self.strategy = strategy
        self.placement_group = group
        self._owned = owned  # False: Tune's trial group, which Tune releases
        self._shape = None

    @classmethod
    def adopt(cls, group, workers: int) -> Slot:
        """The placement group Ray reserved for this process (a Tune trial's), not owned."""
        slot = cls(workers, group=group, owned=False)
        slot._shape = "adopted"
        return slot

    def reserved_plan(self, scenario) -> PoolPlan:
        """The run's pool: `num_workers` if fixed, else the slot's share; its group ready."""
        res = scenario.resources
        count = self.workers if res.num_workers == "auto" else res.num_workers
        if self._shape != "adopted":
            self._reserve((count, tuple(sorted(bundle(res).items()))), res)
        return PoolPlan(count, "cross-device", count)

    def _reserve(self, shape: tuple, resources) -> None:
        if shape == self._shape:
            return
        self.close()  # another shape: the warm actors and the old group go
        count, parts = shape
        self._shape = shape
        if not parts:  # workers that ask for nothing need no reservation
            return
        group = placement_group([dict(parts)] * count, strategy=self.strategy)
        try:
            ray.get(group.ready(), timeout=resources.startup_timeout)
        except GetTimeoutError:
            remove_placement_group(group)
            self._shape = None
            raise StartupError(
                f"a placement group of {count} x {dict(parts)} was not ready within "
                f"resources.startup_timeout={resources.startup_timeout:g} s; the cluster has "
                f"{ray.available_resources()} free: another job may hold the resources"
            ) from None
        self.placement_group = group

    def close(self) -> None:
        super().close()
        if self.placement_group is not None and self._owned:
            remove_placement_group(self.placement_group)
            self.placement_group = None
            self._shape = None


def run_on_slots(
    jobs: Iterable,
    run_one: Callable[[object, Slot], object],
    *,
    runs: int,
    workers: int,
    on_done: Callable[[object], None] = lambda result: None,
) -> None:
    """Run every job, `runs` at a time, each slot taking the next job when its last ends.

    `run_one(job, slot)` runs one job on a slot (a thread each: Ray's driver API is
    thread-safe). A job that fails stops the slots from taking new ones; the first error
    is raised once the running jobs end. Every slot is closed, whatever happens.
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    failed: list[BaseException] = []
    lock = threading.Lock()

    def serve() -> None:
        slot = Slot(workers)
        try:
            while not failed:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                result = run_one(job, slot)
                with lock:
                    on_done(result)
        except BaseException as exc:  # reported by the caller's thread, below
            failed.append(exc)
        finally:
            slot.close()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]


def cluster_share(scenario, *, todo: int, parallel: int | str = "auto") -> Share:
    """How many of `todo` runs of `scenario` go at once on the connected cluster, and with
    how many workers each, from its free resources now; ScenarioError if none fits."""
    res, fed = scenario.resources, scenario.federation
    capacity = worker_capacity(ray.available_resources(), ray.nodes(), res.num_cpus, res.num_gpus)
    try:
        return share(
            capacity,
            todo=todo,
            wanted=res.num_workers,
            useful=min(fed.clients_per_round, fed.population),
            parallel=parallel,
        )
    except ValueError as exc:
        raise ScenarioError([f"resources: {exc}"], scenario.name) from None
