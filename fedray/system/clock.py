"""The virtual clock of a synchronous round: who trains, for how many steps, and when.

FedScale's model (Lai et al., ICML 2022): a client's compute time is its local steps times
its batch over its speed, its transfer times are bytes over bandwidth, and an over-committed
round ends when its first K clients report. The plan is made before anything runs, so a
client that will not report (offline, dropped, past the deadline, over-commit surplus) is
never trained. Pure numpy over the cohort; no Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fedray import seeding
from fedray.system.availability import online
from fedray.system.config import System
from fedray.system.devices import profiles

# Why a client does not report; "" for a client that reports.
REPORTS = ""
UNAVAILABLE = "unavailable"
DROPPED = "dropped"
DEADLINE = "deadline"
SURPLUS = "surplus"  # over-commitment: it would report, but the first K already did
EMPTY = "empty"  # it holds no training examples: it downloads, has nothing to send, leaves


@dataclass(frozen=True)
class RoundPlan:
    """Per-client arrays aligned with `client_ids` (ascending), and when the round ends."""

    client_ids: np.ndarray  # (n,) int64
    reason: np.ndarray  # (n,) object: REPORTS or why not
    dropped_at: np.ndarray  # (n,) object: "", before, during or after
    steps: np.ndarray  # (n,) int64 local steps it trains (0 if it does not train)
    full_steps: np.ndarray  # (n,) int64 the steps a full round of local training takes
    start: np.ndarray  # (n,) float64 virtual seconds: the round's start
    finish: np.ndarray  # (n,) float64 when it reports or is lost; nan if never asked
    end: float  # when the round ends

    def trains(self) -> np.ndarray:
        """Ids the workers train: those that report (nobody else costs real compute)."""
        return self.client_ids[self.reason == REPORTS]

    def partial(self) -> dict[int, int]:
        """{client id: steps} for the clients that train fewer steps than a full round."""
        cut = (self.reason == REPORTS) & (self.steps < self.full_steps)
        return dict(zip(self.client_ids[cut].tolist(), self.steps[cut].tolist()))


def cohort_size(system: System, clients_per_round: int, population: int) -> int:
    """How many clients a round asks: ceil((1 + over_commit) K), at most the population."""
    if system.mode == "none":
        return clients_per_round
    return min(population, math.ceil((1 + system.over_commit) * clients_per_round - 1e-9))


def full_steps(sizes: np.ndarray, epochs: int, batch_size: int) -> np.ndarray:
    """Local steps of a full round: epochs x ceil(n / batch), as local training takes them."""
    return epochs * -(-np.asarray(sizes, np.int64) // batch_size)


def plan_round(
    system: System,
    *,
    seed: int,
    round_: int,
    client_ids: np.ndarray,
    sizes: np.ndarray,
    epochs: int,
    batch_size: int,
    wanted: int,
    start: float,
    bytes_down: int,
    bytes_up: int,
) -> RoundPlan:
    """Decide round `round_` on the virtual clock, starting at virtual second `start`.

    Each client: offline at `start` -> unavailable; else download, `steps x batch / speed`
    of compute, upload. Dropout (drawn per round and client) strikes before training,
    during it (after a uniform share of its steps; `dropout.partial: send` keeps those), or
    after upload (the update is lost). Past `deadline` a straggler sends the steps done by
    then if `accept_partial`, else nothing. The first `wanted` reports (by time, ties by
    id) count; the rest are surplus.
    """
    ids = np.asarray(client_ids, dtype=np.int64)
    prof = profiles(system, seed, ids)
    full = full_steps(sizes, epochs, batch_size)
    times = _Times(
        start, bytes_down / prof.download, bytes_up / prof.upload, batch_size / prof.speed
    )
    u = seeding.uniforms(seed, round_, ids, seeding.SYSTEM_DROPOUT, 3)
    reason, dropped_at, steps, finish = _dropouts(system, u, prof.dropout, full, times)
    if system.deadline is not None:
        steps, finish = _deadline(system, times, reason, steps, finish)
    # An empty client never fills one of the K report slots (nor a FedBuff buffer's).
    empty = (np.asarray(sizes) == 0) & (reason == REPORTS)
    reason[empty], dropped_at[empty] = EMPTY, ""
    finish[empty] = start + times.down[empty]
    off = ~online(system.availability, seed, round_, ids, start)
    reason[off], dropped_at[off] = UNAVAILABLE, ""
    finish[off] = np.nan
    _surplus(reason, finish, ids, wanted)
    steps = np.where(reason == REPORTS, steps, 0)
    end = _end(system, reason, finish, start, wanted)
    return RoundPlan(ids, reason, dropped_at, steps, full, np.full(len(ids), start), finish, end)


@dataclass(frozen=True)
class _Times:
    """A cohort's clock: the round's start, and per client (n,) download, upload and step
    seconds."""

    start: float
    down: np.ndarray
    up: np.ndarray
    per_step: np.ndarray

    def finish(self, steps: np.ndarray) -> np.ndarray:
        return self.start + self.down + steps * self.per_step + self.up


def _dropouts(system: System, u: np.ndarray, p: np.ndarray, full: np.ndarray, times: _Times):
    """(reason, dropped_at, steps, finish) after dropout: `u` (n, 3) uniforms, `p` (n, 3)
    probabilities before, during, after."""
    n = len(full)
    reason = np.full(n, REPORTS, dtype=object)
    dropped_at = np.full(n, "", dtype=object)
    before, during = u[:, 0] < p[:, 0], (u[:, 0] >= p[:, 0]) & (u[:, 1] < p[:, 1])
    after = ~before & ~during & (u[:, 2] < p[:, 2])
    # The share of its steps a mid-training dropout did: the same draw, rescaled to [0, 1).
    share = np.where(p[:, 1] > 0, u[:, 1] / np.maximum(p[:, 1], 1e-300), 0.0)
    done = np.floor(share * full).astype(np.int64)
    steps = np.where(during, done, full)
    finish = np.where(before, times.start + times.down, times.finish(steps))
    sends_partial = during & (system.dropout.partial == "send") & (done >= system.min_steps)
    reason[before | after | (during & ~sends_partial)] = DROPPED
    dropped_at[before], dropped_at[during], dropped_at[after] = "before", "during", "after"
    return reason, dropped_at, steps, finish


def _deadline(system: System, times: _Times, reason, steps, finish):
    """Stragglers past the deadline: cut to the steps done by then (accept_partial, leaving
    time to upload) or marked `deadline` in `reason`; return the new (steps, finish)."""
    late = (reason == REPORTS) & (finish > times.start + system.deadline)
    can = np.floor((system.deadline - times.down - times.up) / times.per_step + 1e-9)
    can = np.minimum(np.maximum(can.astype(np.int64), 0), steps)
    ok = late & system.accept_partial & (can >= system.min_steps)
    reason[late & ~ok] = DEADLINE
    return np.where(ok, can, steps), np.where(ok, times.finish(can), finish)


def _surplus(reason: np.ndarray, finish: np.ndarray, ids: np.ndarray, wanted: int) -> None:
    """Mark reports past the first `wanted` (by finish time, ties by id) as surplus."""
    reports = np.flatnonzero(reason == REPORTS)
    order = reports[np.lexsort((ids[reports], finish[reports]))]
    reason[order[wanted:]] = SURPLUS


def _end(system: System, reason, finish, start: float, wanted: int) -> float:
    """The round ends at its K-th report; short of K, at the deadline, else at the last
    event; with no event at all, `retry_seconds` later."""
    counted = finish[reason == REPORTS]
    if len(counted) >= wanted:
        return float(counted.max())
    if system.deadline is not None:
        return start + system.deadline
    seen = finish[np.isfinite(finish)]
    return float(seen.max()) if len(seen) else start + system.retry_seconds


def sim_record(plan: RoundPlan, i: int) -> dict:
    """One client's clock columns for clients.parquet."""
    finish = float(plan.finish[i])
    return {
        "sim_start": float(plan.start[i]),
        "sim_finish": finish if np.isfinite(finish) else None,
        "sim_reason": plan.reason[i],
        "sim_dropped_at": plan.dropped_at[i],
        "local_steps": int(plan.steps[i]),
    }
