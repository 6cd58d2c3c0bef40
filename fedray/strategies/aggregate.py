"""Aggregation rules as pure numpy functions over the stacked update matrix."""

from __future__ import annotations

import numpy as np


def weighted_mean(updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return sum_i w_i u_i / sum_i w_i.

    Args:
        updates: (n, d) float32, one row per client, rows in client-id order.
        weights: (n,) non-negative, not all zero.

    Returns:
        (d,) float32.
    """
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if not total > 0:
        raise ValueError(f"weighted_mean needs a positive total weight; got {total}")
    return ((w / total).astype(np.float32) @ updates).astype(np.float32)
