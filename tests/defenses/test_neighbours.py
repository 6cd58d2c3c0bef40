"""Meamed and MoNNA against naive loops, and MoNNA's pivots through a scenario."""

import numpy as np
import pytest

from fedray.defenses import DEFENSES, REQUIREMENTS, RoundContext, needs_root
from fedray.defenses.common import Assumed
from fedray.defenses.meamed import meamed
from fedray.defenses.monna import MoNNAParams, monna
from fedray.scenario import load_scenario

from .cohorts import cluster, context, ones, with_outliers


def naive_meamed(updates, f):
    """Per coordinate: sort by (distance to the median, value), average the first n - f."""
    n, d = updates.shape
    out = []
    for j in range(d):
        column = sorted(float(v) for v in updates[:, j])
        mid = n // 2
        centre = column[mid] if n % 2 else (column[mid - 1] + column[mid]) / 2
        nearest = sorted(column, key=lambda v: (abs(v - centre), v))[: n - f]
        out.append(sum(nearest) / len(nearest))
    return np.array(out)


def naive_monna(updates, f, pivot):
    n = len(updates)
    distance = [float(np.sqrt(((updates[i].astype(float) - pivot) ** 2).sum())) for i in range(n)]
    keep = sorted(sorted(range(n), key=lambda i: (distance[i], i))[: n - f])
    return keep, updates[keep].astype(float).mean(0)


@pytest.mark.parametrize("n, f", [(5, 1), (8, 2), (11, 5)])
def test_meamed_matches_a_loop_over_coordinates(n, f):
    updates = cluster(n, 7, seed=n + f)
    updates[0, :3] = updates[1, :3]  # repeated values
    updates[:, 3] = np.arange(n) - (n - 1) / 2  # symmetric around the median: ties

    out = meamed(updates, ones(n), Assumed(f=f), context())

    np.testing.assert_allclose(out.vector, naive_meamed(updates, f), rtol=1e-6, atol=1e-7)


def test_meamed_with_f_zero_is_the_mean_and_ignores_far_outliers():
    updates = cluster(9, 5, seed=3)
    np.testing.assert_allclose(
        meamed(updates, ones(9), Assumed(), context()).vector, updates.mean(0), rtol=1e-5
    )
    attacked = with_outliers(updates, 2, scale=1e6)

    out = meamed(attacked, ones(11), Assumed(f=2), context())

    assert np.all(np.abs(out.vector) < 3)


@pytest.mark.parametrize("pivot", ["median", "previous", "reference"])
def test_monna_averages_the_rows_nearest_its_pivot(pivot):
    updates = cluster(9, 6, seed=4)
    previous = np.full(6, 0.5)
    reference = updates[2].astype(np.float64) + 0.01
    expected_pivot = {
        "median": np.median(updates.astype(np.float64), axis=0),
        "previous": previous,
        "reference": reference,
    }[pivot]

    out = monna(updates, ones(9), MoNNAParams(f=3, pivot=pivot), context(1, previous, reference))

    keep, mean = naive_monna(updates, 3, expected_pivot)
    assert out.selected.tolist() == keep
    np.testing.assert_allclose(out.vector, mean, rtol=1e-5, atol=1e-7)


def test_monna_previous_falls_back_to_the_median_in_the_first_round():
    updates = cluster(7, 4, seed=5)
    first = monna(updates, ones(7), MoNNAParams(f=2, pivot="previous"), context())
    median = monna(updates, ones(7), MoNNAParams(f=2), context())
    assert first.vector.tobytes() == median.vector.tobytes()


def test_monna_keeps_the_honest_cluster_against_colluders():
    honest = cluster(12, 10, seed=6, centre=1.0, spread=0.2)
    evil = np.tile(-3 * honest.mean(0), (3, 1)).astype(np.float32)

    out = monna(np.concatenate([honest, evil]), ones(15), MoNNAParams(f=3), context())

    assert out.selected.max() < 12


def test_monna_reference_without_one_says_what_to_pass():
    with pytest.raises(ValueError, match="needs the server's root-set update"):
        monna(cluster(5, 3), ones(5), MoNNAParams(f=1, pivot="reference"), RoundContext(None))


@pytest.mark.parametrize("name", ["meamed", "monna"])
def test_both_need_an_honest_majority(name):
    with pytest.raises(ValueError, match=rf"{name} needs n > 2f updates; got n=6, f=3"):
        REQUIREMENTS[name](6, DEFENSES[name].params(f=3))


def test_a_scenario_names_the_pivot_and_only_reference_trains_a_root_set():
    s = load_scenario({"defense": {"type": "monna", "fraction": 0.2, "pivot": "reference"}})
    assert s.defense.params == MoNNAParams(fraction=0.2, pivot="reference") and needs_root(
        s.defense
    )
    assert not needs_root(load_scenario({"defense": {"type": "monna"}}).defense)
    with pytest.raises(ValueError, match="defense.pivot: not a valid choice"):
        load_scenario({"defense": {"type": "monna", "pivot": "mean"}})
