"""ClippedClustering: clip to the median of all norms seen so far, split the clipped updates
into two clusters by cosine distance, average the larger.

Li, Lyu, Wang and Zhang, "An experimental study of Byzantine-robust aggregation schemes in
federated learning", IEEE Transactions on Big Data 2023 (Blades).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.clustering import cosine_distances, largest
from fedray.defenses.common import (
    Aggregated,
    RoundContext,
    check_inputs,
    combine,
    require_weight,
    row_blocks,
    row_norms,
)

NORMS = "clipped_clustering_norms"  # the rule's state: the last `window` norms seen


@dataclass(frozen=True)
class ClippedClusteringParams:
    # Norms remembered across rounds (the paper keeps them all; a window bounds the state).
    window: int = field(default=10_000, metadata={"min": 1})


def two_clusters(dist: np.ndarray) -> np.ndarray:
    """Labels of average-linkage agglomerative clustering into two, over precomputed distances."""
    from sklearn.cluster import AgglomerativeClustering

    if len(dist) < 2:
        return np.zeros(len(dist), np.int64)
    model = AgglomerativeClustering(n_clusters=2, metric="precomputed", linkage="average")
    return model.fit_predict(dist)


def clipped_clustering(
    updates: np.ndarray, weights: np.ndarray, params: ClippedClusteringParams, ctx: RoundContext
) -> Aggregated:
    """Return the weighted mean of the clipped rows in the larger cosine cluster (Li et al. 2023).

    tau is the median of this round's norms together with the last `window` norms of the
    rounds before (kept in ctx.state, checkpointed); every row is scaled to norm at most
    tau, the clipped rows are clustered in two by average linkage over cosine distance,
    and the larger cluster (ties: the one holding the lower row) is averaged.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative; the chosen rows are averaged with them.
        params: window.
        ctx: state holds the norms of earlier rounds.

    Returns:
        (d,) float32; `selected` holds the averaged rows; `state` the norms to remember.
    """
    w = check_inputs("clipped_clustering", updates, weights, params)
    norms = row_norms(updates)
    seen = np.concatenate([np.asarray(ctx.state.get(NORMS, np.zeros(0)), np.float64), norms])
    tau = float(np.median(seen))
    scale = np.where(norms > tau, tau / np.maximum(norms, 1e-300), 1.0)
    clipped = np.empty(updates.shape, np.float32)
    for rows in row_blocks(*updates.shape):
        clipped[rows] = updates[rows].astype(np.float64) * scale[rows, None]
    chosen = largest(two_clusters(cosine_distances(clipped)))
    kept = np.zeros(len(w))
    kept[chosen] = w[chosen]
    total = require_weight("clipped_clustering (over the larger cluster)", kept)
    vector = combine(kept / total, clipped)
    stats = {"clip_norm": tau, "clipped": float(np.count_nonzero(norms > tau))}
    return Aggregated(vector.astype(np.float32), chosen, stats, {NORMS: seen[-params.window :]})
