"""FedBuff's buffer on the server: the chosen rows of several update batches, each scaled by
its staleness weight. Pure numpy; no Ray."""

from __future__ import annotations

import numpy as np

from fedray.types import UpdateBatch


def buffered(batches: list[UpdateBatch], picks: list[list[int]], weights: list[list[float]]):
    """One UpdateBatch of `picks[i]` (client ids) from `batches[i]`, each delta times its
    `weights[i]` entry (a weight of 1 leaves the bits as they are), sorted by client id.

    A client appears in a buffer at most once, but a batch may hold clients that belong to
    other buffers (those still in flight), so rows are chosen per batch.
    """
    parts = []
    for batch, ids, ws in zip(batches, picks, weights, strict=True):
        where = {int(c): i for i, c in enumerate(batch.client_ids)}
        missing = [c for c in ids if c not in where]
        if missing:
            raise ValueError(
                f"buffer asks for clients {missing} that the batch does not hold "
                f"(it holds {sorted(where)}); the driver's bookkeeping is out of step"
            )
        rows = np.array([where[c] for c in ids], dtype=np.int64)
        part = batch.rows(rows)
        scale = np.asarray(ws, dtype=np.float32)
        if (scale != 1).any():
            part = UpdateBatch(
                part.client_ids, part.deltas * scale[:, None], part.num_examples, part.extras
            )
        parts.append(part)
    return UpdateBatch.concat(parts)
