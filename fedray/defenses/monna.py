"""MoNNA: the mean of the n - f updates nearest a trusted pivot.

Farhadkhani, Guerraoui, Gupta, Hoang, Pinot and Stephan, "Robust collaborative learning
with linear gradient overhead", ICML 2023. There each honest node averages the n - f
momenta nearest its own; a federated server has no update of its own that it trusts, so
the pivot is one of:

- `median`: the coordinate-wise median of the round's rows (the default);
- `previous`: last round's aggregate (the median in the first round, which has none);
- `reference`: the server's own update on its small clean root set, trained like a client's
  (FLTrust's g0; `defense.root_size` sets the set's size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    Assumed,
    RoundContext,
    check_inputs,
    check_vector,
    column_blocks,
    require_majority,
    row_norms,
)
from fedray.strategies.aggregate import weighted_mean

PIVOTS = ("median", "previous", "reference")


@dataclass(frozen=True)
class MoNNAParams(Assumed):
    pivot: Literal["median", "previous", "reference"] = "median"


def require_monna(n: int, params) -> int:
    """Return f for n rows; raise unless n > 2f."""
    return require_majority("monna", n, params)


def pivot_of(updates: np.ndarray, params: MoNNAParams, ctx: RoundContext) -> np.ndarray:
    """Return the (d,) float64 pivot that `params.pivot` names for this round."""
    if params.pivot not in PIVOTS:
        raise ValueError(
            f"monna: defense.pivot must be one of {', '.join(PIVOTS)}; got {params.pivot!r}"
        )
    d = updates.shape[1]
    if params.pivot == "reference":
        pivot = check_vector("monna", "reference", ctx.reference, d)
        if pivot is None:
            raise ValueError(
                "monna with pivot: reference needs the server's root-set update "
                "(RoundContext.reference); got none: the Aggregator trains it when "
                "defense.pivot is reference, or pass it when calling the rule directly"
            )
        return pivot
    if params.pivot == "previous" and ctx.previous is not None:
        return check_vector("monna", "previous", ctx.previous, d)
    n = len(updates)
    pivot = np.empty(d, dtype=np.float64)
    for cols in column_blocks(n, d):
        pivot[cols] = np.median(updates[:, cols].astype(np.float64), axis=0)
    return pivot


def monna(
    updates: np.ndarray, weights: np.ndarray, params: MoNNAParams, ctx: RoundContext
) -> Aggregated:
    """Return the mean of the n - f rows nearest the pivot (Farhadkhani et al. 2023).

    Euclidean distances in float64; ties go to the lower row index. The mean is unweighted,
    as in the paper.

    Args:
        updates: (n, d) float32; needs n > 2f.
        weights: (n,) checked but unused.
        params: f or fraction, and the pivot (median, previous or reference).
        ctx: previous and reference, for the pivots that read them.

    Returns:
        (d,) float32; `selected` holds the n - f rows averaged; stats["pivot_distance"] is
        the largest distance from the pivot among them.
    """
    check_inputs("monna", updates, weights, params)
    n = len(updates)
    f = require_monna(n, params)
    distances = row_norms(updates, pivot_of(updates, params, ctx))
    chosen = np.sort(np.argsort(distances, kind="stable")[: n - f]).astype(np.int64)
    return Aggregated(
        weighted_mean(updates[chosen], np.ones(len(chosen))),
        chosen,
        {"pivot_distance": float(distances[chosen].max())},
    )
