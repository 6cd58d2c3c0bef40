"""Integer noise, conditional rounding and the random rotation against their definitions."""

import math

import numpy as np
import pytest

from fedray.privacy import discrete


def _dg_pmf(sigma: float, support: np.ndarray) -> np.ndarray:
    """N_Z(0, sigma^2) by its definition, normalised over a support wide enough to hold it."""
    wide = np.arange(-60 * max(sigma, 1), 60 * max(sigma, 1) + 1)
    norm = np.exp(-(wide**2) / (2 * sigma**2)).sum()
    return np.exp(-(support**2) / (2 * sigma**2)) / norm


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.5])
def test_discrete_gaussian_pmf_and_variance_match_the_definition(sigma):
    x = discrete.discrete_gaussian(sigma, 200_000, np.random.default_rng(0))

    support = np.arange(-4, 5)
    freq = np.array([(x == k).mean() for k in support])
    expected = _dg_pmf(sigma, support)
    # 200k draws: a frequency's standard error is at most sqrt(0.25 / 2e5) ~ 1.1e-3
    assert np.abs(freq - expected).max() < 5e-3
    wide = np.arange(-200, 201)
    variance = (_dg_pmf(sigma, wide) * wide**2).sum()
    assert x.var() == pytest.approx(variance, rel=0.02)
    assert variance <= sigma**2 * (1 + 1e-12)  # CKS 2020: Var < sigma^2 (equal to float64)
    assert abs(x.mean()) < 0.02


def test_discrete_laplace_pmf_decays_by_exp_minus_one_over_scale():
    x = discrete.discrete_laplace(2.0, 200_000, np.random.default_rng(1))

    p = {k: (x == k).mean() for k in range(-3, 4)}
    assert p[1] / p[0] == pytest.approx(math.exp(-0.5), rel=0.03)
    assert p[-2] / p[0] == pytest.approx(math.exp(-1.0), rel=0.04)
    assert p[3] == pytest.approx(p[-3], rel=0.1)  # symmetric: negative zero was rejected


def test_skellam_has_the_asked_variance_and_zero_mean():
    x = discrete.skellam(7.0, 200_000, np.random.default_rng(2))

    assert x.var() == pytest.approx(7.0, rel=0.02)
    assert abs(x.mean()) < 0.03


def test_samplers_are_deterministic_given_the_generator_and_zero_noise_is_zero():
    for name, sample in discrete.SAMPLERS.items():
        a = sample(3.0, 50, np.random.default_rng(5))
        b = sample(3.0, 50, np.random.default_rng(5))
        assert np.array_equal(a, b), name
        assert not sample(0.0, 10, np.random.default_rng(5)).any(), name


def test_rotation_is_orthogonal_and_inverts_exactly():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(100)
    signs = discrete.rotation_signs(100, rng)

    y = discrete.rotate(x, signs)

    assert len(y) == 128 == discrete.padded_dim(100)
    assert np.linalg.norm(y) == pytest.approx(np.linalg.norm(x), rel=1e-12)
    assert np.allclose(discrete.unrotate(y, signs, 100), x, atol=1e-12)


def test_rotation_flattens_a_spike():
    x = np.zeros(1024)
    x[7] = 32.0  # norm 32 on one coordinate
    y = discrete.rotate(x, discrete.rotation_signs(1024, np.random.default_rng(4)))

    assert np.abs(y).max() == pytest.approx(1.0)  # 32 / sqrt(1024) everywhere


def test_conditional_rounding_is_unbiased_and_within_its_norm_bound():
    rng = np.random.default_rng(6)
    x = rng.uniform(-3, 3, 64)
    x *= 20 / np.linalg.norm(x)
    bound = discrete.rounding_bound(20.0, 64)

    draws = np.stack([discrete.conditional_round(x, bound, rng) for _ in range(4000)])

    assert (np.linalg.norm(draws, axis=1) <= bound).all()
    assert np.abs(draws.mean(axis=0) - x).max() < 0.05
    assert (np.abs(draws - x) < 1).all()
    # Kairouz et al.'s bound: min(c^2 + d/4 + sqrt(2 log 1/beta)(c + sqrt(d)/2), (c + sqrt d)^2)
    assert bound**2 == pytest.approx(400 + 16 + 1.0 * (20 + 4))


def test_conditional_rounding_refuses_an_unclipped_input():
    with pytest.raises(RuntimeError, match="clip it before rounding"):
        discrete.conditional_round(np.full(4, 10.5), 1.0, np.random.default_rng(0), max_tries=5)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_samplers_refuse_bad_scales(bad):
    with pytest.raises(ValueError, match="sigma"):
        discrete.discrete_gaussian(bad, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="variance"):
        discrete.skellam(bad, 3, np.random.default_rng(0))
