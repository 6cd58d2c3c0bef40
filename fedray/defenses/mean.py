"""No defense: the weighted mean every other rule is measured against."""

from __future__ import annotations

import numpy as np

from fedray.defenses.common import Aggregated, RoundContext, check_inputs, require_weight
from fedray.registry import NoParams
from fedray.strategies.aggregate import weighted_mean


def mean(
    updates: np.ndarray, weights: np.ndarray, params: NoParams, ctx: RoundContext
) -> Aggregated:
    """Return sum_i w_i u_i / sum_i w_i (FedAvg; McMahan et al. 2017). One outlier moves it freely.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative, not all zero.
        params: none.
        ctx: unused.

    Returns:
        The (d,) float32 weighted mean; every row contributes.
    """
    w = check_inputs("none", updates, weights, params)
    require_weight("none", w)
    return Aggregated(weighted_mean(updates, w))
