"""Mimic: every colluder copies one honest client, the one that most skews the aggregate.

Karimireddy, He and Jaggi, "Byzantine-robust learning on heterogeneous datasets via
bucketing", ICLR 2022. Copying an honest update passes every outlier test, yet it
over-weights that client's data, which is damaging exactly when clients differ. The paper
picks the client i* = argmax_i |<x_i - mu, z>| with z the top principal direction of the
honest updates (the direction of most heterogeneity), estimated over warm-up rounds.
Here cohorts are sampled, so the same client is rarely back; the choice is made afresh
each round among its honest clients, with z computed exactly: the top eigenvector u of
the (h, h) Gram matrix of the centred rows gives the projections sqrt(lambda) u, so
i* = argmax |u_i| (ties to the lowest index), at O(h^2 d) cost and no iteration.
"""

from __future__ import annotations

import numpy as np

from fedray.attacks.common import check_params, check_updates, repeat
from fedray.defenses.krum import pairwise_sq_distances
from fedray.registry import NoParams


def most_heterogeneous(honest: np.ndarray) -> int:
    """Return the index of the honest row farthest from the mean along the top principal axis."""
    h = len(honest)
    if h == 1:
        return 0
    # Gram of the centred rows from distances: G = -1/2 J D J (classical MDS), in float64.
    dist = pairwise_sq_distances(honest)
    centre = np.eye(h) - 1.0 / h
    gram = -0.5 * centre @ dist @ centre
    _, vectors = np.linalg.eigh(gram)
    return int(np.argmax(np.abs(vectors[:, -1])))


def mimic(
    honest: np.ndarray, malicious: np.ndarray, params: NoParams, rng: np.random.Generator
) -> np.ndarray:
    """Return the honest update of the most heterogeneous client, once per colluder.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used.
        params: none.
        rng: unused.

    Returns:
        (m, d) float32, every row a copy of honest[most_heterogeneous(honest)].
    """
    check_params("mimic", params, NoParams)
    _, m, _ = check_updates("mimic", honest, malicious, needs_honest=True)
    if m == 0:
        return malicious.astype(np.float32, copy=True)
    return repeat(honest[most_heterogeneous(honest)], m)
