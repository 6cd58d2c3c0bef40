"""How often each client really took part, and what that means for user-level DP.

The accountant for central / distributed DP assumes each client is Poisson-sampled with
q = clients_per_round / population every round, independently of everything else. With
availability, deadlines and over-commitment some clients take part far more often than q
and some never do, so that assumption does not hold. The `max_participation` accountant
bounds epsilon without it: a client's data is touched only in the rounds it reports in, so
its privacy loss is at most that of `count` un-subsampled Gaussian mechanisms, count being
the most-participating client's real number of reports. Counts grow with the clients that
report (never the population).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from fedray.privacy.accounting import epsilon

REPORTED = ("trained", "rejected")


class Participation:
    """Client id -> rounds (or server steps) it reported in."""

    def __init__(self, counts: dict[int, int] | None = None):
        self.counts: dict[int, int] = dict(counts or {})

    @staticmethod
    def load(out: Path, up_to_round: int) -> Participation:
        """Rebuild the counts of a resumed run from its client part files."""
        counts: dict[int, int] = {}
        for part in sorted((Path(out) / "clients.parts").glob("*.parquet")):
            t = pq.read_table(part, columns=["round", "client_id", "status"]).to_pydict()
            for r, c, st in zip(t["round"], t["client_id"], t["status"]):
                if r <= up_to_round and st in REPORTED:
                    counts[c] = counts.get(c, 0) + 1
        return Participation(counts)

    def add(self, records: list[dict]) -> None:
        """Count the reporters among `records`, and write each one's count into its record."""
        for rec in records:
            if rec.get("status") in REPORTED:
                c = rec["client_id"]
                self.counts[c] = self.counts.get(c, 0) + 1
                rec["participation"] = self.counts[c]

    def summary(self) -> dict:
        values = np.fromiter(self.counts.values(), dtype=np.int64, count=len(self.counts))
        if not len(values):
            return {"participation_max": 0, "participation_clients": 0}
        return {
            "participation_max": int(values.max()),
            "participation_mean": float(values.mean()),
            "participation_clients": len(values),
        }


def max_participation_epsilon(zs: list[float], count: int, delta: float, accountant: str) -> float:
    """Epsilon of `count` Gaussian mechanisms without subsampling amplification (q = 1),
    at the `count` smallest noise multipliers in `zs` (the worst rounds to have been in)."""
    if count == 0:
        return 0.0
    worst = sorted(zs)[:count]
    return epsilon([(float(z), 1.0, 1) for z in worst], delta=delta, accountant=accountant)
