"""Norm bounding: scale every update down to norm at most M, then average.

Sun, Kairouz, Suresh and McMahan, "Can you really backdoor federated learning?", 2019.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    RoundContext,
    check_inputs,
    combine,
    require_weight,
    row_norms,
)


@dataclass(frozen=True)
class NormBoundingParams:
    max_norm: float = field(default=1.0, metadata={"gt": 0})  # M


def norm_bounding(
    updates: np.ndarray, weights: np.ndarray, params: NormBoundingParams, ctx: RoundContext
) -> Aggregated:
    """Return sum_i w_i u_i min(1, M / ||u_i||) / sum_i w_i (Sun et al. 2019).

    The denominator is the plain weight total: clipping shortens an update, it does not
    shift weight onto the others.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative, not all zero.
        params: max_norm M.
        ctx: unused.

    Returns:
        (d,) float32 of norm at most M; stats["clipped"] counts the rows scaled down.
    """
    w = check_inputs("norm_bounding", updates, weights, params)
    total = require_weight("norm_bounding", w)
    norms = row_norms(updates)
    scale = params.max_norm / np.maximum(norms, params.max_norm)
    vector = combine(w * scale / total, updates)
    clipped = float(np.count_nonzero(norms > params.max_norm))
    return Aggregated(vector.astype(np.float32), stats={"clipped": clipped})
