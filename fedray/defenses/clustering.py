"""Shared pieces of the clustering rules (FLAME, ClippedClustering, SignGuard): cosine
distances between rows, the largest cluster of a labelling, clipping to a norm."""

from __future__ import annotations

import numpy as np

from fedray.defenses.common import column_blocks, row_norms


def cosine_distances(updates: np.ndarray) -> np.ndarray:
    """Return the (n, n) float64 matrix 1 - cos(u_i, u_j), in [0, 2]; a zero row is at distance 1."""
    n, d = updates.shape
    gram = np.zeros((n, n), dtype=np.float64)
    for cols in column_blocks(n, d):
        block = updates[:, cols].astype(np.float64)
        gram += block @ block.T
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    safe = np.where(norms > 0, norms, 1.0)
    cos = gram / safe[:, None] / safe[None, :]
    dist = np.clip(1.0 - cos, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return dist


def largest(labels: np.ndarray) -> np.ndarray:
    """Return the sorted rows of the most populous label >= 0 (ties: the label met first)."""
    valid = labels[labels >= 0]
    if not len(valid):
        return np.zeros(0, np.int64)
    values, first, counts = np.unique(valid, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    return np.flatnonzero(labels == values[order[0]]).astype(np.int64)


def clip_scale(updates: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (norms, per-row scale min(1, limit / norm)) as float64."""
    norms = row_norms(updates)
    scale = np.where(norms > limit, limit / np.maximum(norms, 1e-300), 1.0)
    return norms, scale
