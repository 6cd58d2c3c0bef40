"""Mimic against its definition: the client farthest along the top principal direction."""

import numpy as np

from fedray.attacks.mimic import mimic, most_heterogeneous
from fedray.registry import NoParams
from tests.attacks.updates import cluster


def test_mimic_copies_the_client_with_the_largest_top_component_projection():
    honest = cluster(9, 25, seed=3)
    honest[4] += np.linspace(-3, 3, 25, dtype=np.float32)  # one client far off on one axis

    out = mimic(honest, honest[:3], NoParams(), np.random.default_rng(0))

    centred = honest.astype(np.float64) - honest.mean(0, dtype=np.float64)
    top = np.linalg.svd(centred, full_matrices=False)[2][0]  # reference: SVD, not the Gram route
    expected = int(np.argmax(np.abs(centred @ top)))
    assert most_heterogeneous(honest) == expected == 4
    assert out.shape == (3, 25) and all(np.array_equal(row, honest[4]) for row in out)


def test_mimic_matches_svd_on_random_rows():
    for seed in range(5):
        honest = cluster(7, 11, seed=seed)
        centred = honest.astype(np.float64) - honest.mean(0, dtype=np.float64)
        top = np.linalg.svd(centred, full_matrices=False)[2][0]
        assert most_heterogeneous(honest) == int(np.argmax(np.abs(centred @ top)))


def test_mimic_with_one_honest_client_copies_it():
    honest = cluster(1, 4)
    out = mimic(honest, cluster(2, 4, seed=1), NoParams(), np.random.default_rng(0))
    assert np.array_equal(out, np.repeat(honest, 2, axis=0))
