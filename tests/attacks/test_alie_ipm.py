"""ALIE's z from the paper's formula and its shift; IPM's exact direction."""

import math

import numpy as np
import pytest

from fedray.attacks.alie import AlieParams, alie, alie_z
from fedray.attacks.ipm import IpmParams, ipm

from .updates import cluster


def test_alie_z_for_fifty_workers_ten_malicious():
    # s = floor(50/2 + 1) - 10 = 16; z = Phi^-1((50 - 16) / 50) = Phi^-1(0.68).
    z = alie_z(50, 10)

    assert z == pytest.approx(0.4677, abs=5e-5)
    assert z == pytest.approx(0.46769879911450823, rel=1e-12)  # scipy.stats.norm.ppf(0.68)


def test_alie_z_matches_scipy_over_cohorts():
    norm = pytest.importorskip("scipy.stats").norm
    cases = [(n, m) for n in (5, 10, 20, 50, 101) for m in range(1, n // 2 + 1)]

    for n, m in cases:
        s = math.floor(n / 2 + 1) - m
        assert alie_z(n, m) == pytest.approx(norm.ppf((n - s) / n), rel=1e-12, abs=1e-12)


def test_alie_sends_mean_minus_z_std_to_every_colluder():
    honest, malicious = cluster(40, 7, seed=3), cluster(10, 7, seed=4)
    rows = honest.astype(np.float64)
    expected = rows.mean(axis=0) - alie_z(50, 10) * rows.std(axis=0)

    out = alie(honest, malicious, AlieParams(), np.random.default_rng(0))

    assert out.shape == (10, 7) and np.all(out == out[0])
    np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-7)


def test_alie_z_override():
    honest = np.array([[0.0, 2.0], [2.0, 6.0]], dtype=np.float32)  # mean 1, 4; std 1, 2

    out = alie(honest, np.zeros((1, 2), np.float32), AlieParams(z=1.5), np.random.default_rng(0))

    assert out.tolist() == [[-0.5, 1.0]]


def test_ipm_is_exactly_minus_epsilon_times_the_honest_mean():
    honest = np.array([[1.0, 2.0, -4.0], [3.0, 6.0, 0.0]], dtype=np.float32)  # mean 2, 4, -2

    out = ipm(honest, np.zeros((3, 3), np.float32), IpmParams(epsilon=0.5), None)

    assert out.tolist() == [[-1.0, -2.0, 1.0]] * 3


def test_ipm_points_against_the_honest_mean():
    honest, malicious = cluster(20, 30, seed=5), cluster(5, 30, seed=6)
    mean = honest.astype(np.float64).mean(axis=0)

    out = ipm(honest, malicious, IpmParams(epsilon=0.1), None)

    assert float(out[0].astype(np.float64) @ mean) < 0
    np.testing.assert_allclose(out, np.tile(-0.1 * mean, (5, 1)), rtol=1e-6)
