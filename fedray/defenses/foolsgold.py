"""FoolsGold: down-weight clients whose update histories point the same way (sybils).

Fung, Yoon and Beschastnikh, "The limitations of federated learning in sybil settings",
RAID 2020 (Algorithm 1, without the optional feature-importance weighting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.clustering import cosine_distances
from fedray.defenses.common import Aggregated, RoundContext, check_inputs, combine

TABLE = "foolsgold"  # the client state store's table of summed updates


@dataclass(frozen=True)
class FoolsGoldParams:
    confidence: float = field(default=1.0, metadata={"gt": 0})  # kappa of the logit


def foolsgold_weights(histories: np.ndarray, confidence: float = 1.0) -> np.ndarray:
    """Return each client's learning rate alpha in [0, 1] from its (n, d) summed history.

    cs_ij = cos(H_i, H_j) (i != j); v_i = max_j cs_ij. Pardoning: cs_ij *= v_i / v_j where
    v_j > v_i. alpha_i = 1 - max_j cs_ij, clipped to [0, 1], divided by its maximum, 0.99
    for the maximum, then kappa (ln(alpha / (1 - alpha)) + 0.5) clipped to [0, 1].
    """
    n = len(histories)
    if n == 1:
        return np.ones(1)
    cs = 1.0 - cosine_distances(histories)
    np.fill_diagonal(cs, -np.inf)
    v = cs.max(axis=1)
    pardon = v[None, :] > v[:, None]
    ratio = np.divide(v[:, None], v[None, :], out=np.ones((n, n)), where=v[None, :] != 0)
    cs = np.where(pardon, cs * ratio, cs)
    alpha = np.clip(1.0 - cs.max(axis=1), 0.0, 1.0)
    if not alpha.max() > 0:
        return np.zeros(n)
    alpha = alpha / alpha.max()
    alpha[alpha == 1.0] = 0.99
    with np.errstate(divide="ignore"):
        logit = confidence * (np.log(alpha / (1.0 - alpha)) + 0.5)
    return np.clip(np.nan_to_num(logit, nan=0.0, neginf=0.0, posinf=1.0), 0.0, 1.0)


def foolsgold(
    updates: np.ndarray, weights: np.ndarray, params: FoolsGoldParams, ctx: RoundContext
) -> Aggregated:
    """Return sum_i alpha_i u_i / sum_i alpha_i, alpha from the clients' histories (Fung et al. 2020).

    A client's history is the sum of all its updates so far, this one included:
    ctx.history (the store's `foolsgold` table, rows in the updates' order; zeros for
    clients never seen, and when None) plus `updates`. The Aggregator writes it back.
    When every alpha is 0 the aggregate is zero: every client looked like a sybil.

    Args:
        updates: (n, d) float32.
        weights: (n,) checked but unused: alpha replaces the example counts, as in the paper.
        params: confidence kappa.
        ctx: history, (n, d) or None.

    Returns:
        (d,) float32; `selected` holds the rows with alpha > 0; stats["alpha_min"/"mean"].
    """
    check_inputs("foolsgold", updates, weights, params)
    n, d = updates.shape
    history = np.zeros((n, d)) if ctx.history is None else np.asarray(ctx.history, np.float64)
    if history.shape != (n, d):
        raise ValueError(
            f"foolsgold needs RoundContext.history of shape ({n}, {d}); got {history.shape}: "
            "pass the stored histories of the same rows"
        )
    alpha = foolsgold_weights(history + updates, params.confidence)
    total = alpha.sum()
    vector = combine(alpha / total, updates) if total > 0 else np.zeros(d)
    chosen = np.flatnonzero(alpha > 0).astype(np.int64)
    stats = {"alpha_min": float(alpha.min()), "alpha_mean": float(alpha.mean())}
    return Aggregated(vector.astype(np.float32), chosen, stats)
