"""Norm bounding: by hand, a bounded norm, and the plain mean when nothing is clipped."""

import numpy as np

from fedray.defenses.norm_bounding import NormBoundingParams, norm_bounding

from .cohorts import cluster, context, ones, with_outliers


def test_by_hand():
    # (3, 4) has norm 5 and becomes (0.6, 0.8); (0, 0.5) stays. Mean: (0.3, 0.65).
    updates = np.array([[3.0, 4.0], [0.0, 0.5]], dtype=np.float32)

    out = norm_bounding(updates, ones(2), NormBoundingParams(max_norm=1.0), context())

    np.testing.assert_allclose(out.vector, [0.3, 0.65], rtol=1e-6)
    assert out.stats == {"clipped": 1.0}


def test_large_bound_gives_the_weighted_mean():
    updates = cluster(5, 3, seed=1)
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])

    out = norm_bounding(updates, weights, NormBoundingParams(max_norm=1e9), context())

    np.testing.assert_allclose(out.vector, weights @ updates / weights.sum(), rtol=1e-5, atol=1e-6)


def test_outliers_cannot_push_the_norm_past_the_bound():
    updates = with_outliers(cluster(9, 5), 2)

    out = norm_bounding(updates, ones(11), NormBoundingParams(max_norm=2.0), context())

    assert np.linalg.norm(out.vector) <= 2.0 + 1e-6
