"""SignGuard: keep the updates of plausible norm whose sign statistics fall in the main
cluster, clip them to the median norm and average.

Xu, Huang, Song and Lan, "Byzantine-robust federated learning through collaborative
malicious gradient filtering", ICDCS 2022 (arXiv 2109.05872).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.clustering import largest
from fedray.defenses.common import (
    Aggregated,
    RoundContext,
    check_inputs,
    combine,
    require_weight,
    row_norms,
)


@dataclass(frozen=True)
class SignGuardParams:
    lower: float = field(default=0.1, metadata={"min": 0})  # L: norm / median at least
    upper: float = field(default=3.0, metadata={"gt": 0})  # R: norm / median at most
    coordinates: float = field(default=0.1, metadata={"gt": 0, "max": 1})  # share sampled


def sign_features(updates: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Return (n, 3): each row's share of positive, zero and negative entries over `cols`."""
    block = updates[:, cols]
    k = max(len(cols), 1)
    return np.stack(
        [(block > 0).sum(1) / k, (block == 0).sum(1) / k, (block < 0).sum(1) / k], axis=1
    ).astype(np.float64)


def main_cluster(features: np.ndarray) -> np.ndarray:
    """Rows of the largest mean-shift cluster of the features (all rows if they coincide)."""
    from sklearn.cluster import MeanShift, estimate_bandwidth

    n = len(features)
    bandwidth = estimate_bandwidth(features, quantile=0.5) if n > 1 else 0.0
    if not bandwidth > 1e-12:
        return np.arange(n, dtype=np.int64)
    return largest(MeanShift(bandwidth=bandwidth).fit_predict(features))


def signguard(
    updates: np.ndarray, weights: np.ndarray, params: SignGuardParams, ctx: RoundContext
) -> Aggregated:
    """Return the weighted mean of the survivors, each clipped to the median norm (Xu et al. 2022).

    Survivors pass both filters: the norm filter keeps L <= ||u_i|| / median <= R; the
    sign filter keeps the largest mean-shift cluster of (positive, zero, negative) sign
    shares over a random `coordinates` share of the coordinates (drawn from ctx.rng).
    If no row passes both, the norm filter's rows are used and stats["fallback"] is 1.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative; survivors are averaged with them.
        params: lower, upper, coordinates.
        ctx: rng draws the coordinates.

    Returns:
        (d,) float32; `selected` holds the survivors.
    """
    w = check_inputs("signguard", updates, weights, params)
    n, d = updates.shape
    norms = row_norms(updates)
    median = float(np.median(norms))
    ratio = norms / median if median > 0 else np.ones(n)
    by_norm = (ratio >= params.lower) & (ratio <= params.upper)
    k = max(1, int(params.coordinates * d))
    cols = np.sort(ctx.rng.choice(d, size=k, replace=False))
    by_sign = np.zeros(n, bool)
    by_sign[main_cluster(sign_features(updates, cols))] = True
    good = by_norm & by_sign
    fallback = not good.any()
    if fallback:
        good = by_norm if by_norm.any() else np.ones(n, bool)
    chosen = np.flatnonzero(good).astype(np.int64)
    scale = np.where(norms > median, median / np.maximum(norms, 1e-300), 1.0)
    kept = np.zeros(n)
    kept[chosen] = w[chosen]
    total = require_weight("signguard (over the survivors)", kept)
    vector = combine(kept * scale / total, updates)
    stats = {"clip_norm": median, "fallback": float(fallback)}
    return Aggregated(vector.astype(np.float32), chosen, stats)
