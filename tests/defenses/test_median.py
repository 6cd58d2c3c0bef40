"""Coordinate-wise median and trimmed mean: by hand, against numpy and a sorting loop."""

import numpy as np
import pytest

from fedray.defenses import common
from fedray.defenses.median import TrimmedMeanParams, median, trimmed_mean
from fedray.registry import NoParams

from .cohorts import cluster, context, ones


def naive_trimmed_mean(updates: np.ndarray, f: int) -> np.ndarray:
    n, d = updates.shape
    out = []
    for c in range(d):
        kept = sorted(float(v) for v in updates[:, c])[f : n - f]
        out.append(sum(kept) / len(kept))
    return np.array(out)


def test_median_and_trimmed_mean_by_hand():
    updates = np.array([[1.0, 10.0], [2.0, -5.0], [100.0, 0.0], [3.0, 7.0]], dtype=np.float32)

    med = median(updates, ones(4), NoParams(), context())
    trim = trimmed_mean(updates, ones(4), TrimmedMeanParams(f=1), context())

    # column 0 sorted: 1 2 3 100; column 1 sorted: -5 0 7 10
    assert med.vector.tolist() == [2.5, 3.5]
    assert trim.vector.tolist() == [2.5, 3.5]


@pytest.mark.parametrize("n", [1, 2, 7, 10])
def test_median_matches_numpy(n):
    updates = cluster(n, 13, seed=n)

    out = median(updates, ones(n), NoParams(), context())

    np.testing.assert_array_equal(out.vector, np.median(updates, axis=0))


@pytest.mark.parametrize("n, f", [(1, 0), (5, 2), (10, 3), (11, 0)])
def test_trimmed_mean_matches_a_sorting_loop(n, f):
    updates = cluster(n, 9, seed=n + f)

    out = trimmed_mean(updates, ones(n), TrimmedMeanParams(f=f), context())

    np.testing.assert_allclose(out.vector, naive_trimmed_mean(updates, f), rtol=1e-6, atol=1e-7)


def test_column_blocks_do_not_change_the_result(monkeypatch):
    updates = cluster(10, 23, seed=5)
    whole_med = median(updates, ones(10), NoParams(), context()).vector
    whole_trim = trimmed_mean(updates, ones(10), TrimmedMeanParams(f=2), context()).vector
    monkeypatch.setattr(common, "BLOCK_VALUES", 30)  # 3 columns per block

    med = median(updates, ones(10), NoParams(), context()).vector
    trim = trimmed_mean(updates, ones(10), TrimmedMeanParams(f=2), context()).vector

    np.testing.assert_array_equal(med, whole_med)
    np.testing.assert_array_equal(trim, whole_trim)


def test_weights_do_not_buy_influence():
    updates = np.array([[0.0], [1.0], [1e6]], dtype=np.float32)
    heavy = np.array([1.0, 1.0, 1e9])

    med = median(updates, heavy, NoParams(), context())
    trim = trimmed_mean(updates, heavy, TrimmedMeanParams(f=1), context())

    assert med.vector.tolist() == [1.0] and trim.vector.tolist() == [1.0]


def test_trimmed_mean_needs_more_than_2f_updates():
    with pytest.raises(ValueError, match="trimmed_mean needs n > 2f updates; got n=6, f=3: lower"):
        trimmed_mean(cluster(6, 2), ones(6), TrimmedMeanParams(f=3), context())
