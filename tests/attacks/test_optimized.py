"""Opt-ALIE / Opt-IPM: the search finds the most damaging factor against the defense."""

import numpy as np
import pytest

from fedray.attacks.optimized import OptAlieParams, OptIpmParams, best_factor, opt_alie, opt_ipm
from fedray.attacks.view import AttackView, mean_defense
from fedray.defenses import DEFENSES
from fedray.defenses.common import RoundContext
from fedray.registry import NoParams
from tests.attacks.updates import cluster


def median_defense(rows, weights=None):
    ctx = RoundContext(np.random.default_rng(0))
    return DEFENSES["median"].fn(rows, np.ones(len(rows)), NoParams(), ctx).vector


def damage(honest, row, m, defense):
    rows = np.concatenate([honest, np.repeat(row[None, :].astype(np.float32), m, axis=0)])
    return float(np.linalg.norm(defense(rows) - honest.mean(0, dtype=np.float64)))


def test_best_factor_finds_the_peak_of_a_unimodal_function():
    factor, value = best_factor(lambda x: -((x - 3.3) ** 2), 10.0, 11, 30)
    assert factor == pytest.approx(3.3, abs=1e-4) and value == pytest.approx(0, abs=1e-8)


def test_opt_ipm_against_the_mean_goes_to_the_largest_epsilon():
    honest, own = cluster(8, 6), cluster(2, 6, seed=1)
    view = AttackView(defense=mean_defense)

    out = opt_ipm(honest, own, OptIpmParams(max_factor=5.0), np.random.default_rng(0), view=view)

    np.testing.assert_allclose(out[0], -5.0 * honest.mean(0, dtype=np.float64), rtol=1e-6)


def test_opt_alie_against_the_median_beats_every_point_of_a_fine_grid_and_the_paper_z():
    honest, own = cluster(15, 12, seed=2), cluster(5, 12, seed=3)
    view = AttackView(defense=median_defense)
    mu, sigma = honest.mean(0, dtype=np.float64), honest.astype(np.float64).std(0)

    out = opt_alie(honest, own, OptAlieParams(), np.random.default_rng(0), view=view)

    got = damage(honest, out[0], 5, median_defense)
    brute = max(damage(honest, mu - z * sigma, 5, median_defense) for z in np.linspace(0, 10, 201))
    assert got >= brute - 1e-3 * brute
    assert got > damage(honest, mu - 0.39 * sigma, 5, median_defense)  # a fixed small z
    assert np.all(out == out[0])


def test_optimised_attacks_need_the_defense():
    with pytest.raises(ValueError, match="optimises against the defense"):
        opt_alie(cluster(4, 3), cluster(1, 3), OptAlieParams(), np.random.default_rng(0))


def test_the_search_queries_the_defense_a_bounded_number_of_times():
    calls = []

    def counting(rows, weights=None):
        calls.append(len(rows))
        return mean_defense(rows)

    params = OptIpmParams(grid=5, iterations=4)
    opt_ipm(
        cluster(6, 3),
        cluster(2, 3),
        params,
        np.random.default_rng(0),
        view=AttackView(defense=counting),
    )

    assert len(calls) == 5 + 2 + 4 and set(calls) == {8}
