"""No defense: the weighted mean, by hand and against a loop."""

import numpy as np

from fedray.defenses.mean import mean
from fedray.registry import NoParams

from .cohorts import cluster, context


def test_two_updates_closed_form():
    updates = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)

    out = mean(updates, np.array([1.0, 3.0]), NoParams(), context())

    # (1 * [1, 2] + 3 * [3, 4]) / 4
    assert out.vector.tolist() == [2.5, 3.5] and out.vector.dtype == np.float32
    assert out.selected is None and out.stats == {}


def test_matches_a_plain_loop():
    updates = cluster(9, 6, seed=4)
    weights = np.arange(1.0, 10.0)
    expected = np.zeros(6)
    for row, weight in zip(updates, weights):
        expected += weight * row.astype(np.float64)

    out = mean(updates, weights, NoParams(), context())

    np.testing.assert_allclose(out.vector, expected / weights.sum(), rtol=1e-6)


def test_one_outlier_moves_the_mean_without_bound():
    updates = np.array([[0.0], [0.0], [1e6]], dtype=np.float32)

    out = mean(updates, np.ones(3), NoParams(), context())

    assert out.vector[0] > 3e5
