"""The client state store: per-client vectors that persist across rounds (SCAFFOLD's c_i).

A Ray actor that keeps one object-store reference per client that has ever reported, so
memory follows the clients that took part, never the population, and Ray spills values to
disk when the object store fills. Clients not seen yet read as zeros.
"""

from __future__ import annotations

import numpy as np
import ray


class ClientStateStore:
    def __init__(self, dim: int, snapshot: tuple[np.ndarray, np.ndarray] | None = None):
        self.dim = dim
        self.refs: dict[int, ray.ObjectRef] = {}
        if snapshot is not None:
            for cid, row in zip(*snapshot):
                self.refs[int(cid)] = ray.put(np.asarray(row, dtype=np.float32))

    def get(self, client_ids) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids ascending (k,), values (k, d) float32)."""
        ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        known = [int(c) for c in ids if int(c) in self.refs]
        fetched = dict(zip(known, ray.get([self.refs[c] for c in known])))
        values = np.zeros((len(ids), self.dim), np.float32)
        for i, cid in enumerate(ids):
            if int(cid) in fetched:
                values[i] = fetched[int(cid)]
        return ids, values

    def add(self, client_ids: np.ndarray, deltas: np.ndarray) -> int:
        """c_i += delta_i for each row; returns how many clients the store holds."""
        _, current = self.get(client_ids)
        order = np.argsort(np.asarray(client_ids), kind="stable")
        for cid, old, delta in zip(
            np.asarray(client_ids)[order], current, np.asarray(deltas)[order]
        ):
            self.refs[int(cid)] = ray.put((old + delta).astype(np.float32))
        return len(self.refs)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every stored client's (ids, values), for a checkpoint."""
        if not self.refs:
            return None
        return self.get(list(self.refs))
