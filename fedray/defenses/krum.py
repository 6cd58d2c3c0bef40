"""Krum and Multi-Krum: keep the updates whose nearest neighbours are closest.

Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine learning with adversaries: Byzantine
tolerant gradient descent", NeurIPS 2017.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    Assumed,
    RoundContext,
    check_inputs,
    column_blocks,
    require_weight,
    resolve_f,
    too_few,
)
from fedray.strategies.aggregate import weighted_mean

KrumParams = Assumed  # f or fraction, nothing else


@dataclass(frozen=True)
class MultiKrumParams(Assumed):
    m: int | None = field(default=None, metadata={"min": 1})  # None: n - f


def pairwise_sq_distances(updates: np.ndarray) -> np.ndarray:
    """Return the (n, n) float64 squared Euclidean distances between the rows.

    One Gram matrix, ||a||^2 + ||b||^2 - 2 a.b, accumulated over column blocks in float64;
    each block is centred on its column means first, which leaves distances unchanged but
    stops the three terms from cancelling when the rows share a large common offset.
    """
    n, d = updates.shape
    gram = np.zeros((n, n), dtype=np.float64)
    for cols in column_blocks(n, d):
        block = updates[:, cols].astype(np.float64)
        block -= block.mean(axis=0)
        gram += block @ block.T
    sq = np.diag(gram).copy()
    dist = sq[:, None] + sq[None, :] - 2.0 * gram
    np.maximum(dist, 0.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    return dist


def krum_scores(dist: np.ndarray, f: int) -> np.ndarray:
    """Return each row's Krum score: the sum of its n - f - 2 smallest distances to the others."""
    n = len(dist)
    k = n - f - 2
    others = dist + np.diag(np.full(n, np.inf))
    return np.partition(others, k - 1, axis=1)[:, :k].sum(axis=1)


def require_krum(n: int, params, name: str = "krum") -> int:
    """Return f for n updates; raise ValueError unless n > 2f + 2."""
    f = resolve_f(params.f, params.fraction, n)
    if n <= 2 * f + 2:
        raise too_few(name, "n > 2f + 2", n, f)
    return f


def require_multi_krum(n: int, params) -> tuple[int, int]:
    """Return (f, m) for n updates; raise ValueError unless n > 2f + 2 and 1 <= m <= n."""
    f = require_krum(n, params, "multi_krum")
    m = n - f if params.m is None else params.m
    if not 1 <= m <= n:
        raise ValueError(
            f"multi_krum averages m of the n updates; got m={m}, n={n}: "
            "set defense.m between 1 and n, or leave it unset for n - f"
        )
    return f, m


def _scores(name: str, updates: np.ndarray, params) -> tuple[np.ndarray, int]:
    f = require_krum(updates.shape[0], params, name)
    return krum_scores(pairwise_sq_distances(updates), f), f


def krum(
    updates: np.ndarray, weights: np.ndarray, params: KrumParams, ctx: RoundContext
) -> Aggregated:
    """Return the update with the lowest Krum score (Blanchard et al. 2017).

    Args:
        updates: (n, d) float32; needs n > 2f + 2.
        weights: (n,) checked but unused: Krum picks one row, whatever its example count.
        params: f, or fraction of n, the assumed malicious count.
        ctx: unused.

    Returns:
        The chosen row as (d,) float32; `selected` holds its index.
    """
    check_inputs("krum", updates, weights, params)
    scores, _ = _scores("krum", updates, params)
    best = int(np.argmin(scores))
    return Aggregated(
        updates[best].astype(np.float32),
        np.array([best], dtype=np.int64),
        {"score": float(scores[best])},
    )


def multi_krum(
    updates: np.ndarray, weights: np.ndarray, params: MultiKrumParams, ctx: RoundContext
) -> Aggregated:
    """Return the weighted mean of the m updates with the lowest Krum scores (Blanchard et al. 2017).

    Scores are computed once on all n rows (not re-scored after each pick).

    Args:
        updates: (n, d) float32; needs n > 2f + 2.
        weights: (n,) non-negative; the chosen rows are averaged with their weights.
        params: f or fraction, and m (default n - f).
        ctx: unused.

    Returns:
        (d,) float32; `selected` holds the m chosen rows, sorted.
    """
    w = check_inputs("multi_krum", updates, weights, params)
    n = updates.shape[0]
    _, m = require_multi_krum(n, params)
    scores, f = _scores("multi_krum", updates, params)
    chosen = np.sort(np.argsort(scores, kind="stable")[:m]).astype(np.int64)
    kept = np.zeros(n, dtype=np.float64)
    kept[chosen] = w[chosen]
    require_weight("multi_krum (over the chosen rows)", kept)
    return Aggregated(weighted_mean(updates, kept), chosen)
