"""Geometric median (RFA): by hand, its optimality condition, weights as multiplicities."""

import numpy as np
import pytest

from fedray.defenses.geometric_median import GeometricMedianParams, geometric_median

from .cohorts import cluster, context, ones, with_outliers

TIGHT = GeometricMedianParams(tol=1e-10, max_iter=1000)


@pytest.mark.parametrize(
    "weights, expected",
    [
        ([1, 1, 1], 1.0),  # on a line the geometric median is the median
        ([1, 1, 5], 10.0),  # a point holding more than half the weight is the median
    ],
)
def test_on_a_line_by_hand(weights, expected):
    updates = np.array([[0.0], [1.0], [10.0]], dtype=np.float32)

    out = geometric_median(updates, np.array(weights, float), TIGHT, context())

    assert out.vector[0] == pytest.approx(expected, abs=1e-5)


def test_satisfies_its_optimality_condition():
    # At the minimiser, the weighted unit vectors towards the points cancel out.
    updates = cluster(10, 5, seed=3)
    weights = np.random.default_rng(0).uniform(1, 5, 10)

    z = geometric_median(updates, weights, TIGHT, context()).vector.astype(np.float64)

    diff = z - updates
    units = diff / np.linalg.norm(diff, axis=1, keepdims=True)
    assert np.linalg.norm(weights @ units) < 1e-4 * weights.sum()


def test_integer_weights_act_as_repeated_rows():
    updates = cluster(4, 3, seed=8)
    weights = np.array([1.0, 2.0, 3.0, 1.0])

    weighted = geometric_median(updates, weights, TIGHT, context())
    repeated = geometric_median(np.repeat(updates, [1, 2, 3, 1], axis=0), ones(7), TIGHT, context())

    np.testing.assert_allclose(weighted.vector, repeated.vector, atol=1e-5)


def test_far_outliers_barely_move_it():
    honest = cluster(9, 5, seed=0)
    clean = geometric_median(honest, ones(9), TIGHT, context()).vector

    out = geometric_median(with_outliers(honest, 2), ones(11), TIGHT, context())

    # Each outlier pulls with a unit vector whatever its distance: a bounded shift.
    spread = np.linalg.norm(honest - clean, axis=1).max()
    assert np.linalg.norm(out.vector - clean) < spread


def test_stops_at_max_iter_and_reports_steps():
    updates = cluster(10, 5, seed=3)

    out = geometric_median(updates, ones(10), GeometricMedianParams(max_iter=2), context())

    assert out.stats["iterations"] == 2.0 and out.stats["objective"] > 0


def test_zero_total_weight_is_an_error():
    with pytest.raises(ValueError, match="positive total weight; got 0.0: leave clients"):
        geometric_median(cluster(3, 2), np.zeros(3), GeometricMedianParams(), context())
