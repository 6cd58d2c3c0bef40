"""Bulyan: a hand-traced case, iterated Krum and the whole rule against naive loops."""

import numpy as np
import pytest

from fedray.defenses.bulyan import BulyanParams, bulyan, iterated_krum
from fedray.defenses.krum import pairwise_sq_distances

from .cohorts import cluster, context, ones


def naive_iterated_krum(updates: np.ndarray, f: int, count: int) -> list[int]:
    rows = updates.astype(np.float64)
    remaining, picked = list(range(len(rows))), []
    for _ in range(count):
        k = max(len(remaining) - f - 2, 1)
        scores = []
        for i in remaining:
            dists = sorted(float(np.sum((rows[i] - rows[j]) ** 2)) for j in remaining if j != i)
            scores.append(sum(dists[:k]))
        best = remaining[int(np.argmin(scores))] if len(remaining) > 1 else remaining[0]
        picked.append(best)
        remaining.remove(best)
    return picked


def naive_bulyan(updates: np.ndarray, f: int) -> np.ndarray:
    n, d = updates.shape
    chosen = updates[sorted(naive_iterated_krum(updates, f, n - 2 * f))].astype(np.float64)
    out = []
    for c in range(d):
        column = chosen[:, c]
        centre = np.median(column)
        closest = sorted(column, key=lambda v: abs(v - centre))[: n - 4 * f]
        out.append(np.mean(closest))
    return np.array(out)


def test_bulyan_on_a_line_by_hand():
    # f=1, n=7: theta=5 picks, beta=3 averaged. Krum picks 2, then 1 (ties with 3, lower
    # index), 3, 0 (ties with 4), then 4 (ties with 50; the last picks use one neighbour).
    # Median of {0..4} is 2; the three closest, {1, 2, 3}, average to 2.
    updates = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [50.0], [-60.0]], dtype=np.float32)

    out = bulyan(updates, ones(7), BulyanParams(f=1), context())

    assert iterated_krum(pairwise_sq_distances(updates), 1, 5).tolist() == [2, 1, 3, 0, 4]
    assert out.selected.tolist() == [0, 1, 2, 3, 4] and out.vector.tolist() == [2.0]


@pytest.mark.parametrize("n, f, count", [(5, 0, 5), (7, 1, 5), (11, 2, 7), (20, 4, 12), (9, 3, 9)])
def test_iterated_krum_matches_rescoring_from_scratch(n, f, count):
    updates = cluster(n, 4, seed=n * 10 + f)

    picked = iterated_krum(pairwise_sq_distances(updates), f, count)

    assert picked.tolist() == naive_iterated_krum(updates, f, count)


@pytest.mark.parametrize("n, f", [(3, 0), (7, 1), (11, 2), (16, 3)])
def test_bulyan_matches_naive_loops(n, f):
    updates = cluster(n, 6, seed=n)

    out = bulyan(updates, ones(n), BulyanParams(f=f), context())

    np.testing.assert_allclose(out.vector, naive_bulyan(updates, f), rtol=1e-6, atol=1e-7)


def test_f_zero_is_the_plain_mean():
    updates = cluster(6, 5, seed=2)

    out = bulyan(updates, ones(6), BulyanParams(f=0), context())

    np.testing.assert_allclose(out.vector, updates.mean(axis=0), rtol=1e-6, atol=1e-7)
    assert out.selected.tolist() == list(range(6))


def test_bulyan_needs_4f_plus_3_updates():
    with pytest.raises(ValueError) as err:
        bulyan(cluster(10, 2), ones(10), BulyanParams(f=2), context())

    assert "bulyan needs n >= 4f + 3 updates; got n=10, f=2: lower defense.f" in str(err.value)
