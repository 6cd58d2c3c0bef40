"""The client state store actor: a thin Ray wrapper over `fedray.client_store.ClientStore`.

It holds per-client vectors that persist across rounds (SCAFFOLD's c_i) on the disk of the
driver's node, under the run's directory, so a checkpoint can link its files. Memory follows
the round's cohort; neither the population nor the clients that ever took part are held.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedray.client_store import ClientStore


class ClientStateStore:
    def __init__(
        self,
        dim: int,
        root: str,
        checkpoint: str | None = None,
        snapshot: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        """Open the store at `root`: empty, or from a checkpoint directory that `save` wrote,
        or from `snapshot` (ids, values), as checkpoints before the on-disk store held them."""
        if checkpoint is not None:
            self.store = ClientStore.load(checkpoint, root)
        else:
            self.store = ClientStore(root, dim)
            if snapshot is not None:
                self.store.put(*snapshot)

    def get(self, client_ids) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids ascending (k,), values (k, d) float32); unknown clients read as zeros."""
        return self.store.get(client_ids)

    def add(self, client_ids: np.ndarray, deltas: np.ndarray) -> int:
        """c_i += delta_i for each row; return how many clients the store holds."""
        return self.store.add(client_ids, deltas)

    def save(self, dest: str) -> str:
        """Checkpoint into the directory `dest` (links to immutable files, no copy)."""
        return str(self.store.save(Path(dest)))

    def __len__(self) -> int:
        return len(self.store)
