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
    """Client id -> rounds (or server steps) it reported in, as two sorted int64 arrays:
    16 bytes per client that ever reported, never a Python object per client."""

    def __init__(self, ids=None, counts=None):
        self.ids = np.asarray(ids if ids is not None else [], dtype=np.int64)
        self.counts = np.asarray(counts if counts is not None else [], dtype=np.int64)

    @staticmethod
    def load(out: Path, up_to_round: int) -> Participation:
        """Rebuild the counts of a resumed run from its client part files."""
        p = Participation()
        for part in sorted((Path(out) / "clients.parts").glob("*.parquet")):
            t = pq.read_table(part, columns=["round", "client_id", "status"]).to_pydict()
            p._merge(
                [
                    c
                    for r, c, st in zip(t["round"], t["client_id"], t["status"])
                    if r <= up_to_round and st in REPORTED
                ]
            )
        return p

    def add(self, records: list[dict]) -> None:
        """Count the reporters among `records`, and write each one's count into its record."""
        reporters = [rec for rec in records if rec.get("status") in REPORTED]
        self._merge([rec["client_id"] for rec in reporters])
        for rec in reporters:
            rec["participation"] = self.count(rec["client_id"])

    def _merge(self, new_ids: list[int]) -> None:
        if not new_ids:
            return
        ids = np.concatenate([self.ids, np.asarray(new_ids, np.int64)])
        weights = np.concatenate([self.counts, np.ones(len(new_ids), np.int64)])
        self.ids, inverse = np.unique(ids, return_inverse=True)
        self.counts = np.bincount(inverse, weights=weights).astype(np.int64)

    def count(self, client_id: int) -> int:
        i = int(np.searchsorted(self.ids, client_id))
        return int(self.counts[i]) if i < len(self.ids) and self.ids[i] == client_id else 0

    def summary(self) -> dict:
        if not len(self.counts):
            return {"participation_max": 0, "participation_clients": 0}
        return {
            "participation_max": int(self.counts.max()),
            "participation_mean": float(self.counts.mean()),
            "participation_clients": len(self.counts),
        }


def max_participation_epsilon(zs: list[float], count: int, delta: float, accountant: str) -> float:
    """Epsilon of `count` Gaussian mechanisms without subsampling amplification (q = 1),
    at the `count` smallest noise multipliers in `zs` (the worst rounds to have been in)."""
    if count == 0:
        return 0.0
    worst = sorted(zs)[:count]
    return epsilon([(float(z), 1.0, 1) for z in worst], delta=delta, accountant=accountant)
