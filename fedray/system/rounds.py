"""The system model's half of a synchronous round, for the engine: plan who trains on the
virtual clock, then record what the clock decided. Driver-side state (the clock, the
participation counts) lives here; the round's order stays in `fedray.engine`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedray.system import clock
from fedray.system.participation import Participation, max_participation_epsilon
from fedray.system.payload import payload_bytes


class SystemRounds:
    """The virtual clock across rounds: `plan` before training, `finish` after."""

    def __init__(self, scenario, dim: int, start: float = 0.0, counts=None):
        self.s = scenario
        self.dim = dim
        self.clock = start  # virtual seconds at the end of the last round
        self.participation = counts or Participation()
        self.zs: list[float] = []  # each round's user-level noise multiplier (max_participation)

    @staticmethod
    def resume(scenario, dim: int, out: Path, history_rows: list[dict]) -> SystemRounds:
        """The clock and counts a run had at its last recorded round (0 for a fresh run)."""
        done = history_rows[-1]["round"] if history_rows else 0
        start = (history_rows[-1].get("virtual_seconds") or 0.0) if history_rows else 0.0
        rounds = SystemRounds(scenario, dim, start, Participation.load(out, done))
        rounds.zs = [
            r["privacy_noise_multiplier"]
            for r in history_rows
            if r.get("privacy_noise_multiplier") is not None
        ]
        return rounds

    @property
    def on(self) -> bool:
        return self.s.system.mode != "none"

    def cohort_size(self) -> int:
        fed = self.s.federation
        return clock.cohort_size(self.s.system, fed.clients_per_round, fed.population)

    def plan(self, round_: int, cohort: np.ndarray, sizes: np.ndarray) -> clock.RoundPlan | None:
        """Decide the round from the clock's current time; None with `system.mode: none`."""
        if not self.on:
            return None
        s = self.s
        comp = getattr(s, "compression", None)
        return clock.plan_round(
            s.system,
            seed=s.seed,
            round_=round_,
            client_ids=cohort,
            sizes=sizes,
            epochs=s.client.epochs,
            batch_size=s.client.batch_size,
            wanted=s.federation.clients_per_round,
            start=self.clock,
            bytes_down=payload_bytes(comp, self.dim, "down"),
            bytes_up=payload_bytes(comp, self.dim, "up"),
        )

    def finish(self, plan: clock.RoundPlan | None, round_: int, records: list[dict], row: dict):
        """Add the clients the clock kept out to `records`, the clock's columns to every
        record, and virtual time, reasons and participation to `row`; advance the clock."""
        self.account(records, row)
        if plan is None:
            return
        at = {int(c): i for i, c in enumerate(plan.client_ids)}
        for rec in records:
            i = at.get(rec["client_id"])
            if i is not None:
                rec.update(clock.sim_record(plan, i))
        records += [
            {
                "client_id": int(c),
                "round": round_,
                "status": plan.reason[i],
                **clock.sim_record(plan, i),
            }
            for i, c in enumerate(plan.client_ids)
            if plan.reason[i] != clock.REPORTS
        ]
        records.sort(key=lambda r: r["client_id"])
        row.update(round_metrics(plan, self.clock))
        self.clock = plan.end

    def account(self, records: list[dict], row: dict) -> None:
        """Count who reported in `records`; add participation and its epsilon bound to `row`."""
        self.participation.add(records)
        row.update(self.participation.summary())
        self._privacy(row)

    def projection(self, z: float) -> float | None:
        """Under the max_participation accountant, the bound if one more round runs at noise
        multiplier `z`: the most-participating client may report in it once more, so its
        count grows by one (None under the Poisson accountant)."""
        if self.s.system.accountant != "max_participation":
            return None
        p = self.s.privacy
        count = self.participation.summary()["participation_max"] + 1
        return max_participation_epsilon([*self.zs, z], count, p.delta, p.accountant)

    def _privacy(self, row: dict) -> None:
        """The max_participation bound beside (or, when chosen, instead of) Poisson's."""
        z = row.get("privacy_noise_multiplier")
        if z is None:
            return
        self.zs.append(z)
        p = self.s.privacy
        count = row["participation_max"]
        bound = max_participation_epsilon(self.zs, count, p.delta, p.accountant)
        row["privacy_epsilon_participation"] = bound
        if self.s.system.accountant == "max_participation":
            row["privacy_epsilon_poisson"] = row.get("privacy_epsilon")
            row["privacy_epsilon"] = bound


def round_metrics(plan: clock.RoundPlan, start: float) -> dict:
    """Virtual time and why clients did not report, for metrics.parquet."""
    counts = {
        r: int((plan.reason == r).sum())
        for r in (clock.UNAVAILABLE, clock.DROPPED, clock.DEADLINE, clock.SURPLUS, clock.EMPTY)
    }
    reports = plan.reason == clock.REPORTS
    return {
        "virtual_seconds": plan.end,
        "round_virtual_seconds": plan.end - start,
        "clients_unavailable": counts[clock.UNAVAILABLE],
        "clients_dropped": counts[clock.DROPPED],
        "clients_deadline": counts[clock.DEADLINE],
        "clients_surplus": counts[clock.SURPLUS],
        # Under the clock an empty client never reaches a worker: counted here, not there.
        "clients_empty": counts[clock.EMPTY],
        "clients_partial": int((reports & (plan.steps < plan.full_steps)).sum()),
    }
