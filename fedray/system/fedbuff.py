"""FedBuff's event schedule on the virtual clock (Nguyen et al., "Federated Learning with
Buffered Asynchronous Aggregation", AISTATS 2022).

`concurrency` clients train at once; each starts from the model version current when it
is asked and reports after its download, compute and upload times. The server steps each
time `buffer` reports have arrived, weighting each by s(staleness). Events are ordered by
virtual time, ties by client id; all reports at one instant are taken in before freed
slots are refilled, then the refill draws from the model current at that instant. Nothing
depends on model values, so the whole schedule is a pure function of the scenario: a
resumed run replays it to where it stopped. Pure numpy; no Ray.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

import numpy as np

from fedray import seeding
from fedray.system import clock
from fedray.system.config import FedBuff, System


def staleness_weight(cfg: FedBuff, tau: np.ndarray) -> np.ndarray:
    """s(tau) per update: constant 1; polynomial (1 + tau)^-a; hinge 1 up to b, then
    1 / (a (tau - b) + 1) (FedBuff section 4, after FedAsync's choices)."""
    tau = np.asarray(tau, dtype=np.float64)
    if cfg.staleness == "constant":
        return np.ones_like(tau)
    if cfg.staleness == "polynomial":
        return (1.0 + tau) ** -cfg.exponent
    return np.where(tau <= cfg.hinge_b, 1.0, 1.0 / (cfg.hinge_a * (tau - cfg.hinge_b) + 1.0))


@dataclass
class Interval:
    """What happens between server step `version` and the next one."""

    version: int  # the model version every client launched here trains from
    launched: list[tuple[int, int]] = field(default_factory=list)  # (client id, local steps)
    buffer: list[dict] = field(default_factory=list)  # the reports the next step applies
    lost: list[dict] = field(default_factory=list)  # asked, but never reported
    time: float = 0.0  # when the next step happens


class FedBuffClock:
    """Advance the event loop one server step at a time (`next_interval`)."""

    def __init__(
        self, system: System, *, seed, population, sizes, epochs, batch_size, bytes_down, bytes_up
    ):
        self.system = replace(system, deadline=None, accept_partial=False, over_commit=0.0)
        self.cfg = system.fedbuff
        self.seed, self.population, self.sizes = seed, population, sizes
        self.epochs, self.batch_size = epochs, batch_size
        self.bytes = (bytes_down, bytes_up)
        self.time, self.version = 0.0, 0
        self.flight: list[tuple] = []  # heap of (finish, client id, record)
        self.waiting: list[dict] = []  # reports received since the last step
        self.fills = 0  # refills at the current version (names their sample stream)
        self.current = Interval(0)
        self._fill()

    def next_interval(self) -> Interval:
        """Run events until the buffer fills; return the interval that step closes."""
        while True:
            if not self.flight:
                self.time += self.system.retry_seconds
                self._fill()
                continue
            now = self.flight[0][0]
            stepped = None
            while self.flight and self.flight[0][0] == now:
                _, _, rec = heapq.heappop(self.flight)
                stepped = self._arrive(rec, now) or stepped
            self.time = now
            self._fill()
            if stepped is not None:
                return stepped

    def _arrive(self, rec: dict, now: float) -> Interval | None:
        if rec["sim_reason"] != clock.REPORTS:
            self.current.lost.append(rec)
            return None
        self.waiting.append(rec)
        if len(self.waiting) < self.cfg.buffer:
            return None
        done = self.current
        done.buffer, done.time = self._weigh(self.waiting), now
        self.waiting = []
        self.version += 1
        self.fills = 0
        self.current = Interval(self.version)
        return done

    def _weigh(self, reports: list[dict]) -> list[dict]:
        tau = np.array([self.version - r["model_version"] for r in reports])
        weights = staleness_weight(self.cfg, tau)
        return [
            {**r, "staleness": int(t), "staleness_weight": float(w)}
            for r, t, w in zip(reports, tau, weights)
        ]

    def _fill(self) -> None:
        """Ask new clients until `concurrency` are in flight (those offline are recorded)."""
        free = self.cfg.concurrency - len(self.flight)
        if free <= 0:
            return
        busy = {r["client_id"] for *_, r in self.flight} | {r["client_id"] for r in self.waiting}
        # Fill k at version v draws from (seed, v + 1, k, SAMPLE): fill 0 is exactly the
        # synchronous round v + 1's cohort, so buffer = concurrency = cohort with equal
        # client times replays synchronous FedAvg.
        rng = seeding.rng(self.seed, self.version + 1, self.fills, seeding.SAMPLE)
        self.fills += 1
        size = min(self.population, free + len(busy))
        drawn = rng.choice(self.population, size=size, replace=False)
        ids = np.sort(np.array([c for c in drawn.tolist() if c not in busy][:free], np.int64))
        if not len(ids):
            return
        plan = clock.plan_round(
            self.system,
            seed=self.seed,
            round_=self.version + 1,
            client_ids=ids,
            sizes=self.sizes(ids),
            epochs=self.epochs,
            batch_size=self.batch_size,
            wanted=len(ids),
            start=self.time,
            bytes_down=self.bytes[0],
            bytes_up=self.bytes[1],
        )
        for i, cid in enumerate(ids.tolist()):
            rec = {"client_id": cid, "model_version": self.version, **_sim(plan, i)}
            if plan.reason[i] == clock.UNAVAILABLE:
                self.current.lost.append(rec)
                continue
            if plan.reason[i] == clock.REPORTS:
                self.current.launched.append((cid, int(plan.steps[i])))
            heapq.heappush(self.flight, (float(plan.finish[i]), cid, rec))


def _sim(plan: clock.RoundPlan, i: int) -> dict:
    return {**clock.sim_record(plan, i), "full_steps": int(plan.full_steps[i])}
