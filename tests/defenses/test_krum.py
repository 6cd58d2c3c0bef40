"""Krum and Multi-Krum: hand-computed picks, scores against a double loop, honest picks."""

import numpy as np
import pytest

from fedray.defenses.krum import (
    KrumParams,
    MultiKrumParams,
    krum,
    krum_scores,
    multi_krum,
    pairwise_sq_distances,
)

from .cohorts import cluster, context, ones, with_outliers

# Mean 20: centring the Gram blocks keeps these small integers exact, so ties stay ties.
LINE = np.array([[0.0], [1.0], [2.0], [3.0], [94.0]], dtype=np.float32)


def naive_scores(updates: np.ndarray, f: int) -> np.ndarray:
    n = len(updates)
    rows = updates.astype(np.float64)
    scores = []
    for i in range(n):
        dists = sorted(float(np.sum((rows[i] - rows[j]) ** 2)) for j in range(n) if j != i)
        scores.append(sum(dists[: n - f - 2]))
    return np.array(scores)


def test_krum_on_a_line_by_hand():
    # f=1, n=5: two nearest neighbours. Scores: 0 -> 1+4, 1 -> 1+1, 2 -> 1+1, 3 -> 1+4,
    # 94 -> 91^2+92^2. Rows 1 and 2 tie; the lower index wins.
    out = krum(LINE, ones(5), KrumParams(f=1), context())

    assert out.vector.tolist() == [1.0]
    assert out.selected.tolist() == [1] and out.stats == {"score": 2.0}


@pytest.mark.parametrize(
    "weights, expected",
    [
        ([1, 1, 1, 1, 9], 1.5),  # the outlier's weight is dropped with it
        ([3, 1, 1, 1, 1], 1.0),  # (0*3 + 1 + 2 + 3) / 6
    ],
)
def test_multi_krum_on_a_line_by_hand(weights, expected):
    out = multi_krum(LINE, np.array(weights, float), MultiKrumParams(f=1), context())

    assert out.selected.tolist() == [0, 1, 2, 3]
    assert out.vector.tolist() == [expected]


def test_multi_krum_m_of_one_is_krum():
    updates = cluster(12, 4, seed=3)

    one = multi_krum(updates, ones(12), MultiKrumParams(f=2, m=1), context())
    best = krum(updates, ones(12), KrumParams(f=2), context())

    np.testing.assert_array_equal(one.selected, best.selected)
    np.testing.assert_allclose(one.vector, best.vector, rtol=1e-6)


@pytest.mark.parametrize("n, f", [(5, 0), (7, 2), (12, 3)])
def test_scores_match_a_double_loop(n, f):
    updates = cluster(n, 6, seed=n)

    scores = krum_scores(pairwise_sq_distances(updates), f)

    np.testing.assert_allclose(scores, naive_scores(updates, f), rtol=1e-9)


def test_distances_survive_a_large_common_offset():
    # Rows 1e4 from the origin but 1e-2 apart: the Gram trick must not cancel to noise.
    updates = cluster(6, 50, seed=1, centre=1e4, spread=1e-2)
    rows = updates.astype(np.float64)
    expected = ((rows[:, None, :] - rows[None, :, :]) ** 2).sum(axis=2)

    np.testing.assert_allclose(pairwise_sq_distances(updates), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("spread_out", [True, False])
def test_krum_picks_from_the_honest_cluster(spread_out):
    honest = cluster(9, 5, seed=0)
    if spread_out:
        updates = with_outliers(honest, 2)
    else:  # two colluders sending the same vector, just 10 away from the honest centre
        updates = np.concatenate([honest, np.full((2, 5), 10.0, np.float32)])

    one = krum(updates, ones(11), KrumParams(f=2), context())
    many = multi_krum(updates, ones(11), MultiKrumParams(f=2), context())

    assert one.selected[0] < 9
    assert many.selected.tolist() == list(range(9))


def test_fraction_sets_f():
    updates = cluster(8, 3)

    krum(updates, ones(8), KrumParams(fraction=0.25), context())  # f=2: 8 > 6 holds

    with pytest.raises(ValueError, match="got n=8, f=3"):
        krum(updates, ones(8), KrumParams(fraction=0.4), context())


@pytest.mark.parametrize(
    "rule, params", [(krum, KrumParams(f=4)), (multi_krum, MultiKrumParams(f=4))]
)
def test_too_few_updates_says_what_to_change(rule, params):
    with pytest.raises(ValueError) as err:
        rule(cluster(8, 3), ones(8), params, context())

    message = str(err.value)
    assert "needs n > 2f + 2 updates; got n=8, f=4" in message
    assert "defense.f" in message and "federation.clients_per_round" in message


@pytest.mark.parametrize(
    "m, message",
    [(0, "defense.m must be >= 1, got 0"), (9, "got m=9, n=8: set defense.m between 1 and n")],
)
def test_multi_krum_rejects_m_outside_one_to_n(m, message):
    with pytest.raises(ValueError, match=message):
        multi_krum(cluster(8, 3), ones(8), MultiKrumParams(f=1, m=m), context())
