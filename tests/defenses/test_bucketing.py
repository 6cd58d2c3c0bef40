"""Bucketing: every row in exactly one bucket, seeded, composable with any rule."""

import numpy as np
import pytest

from fedray.defenses import DEFENSES, bucketize, with_bucketing
from fedray.defenses.krum import KrumParams, MultiKrumParams, krum, multi_krum
from fedray.defenses.mean import mean
from fedray.defenses.median import TrimmedMeanParams, trimmed_mean
from fedray.registry import NoParams

from .cohorts import cluster, context, ones, with_outliers


@pytest.mark.parametrize("n, s", [(1, 1), (7, 1), (10, 2), (10, 3), (10, 10), (5, 8)])
def test_every_row_lands_in_exactly_one_bucket(n, s):
    updates = cluster(n, 3)

    means, totals, members = bucketize(updates, ones(n), s, np.random.default_rng(0))

    assert len(members) == -(-n // s) == len(means) == len(totals)
    assert sorted(np.concatenate(members).tolist()) == list(range(n))
    assert [len(m) for m in members[:-1]] == [s] * (len(members) - 1)


def test_bucket_means_are_weighted_and_carry_their_total_weight():
    updates = cluster(7, 4, seed=5)
    weights = np.arange(1.0, 8.0)

    means, totals, members = bucketize(updates, weights, 3, np.random.default_rng(1))

    for mean_row, total, rows in zip(means, totals, members):
        assert total == weights[rows].sum()
        np.testing.assert_allclose(mean_row, weights[rows] @ updates[rows] / total, rtol=1e-6)


def test_same_rng_same_buckets():
    updates = cluster(9, 2)

    first = bucketize(updates, ones(9), 2, np.random.default_rng(4))
    again = bucketize(updates, ones(9), 2, np.random.default_rng(4))

    assert all(np.array_equal(a, b) for a, b in zip(first[2], again[2]))
    assert np.array_equal(first[0], again[0])


def test_bucketed_mean_is_the_mean():
    updates = cluster(10, 4, seed=6)
    weights = np.arange(1.0, 11.0)

    out = with_bucketing(mean, 3)(updates, weights, NoParams(), context())

    expected = mean(updates, weights, NoParams(), context()).vector
    np.testing.assert_allclose(out.vector, expected, rtol=1e-6)
    assert out.stats == {"buckets": 4.0}


def test_buckets_of_one_change_nothing():
    updates = with_outliers(cluster(9, 3), 2)

    out = with_bucketing(krum, 1)(updates, ones(11), KrumParams(f=2), context())

    plain = krum(updates, ones(11), KrumParams(f=2), context())
    assert out.selected.tolist() == plain.selected.tolist()
    assert np.array_equal(out.vector, plain.vector)


def test_selected_buckets_map_back_to_their_rows():
    updates = cluster(12, 3, seed=2)
    rule = with_bucketing(multi_krum, 2)
    _, _, members = bucketize(updates, ones(12), 2, np.random.default_rng(0))

    out = rule(updates, ones(12), MultiKrumParams(f=1, m=2), context(seed=0))

    chosen = [m for m in members if set(m.tolist()) <= set(out.selected.tolist())]
    assert len(out.selected) == 4 and len(chosen) == 2


def test_f_keeps_counting_rows():
    # fraction 0.2 of 20 rows is f=4 bad rows; over 10 buckets that is still 4 bad buckets,
    # not floor(0.2 * 10) = 2, so trimming 4 per side leaves 2 buckets.
    updates = cluster(20, 3, seed=3)

    out = with_bucketing(trimmed_mean, 2)(
        updates, ones(20), TrimmedMeanParams(fraction=0.2), context()
    )

    assert out.vector.shape == (3,)
    with pytest.raises(ValueError, match="got n=10, f=5"):
        with_bucketing(trimmed_mean, 2)(updates, ones(20), TrimmedMeanParams(f=5), context())


def test_too_few_buckets_names_the_bucket_size():
    with pytest.raises(ValueError) as err:
        with_bucketing(krum, 3)(cluster(12, 2), ones(12), KrumParams(f=1), context())

    message = str(err.value)
    assert "with bucketing s=3, 12 updates make 4 buckets: krum needs n > 2f + 2" in message
    assert "lower the bucket size s" in message


def test_bucket_size_below_one_is_an_error():
    with pytest.raises(ValueError, match="bucketing needs s >= 1; got s=0"):
        with_bucketing(DEFENSES["median"].fn, 0)
