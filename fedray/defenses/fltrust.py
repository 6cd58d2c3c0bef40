"""FLTrust: trust each update by its direction's agreement with the server's own update.

Cao, Fang, Liu and Gong, "FLTrust: Byzantine-robust federated learning via trust
bootstrapping", NDSS 2021.
"""

from __future__ import annotations

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    RoundContext,
    check_inputs,
    check_vector,
    combine,
    row_blocks,
)
from fedray.registry import NoParams


def _norms_and_dots(updates: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (n,) float64 row norms and row dot products with v, in one pass."""
    n, d = updates.shape
    norms, dots = np.empty(n), np.empty(n)
    for rows in row_blocks(n, d):
        block = updates[rows].astype(np.float64)
        norms[rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
        dots[rows] = block @ v
    return norms, dots


def trust_scores(norms: np.ndarray, dots: np.ndarray, reference_norm: float) -> np.ndarray:
    """Return (n,) ReLU(cos(u_i, g0)) from norms and dots with g0; a zero u_i or g0 earns 0."""
    scale = norms * reference_norm
    cos = np.divide(dots, scale, out=np.zeros(len(scale)), where=scale > 0)
    return np.maximum(cos, 0.0)


def fltrust(
    updates: np.ndarray, weights: np.ndarray, params: NoParams, ctx: RoundContext
) -> Aggregated:
    """Return sum_i t_i (||g0|| / ||u_i||) u_i / sum_i t_i with t_i = ReLU(cos(u_i, g0)) (Cao et al. 2021).

    g0 is ctx.reference, the server's update on its small clean root set. Every update is
    rescaled to ||g0|| so that a large update cannot buy influence. When no update earns
    trust (all point away from g0, or g0 is zero) the result is the zero vector: the
    server then keeps its parameters for the round rather than follow anyone.

    Args:
        updates: (n, d) float32.
        weights: (n,) checked but unused: trust replaces example counts, as in the paper.
        params: none.
        ctx: reference, the (d,) root-set update; required.

    Returns:
        (d,) float32; stats["trusted"] counts the rows with positive trust.
    """
    check_inputs("fltrust", updates, weights, params)
    d = updates.shape[1]
    g0 = check_vector("fltrust", "reference", ctx.reference, d)
    if g0 is None:
        raise ValueError(
            "fltrust needs RoundContext.reference, the server's own update on its clean root "
            "set; got None: train the global model on the root set and pass that update"
        )
    norms, dots = _norms_and_dots(updates, g0)
    trust = trust_scores(norms, dots, float(np.linalg.norm(g0)))
    trusted = float(np.count_nonzero(trust))
    if trust.sum() == 0:
        return Aggregated(np.zeros(d, dtype=np.float32), stats={"trusted": trusted})
    coef = np.divide(trust * np.linalg.norm(g0), norms, out=np.zeros(len(norms)), where=trust > 0)
    vector = combine(coef / trust.sum(), updates)
    return Aggregated(vector.astype(np.float32), stats={"trusted": trusted})
