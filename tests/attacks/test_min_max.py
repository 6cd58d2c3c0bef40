"""Min-Max and Min-Sum: each respects its bound, near-tight, against closed-form gammas."""

import numpy as np
import pytest

from fedray.attacks.min_max import MinMaxParams, largest_gamma, min_max, min_sum

from .updates import cluster, sq_distances

DIRECTIONS = ["unit", "sign", "std"]


def direction(honest: np.ndarray, name: str) -> np.ndarray:
    rows = honest.astype(np.float64)
    mean = rows.mean(axis=0)
    return {
        "unit": -mean / np.linalg.norm(mean),
        "sign": -np.sign(mean),
        "std": -rows.std(axis=0),
    }[name]


def gamma_of(out: np.ndarray, honest: np.ndarray, p: np.ndarray) -> float:
    """Recover gamma from mal = mean + gamma * p by least squares."""
    diff = out[0].astype(np.float64) - honest.astype(np.float64).mean(axis=0)
    return float(diff @ p / (p @ p))


@pytest.mark.parametrize("name", DIRECTIONS)
def test_min_max_respects_its_bound_and_is_tight(name):
    honest = cluster(12, 20, seed=1)
    params = MinMaxParams(direction=name, tol=1e-5)
    bound = sq_distances(honest, honest).max()
    mean, p = honest.astype(np.float64).mean(axis=0), direction(honest, name)

    out = min_max(honest, np.zeros((3, 20), np.float32), params, None)

    gamma = gamma_of(out, honest, p)
    assert np.all(out == out[0])
    assert sq_distances(out[:1], honest).max() <= bound * (1 + 1e-6)
    beyond = (mean + (gamma + 2 * params.tol) * p)[None]
    assert sq_distances(beyond, honest).max() > bound


@pytest.mark.parametrize("name", DIRECTIONS)
def test_min_sum_respects_its_bound_and_is_tight(name):
    honest = cluster(12, 20, seed=2)
    params = MinMaxParams(direction=name, tol=1e-5)
    bound = sq_distances(honest, honest).sum(axis=1).max()
    mean, p = honest.astype(np.float64).mean(axis=0), direction(honest, name)

    out = min_sum(honest, np.zeros((3, 20), np.float32), params, None)

    gamma = gamma_of(out, honest, p)
    assert np.all(out == out[0])
    assert sq_distances(out[:1], honest).sum() <= bound * (1 + 1e-6)
    beyond = (mean + (gamma + 2 * params.tol) * p)[None]
    assert sq_distances(beyond, honest).sum() > bound


def test_min_sum_gamma_matches_its_closed_form():
    # sum_i ||mean + g p - b_i||^2 = S0 + h g^2 ||p||^2 (the cross term sums to zero), so the
    # largest gamma is sqrt((bound - S0) / (h ||p||^2)).
    honest = cluster(9, 15, seed=3)
    rows = honest.astype(np.float64)
    p = direction(honest, "unit")
    s0 = ((rows - rows.mean(axis=0)) ** 2).sum()
    expected = np.sqrt((sq_distances(honest, honest).sum(axis=1).max() - s0) / 9)

    out = min_sum(honest, np.zeros((1, 15), np.float32), MinMaxParams(tol=1e-7), None)

    assert gamma_of(out, honest, p) == pytest.approx(expected, abs=1e-4)


def test_gamma_far_beyond_gamma_init_is_still_found():
    # gamma* is about 1e3 times gamma_init: the paper's halving from gamma_init would stop at 2.
    honest = cluster(6, 10, seed=4, spread=100.0)
    p = direction(honest, "unit")

    low = min_max(honest, np.zeros((1, 10), np.float32), MinMaxParams(gamma_init=1.0), None)
    high = min_max(honest, np.zeros((1, 10), np.float32), MinMaxParams(gamma_init=1e4), None)

    assert gamma_of(low, honest, p) > 100
    assert gamma_of(low, honest, p) == pytest.approx(gamma_of(high, honest, p), rel=1e-6)


def test_largest_gamma_by_hand():
    gamma = largest_gamma(lambda g: g <= 3.3, gamma_init=1.0, tol=1e-6)

    assert 3.3 - 1e-6 <= gamma <= 3.3


def test_identical_honest_updates_give_their_mean():
    honest = np.tile(np.array([[1.0, -2.0, 3.0]], np.float32), (4, 1))

    out = min_max(honest, np.zeros((2, 3), np.float32), MinMaxParams(direction="std"), None)

    assert out.tolist() == [[1.0, -2.0, 3.0]] * 2
