"""Minimum-diameter averaging: average the n - f rows whose largest pairwise distance is least.

El Mhamdi, Guerraoui and Rouault, "The hidden vulnerability of distributed learning in
Byzantium", ICML 2018 (MDA; also Rousseeuw's minimum volume idea, 1985).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    Assumed,
    RoundContext,
    check_inputs,
    resolve_f,
    too_few,
)
from fedray.defenses.krum import pairwise_sq_distances
from fedray.strategies.aggregate import weighted_mean

MDAParams = Assumed

# Exact search tries every set of f rows to leave out: C(n, f) subsets of O(n^2) each.
MAX_SUBSETS = 200_000


def require_mda(n: int, params) -> int:
    """Return f for n rows; raise unless n > 2f and C(n, f) <= MAX_SUBSETS."""
    f = resolve_f(params.f, params.fraction, n)
    if n <= 2 * f:
        raise too_few("mda", "n > 2f", n, f)
    subsets = math.comb(n, f)
    if subsets > MAX_SUBSETS:
        raise ValueError(
            f"mda searches all C(n, f) subsets exactly; got n={n}, f={f}: C(n, f) = {subsets} "
            f"> {MAX_SUBSETS}: lower defense.f / fraction or the cohort, or use bucketing "
            "(defense.pre) to aggregate fewer rows"
        )
    return f


def mda(
    updates: np.ndarray, weights: np.ndarray, params: MDAParams, ctx: RoundContext
) -> Aggregated:
    """Return the mean of the n - f rows of smallest diameter (El Mhamdi et al. 2018).

    Exact: every choice of f rows to leave out is tried, C(n, f) of them, each scored by
    its largest remaining pairwise distance (O(C(n, f) n^2) after one O(n^2 d) distance
    matrix); ties go to the first set in lexicographic order of the rows left out. The
    mean is unweighted, as in the paper.

    Args:
        updates: (n, d) float32; needs n > 2f and C(n, f) <= MAX_SUBSETS.
        weights: (n,) checked but unused.
        params: f or fraction.
        ctx: unused.

    Returns:
        (d,) float32; `selected` holds the n - f rows averaged; stats["diameter"].
    """
    check_inputs("mda", updates, weights, params)
    n = len(updates)
    f = require_mda(n, params)
    dist = pairwise_sq_distances(updates)
    best, best_out = np.inf, ()
    for out in itertools.combinations(range(n), f):
        keep = np.ones(n, bool)
        keep[list(out)] = False
        diameter = dist[np.ix_(keep, keep)].max()
        if diameter < best:
            best, best_out = diameter, out
    keep = np.ones(n, bool)
    keep[list(best_out)] = False
    chosen = np.flatnonzero(keep).astype(np.int64)
    return Aggregated(
        weighted_mean(updates[chosen], np.ones(len(chosen))),
        chosen,
        {"diameter": float(np.sqrt(best))},
    )
