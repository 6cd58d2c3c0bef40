"""FLAME: keep the majority cluster by cosine distance, clip to the median norm, add noise.

Nguyen, Rieger, Chen, Yalame, Möllering, Fereidooni, Marchal, Miettinen, Mirhoseini,
Zeitouni, Koushanfar, Sadeghi and Schneider, "FLAME: taming backdoors in federated
learning", USENIX Security 2022.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.clustering import clip_scale, cosine_distances, largest
from fedray.defenses.common import Aggregated, RoundContext, check_inputs, combine, row_norms


@dataclass(frozen=True)
class FlameParams:
    noise: float = field(default=0.001, metadata={"min": 0})  # lambda: sigma = lambda * median norm


def majority_cluster(dist: np.ndarray) -> np.ndarray:
    """Rows of the cluster HDBSCAN finds with min_cluster_size n/2 + 1 (FLAME's setting).

    scikit-learn's HDBSCAN (a declared dependency) over the precomputed cosine distances,
    with min_samples 1 and a single cluster allowed, as FLAME configures hdbscan. With no
    cluster at all (HDBSCAN labels every row noise) every row is admitted.
    """
    from sklearn.cluster import HDBSCAN

    n = len(dist)
    if n < 3:
        return np.arange(n, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the `copy` default is changing
        labels = HDBSCAN(
            min_cluster_size=n // 2 + 1,
            min_samples=1,
            metric="precomputed",
            allow_single_cluster=True,
        ).fit_predict(dist)
    rows = largest(labels)
    return rows if len(rows) else np.arange(n, dtype=np.int64)


def flame(
    updates: np.ndarray, weights: np.ndarray, params: FlameParams, ctx: RoundContext
) -> Aggregated:
    """Return mean_{i admitted} u_i min(1, S / ||u_i||) + N(0, (lambda S)^2) (Nguyen et al. 2022).

    Admitted: the majority HDBSCAN cluster of the cosine distances between the updates.
    S is the median norm of all n updates. The mean is unweighted, as in the paper; the
    noise draws from ctx.rng.

    Args:
        updates: (n, d) float32.
        weights: (n,) checked but unused.
        params: noise, FLAME's lambda (0.001 for image classification in the paper).
        ctx: rng for the Gaussian noise.

    Returns:
        (d,) float32; `selected` holds the admitted rows; stats["clip_norm"], ["noise_std"].
    """
    check_inputs("flame", updates, weights, params)
    n, d = updates.shape
    admitted = majority_cluster(cosine_distances(updates))
    limit = float(np.median(row_norms(updates)))
    _, scale = clip_scale(updates, limit)
    coeff = np.zeros(n)
    coeff[admitted] = scale[admitted] / len(admitted)
    sigma = params.noise * limit
    vector = combine(coeff, updates) + ctx.rng.normal(0.0, 1.0, d) * sigma
    stats = {"clip_norm": limit, "noise_std": sigma, "admitted": float(len(admitted))}
    return Aggregated(vector.astype(np.float32), admitted, stats)
