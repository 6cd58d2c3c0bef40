"""Mean around the median (Meamed): per coordinate, average the n - f values nearest the median.

Xie, Koyejo and Gupta, "Generalized Byzantine-tolerant SGD", 2018 (arXiv:1802.10116), the
rule ByzFL ships as Meamed.
"""

from __future__ import annotations

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    Assumed,
    RoundContext,
    check_inputs,
    column_blocks,
    require_majority,
)

MeamedParams = Assumed


def require_meamed(n: int, params) -> int:
    """Return f for n rows; raise unless n > 2f (the median and most of its neighbours honest)."""
    return require_majority("meamed", n, params)


def meamed(
    updates: np.ndarray, weights: np.ndarray, params: MeamedParams, ctx: RoundContext
) -> Aggregated:
    """Per coordinate, return the mean of the n - f values nearest its median (Xie et al. 2018).

    Distances are taken in float64 from the coordinate-wise median (an even n averages the
    two middles); of two values equally near, the smaller is kept first, so the result does
    not depend on the rows' order. The mean is unweighted, as in the paper.

    Args:
        updates: (n, d) float32; needs n > 2f.
        weights: (n,) checked but unused.
        params: f or fraction.
        ctx: unused.

    Returns:
        (d,) float32.
    """
    check_inputs("meamed", updates, weights, params)
    n, d = updates.shape
    keep = n - require_meamed(n, params)
    out = np.empty(d, dtype=np.float32)
    for cols in column_blocks(n, d):
        values = np.ascontiguousarray(updates[:, cols].T).astype(np.float64)  # (c, n)
        centre = np.median(values, axis=1, keepdims=True)
        order = np.lexsort((values, np.abs(values - centre)), axis=1)[:, :keep]
        out[cols] = np.take_along_axis(values, order, axis=1).mean(axis=1)
    return Aggregated(out)
