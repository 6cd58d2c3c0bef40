"""Centered clipping: by hand, a bounded move from the centre, L steps as a loop."""

import numpy as np
import pytest

from fedray.defenses.centered_clipping import CenteredClippingParams, centered_clipping

from .cohorts import cluster, context, ones, with_outliers


def test_one_step_by_hand():
    # From 0 with tau=1: (3, 0) is clipped to (1, 0); (0, 0.5) is kept; their mean is taken.
    updates = np.array([[3.0, 0.0], [0.0, 0.5]], dtype=np.float32)

    out = centered_clipping(updates, ones(2), CenteredClippingParams(tau=1.0), context())

    assert out.vector.tolist() == [0.5, 0.25] and out.stats == {"clipped": 1.0}


def test_no_previous_centres_at_zero():
    updates = cluster(6, 4, seed=1, centre=3.0)
    params = CenteredClippingParams(tau=0.5, iterations=2)

    first = centered_clipping(updates, ones(6), params, context())
    zero = centered_clipping(updates, ones(6), params, context(previous=np.zeros(4)))

    np.testing.assert_array_equal(first.vector, zero.vector)


def test_large_tau_gives_the_weighted_mean():
    updates = cluster(6, 4, seed=2)
    weights = np.arange(1.0, 7.0)
    previous = np.full(4, 7.0, dtype=np.float32)

    out = centered_clipping(
        updates, weights, CenteredClippingParams(tau=1e9), context(previous=previous)
    )

    np.testing.assert_allclose(out.vector, weights @ updates / weights.sum(), rtol=1e-5, atol=1e-6)
    assert out.stats == {"clipped": 0.0}


def test_iterations_repeat_the_step():
    updates = cluster(7, 3, seed=4, centre=2.0)
    previous = np.zeros(3, dtype=np.float32)
    expected = previous.astype(np.float64)
    for _ in range(3):
        step = centered_clipping(
            updates, ones(7), CenteredClippingParams(tau=0.3), context(previous=expected)
        )
        expected = step.vector.astype(np.float64)

    out = centered_clipping(
        updates, ones(7), CenteredClippingParams(tau=0.3, iterations=3), context(previous=previous)
    )

    np.testing.assert_allclose(out.vector, expected, rtol=1e-6)


@pytest.mark.parametrize("iterations", [1, 3])
def test_outliers_move_it_at_most_l_tau(iterations):
    honest = cluster(9, 5, seed=0)
    previous = honest.mean(axis=0)
    params = CenteredClippingParams(tau=0.5, iterations=iterations)

    out = centered_clipping(with_outliers(honest, 2), ones(11), params, context(previous=previous))

    assert np.linalg.norm(out.vector - previous) <= 0.5 * iterations + 1e-5


def test_previous_of_the_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match=r"RoundContext.previous of shape \(4,\); got \(3,\)"):
        centered_clipping(
            cluster(3, 4), ones(3), CenteredClippingParams(), context(previous=np.zeros(3))
        )
