"""Centered clipping: move from last round's aggregate by clipped steps towards the updates.

Karimireddy, He and Jaggi, "Learning from history for Byzantine robust optimization",
ICML 2021.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    RoundContext,
    check_inputs,
    check_vector,
    require_weight,
    row_blocks,
)


@dataclass(frozen=True)
class CenteredClippingParams:
    tau: float = field(default=10.0, metadata={"gt": 0})  # clipping radius around the centre
    iterations: int = field(default=1, metadata={"min": 1})  # L; the paper finds 1 enough


def _clip_step(
    updates: np.ndarray, p: np.ndarray, v: np.ndarray, tau: float
) -> tuple[np.ndarray, int]:
    """Return v + sum_i p_i clip_tau(u_i - v) and how many rows were clipped."""
    n, d = updates.shape
    move = np.zeros(d, dtype=np.float64)
    clipped = 0
    for rows in row_blocks(n, d):
        diff = updates[rows].astype(np.float64) - v
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        clipped += int(np.count_nonzero(dist > tau))
        move += (p[rows] * (tau / np.maximum(dist, tau))) @ diff
    return v + move, clipped


def centered_clipping(
    updates: np.ndarray,
    weights: np.ndarray,
    params: CenteredClippingParams,
    ctx: RoundContext,
) -> Aggregated:
    """Return v_L from v_0 = ctx.previous by L clipped averaging steps (Karimireddy et al. 2021).

    v_l = v_{l-1} + sum_i p_i (u_i - v_{l-1}) min(1, tau / ||u_i - v_{l-1}||), with
    p_i = w_i / sum_j w_j. Each step moves at most tau, so the result lies within L x tau
    of the centre whatever the attacker sends. In the first round (ctx.previous is None)
    the centre is zero: there is no history yet, and zero is the paper's initial momentum.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative, not all zero.
        params: tau and iterations L.
        ctx: previous, the (d,) aggregate of the last round, or None.

    Returns:
        (d,) float32; stats["clipped"] counts the rows clipped in the last step.
    """
    w = check_inputs("centered_clipping", updates, weights, params)
    total = require_weight("centered_clipping", w)
    d = updates.shape[1]
    v = check_vector("centered_clipping", "previous", ctx.previous, d)
    v = np.zeros(d, dtype=np.float64) if v is None else v
    for _ in range(params.iterations):
        v, clipped = _clip_step(updates, w / total, v, params.tau)
    return Aggregated(v.astype(np.float32), stats={"clipped": float(clipped)})
