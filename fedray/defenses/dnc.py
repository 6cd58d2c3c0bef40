"""Divide-and-Conquer: drop the rows that stick out along the top singular direction.

Shejwalkar and Houmansadr, "Manipulating the Byzantine: optimizing model poisoning attacks
and defenses for federated learning", NDSS 2021 (Algorithm 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.common import (
    Aggregated,
    Assumed,
    RoundContext,
    check_inputs,
    resolve_f,
)
from fedray.strategies.aggregate import weighted_mean


@dataclass(frozen=True)
class DnCParams(Assumed):
    sub_dim: int = field(default=10_000, metadata={"min": 1})  # b coordinates per iteration
    iterations: int = field(default=5, metadata={"min": 1})  # niters
    c: float = field(default=1.0, metadata={"gt": 0})  # filtering fraction: drop c * f rows


def require_dnc(n: int, params) -> tuple[int, int]:
    """Return (f, rows removed per iteration); raise unless at least one row survives."""
    f = resolve_f(params.f, params.fraction, n)
    drop = math.floor(params.c * f + 1e-9)
    if drop >= n:
        raise ValueError(
            f"dnc removes c * f = {drop} rows per iteration; got n={n}, f={f}, c={params.c}: "
            "lower defense.c or defense.f / fraction, or raise federation.clients_per_round"
        )
    return f, drop


def outlier_scores(block: np.ndarray) -> np.ndarray:
    """Return each row's squared projection, after centring, on the top right singular vector."""
    centred = block - block.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[0]) ** 2


def dnc(
    updates: np.ndarray, weights: np.ndarray, params: DnCParams, ctx: RoundContext
) -> Aggregated:
    """Return the mean of the rows no iteration flags (Shejwalkar and Houmansadr 2021).

    Each iteration draws sub_dim coordinates (sorted, without replacement) from ctx.rng,
    centres the rows' restriction to them, scores each row by its squared projection on
    the top right singular vector and keeps the n - c*f lowest scores. The good set is
    the intersection over iterations; its rows are averaged with their weights.

    Args:
        updates: (n, d) float32; needs c * f < n.
        weights: (n,) non-negative; the kept rows are averaged with them.
        params: f or fraction, sub_dim, iterations, c.
        ctx: rng draws the coordinates, so a round is reproducible.

    Returns:
        (d,) float32; `selected` holds the kept rows; stats["removed"].
    """
    w = check_inputs("dnc", updates, weights, params)
    n, d = updates.shape
    _, drop = require_dnc(n, params)
    good = np.ones(n, bool)
    for _ in range(params.iterations):
        cols = np.sort(ctx.rng.choice(d, size=min(params.sub_dim, d), replace=False))
        scores = outlier_scores(updates[:, cols].astype(np.float64))
        kept = np.zeros(n, bool)
        kept[np.argsort(scores, kind="stable")[: n - drop]] = True
        good &= kept
    chosen = np.flatnonzero(good).astype(np.int64)
    if not len(chosen) or w[chosen].sum() <= 0:
        raise ValueError(
            f"dnc kept no row with weight after {params.iterations} iterations (n={n}, "
            f"removing {drop} each): lower defense.iterations or defense.c"
        )
    return Aggregated(
        weighted_mean(updates[chosen], w[chosen]), chosen, {"removed": float(n - len(chosen))}
    )
