"""Geometric median by the smoothed Weiszfeld algorithm (Robust Federated Aggregation, RFA).

Pillutla, Kakade and Harchaoui, "Robust aggregation for federated learning", IEEE
Transactions on Signal Processing, 2022 (arXiv 2019).
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
    row_blocks,
)


@dataclass(frozen=True)
class GeometricMedianParams:
    nu: float = field(default=1e-6, metadata={"gt": 0})  # smoothing: distances floored at nu
    tol: float = field(default=1e-6, metadata={"gt": 0})  # stop at this relative objective change
    max_iter: int = field(default=100, metadata={"min": 1})


def _weiszfeld_step(
    updates: np.ndarray, w: np.ndarray, z: np.ndarray, nu: float
) -> tuple[np.ndarray, float]:
    """Return the next iterate and the objective sum_i w_i ||z - u_i|| at the current one.

    One pass over the rows: the new iterate only needs each row's own distance to z.
    """
    n, d = updates.shape
    num = np.zeros(d, dtype=np.float64)
    den = objective = 0.0
    for rows in row_blocks(n, d):
        block = updates[rows].astype(np.float64)
        diff = block - z
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        beta = w[rows] / np.maximum(dist, nu)
        num += beta @ block
        den += beta.sum()
        objective += w[rows] @ dist
    return num / den, objective


def geometric_median(
    updates: np.ndarray, weights: np.ndarray, params: GeometricMedianParams, ctx: RoundContext
) -> Aggregated:
    """Return the weighted geometric median, argmin_z sum_i w_i ||z - u_i|| (RFA; Pillutla et al. 2022).

    Smoothed Weiszfeld from the weighted mean: z <- sum_i b_i u_i / sum_i b_i with
    b_i = w_i / max(nu, ||z - u_i||), until the objective improves by less than
    tol x objective, or after max_iter steps. The floor nu keeps a step defined when z
    lands on an update.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative, not all zero.
        params: nu, tol, max_iter.
        ctx: unused.

    Returns:
        (d,) float32; stats hold the steps taken and the objective where the last one began.
    """
    w = check_inputs("geometric_median", updates, weights, params)
    total = require_weight("geometric_median", w)
    z = combine(w / total, updates)
    previous, steps = np.inf, 0
    while steps < params.max_iter:
        z, objective = _weiszfeld_step(updates, w, z, params.nu)
        steps += 1
        if previous - objective <= params.tol * objective:
            break
        previous = objective
    stats = {"iterations": float(steps), "objective": float(objective)}
    return Aggregated(z.astype(np.float32), stats=stats)
