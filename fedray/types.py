"""Records that cross between the layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ClientUpdate:
    """What one client sends back: its delta (local minus global params) and what it saw."""

    client_id: int
    delta: np.ndarray  # (d,) float32
    num_examples: int
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateBatch:
    """Many clients' updates stacked: the wire format from a Worker to the Aggregator."""

    client_ids: np.ndarray  # (k,) int64, ascending
    deltas: np.ndarray  # (k, d) float32
    num_examples: np.ndarray  # (k,) int64

    @staticmethod
    def stack(updates: list[ClientUpdate], dim: int) -> UpdateBatch:
        updates = sorted(updates, key=lambda u: u.client_id)
        deltas = np.stack([u.delta for u in updates]) if updates else np.zeros((0, dim), np.float32)
        return UpdateBatch(
            np.array([u.client_id for u in updates], dtype=np.int64),
            deltas,
            np.array([u.num_examples for u in updates], dtype=np.int64),
        )

    @staticmethod
    def concat(batches: list[UpdateBatch]) -> UpdateBatch:
        """Join batches and sort rows by client id, so the result never depends on the workers."""
        ids = np.concatenate([b.client_ids for b in batches])
        order = np.argsort(ids, kind="stable")
        return UpdateBatch(
            ids[order],
            np.concatenate([b.deltas for b in batches])[order],
            np.concatenate([b.num_examples for b in batches])[order],
        )
