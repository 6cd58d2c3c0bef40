"""Sign flip, scaling, Gaussian noise and none: closed forms and statistics with a seeded rng."""

import numpy as np
import pytest

from fedray.attacks import MODEL_ATTACKS
from fedray.attacks.simple import (
    GaussianParams,
    ScalingParams,
    SignFlipParams,
    gaussian,
    none,
    scaling,
    sign_flip,
)
from fedray.registry import NoParams

from .updates import cluster

OWN = np.array([[1.0, -2.0, 0.5], [0.0, 4.0, -0.25]], dtype=np.float32)


def test_sign_flip_and_scaling_by_hand():
    honest = cluster(5, 3)

    flipped = sign_flip(honest, OWN, SignFlipParams(scale=2.0), np.random.default_rng(0))
    scaled = scaling(honest, OWN, ScalingParams(gamma=10.0), np.random.default_rng(0))

    assert flipped.dtype == np.float32 and scaled.dtype == np.float32
    assert flipped.tolist() == [[-2.0, 4.0, -1.0], [0.0, -8.0, 0.5]]
    assert scaled.tolist() == [[10.0, -20.0, 5.0], [0.0, 40.0, -2.5]]


def test_none_returns_a_copy_of_the_own_updates():
    out = none(cluster(3, 3), OWN, NoParams(), np.random.default_rng(0))

    np.testing.assert_array_equal(out, OWN)
    assert out is not OWN


def test_gaussian_has_the_requested_spread_and_independent_rows():
    malicious = np.zeros((4, 50_000), dtype=np.float32)

    out = gaussian(
        cluster(3, 50_000), malicious, GaussianParams(sigma=3.0), np.random.default_rng(1)
    )

    assert out.shape == (4, 50_000) and out.dtype == np.float32
    # 200,000 draws: the sample std is within ~0.3% of sigma, the mean within ~0.02.
    assert abs(out.std() - 3.0) < 0.03
    assert abs(out.mean()) < 0.05
    assert abs(np.corrcoef(out[0], out[1])[0, 1]) < 0.02


def test_gaussian_is_deterministic_in_the_rng():
    malicious = np.zeros((2, 100), dtype=np.float32)
    params = GaussianParams(sigma=0.5)

    first = gaussian(cluster(3, 100), malicious, params, np.random.default_rng(7))
    again = gaussian(cluster(3, 100), malicious, params, np.random.default_rng(7))
    other = gaussian(cluster(3, 100), malicious, params, np.random.default_rng(8))

    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


def craft(name: str, honest, malicious):
    """Call a model attack; those that read the round's view get a median defense."""
    from fedray.attacks.frontier import VIEWED
    from fedray.attacks.view import AttackView

    entry, rng = MODEL_ATTACKS[name], np.random.default_rng(0)
    if name not in VIEWED:
        return entry.fn(honest, malicious, entry.params(), rng)
    view = AttackView(defense=lambda rows, w=None: np.median(rows, axis=0).astype(np.float32))
    return entry.fn(honest, malicious, entry.params(), rng, view=view)


@pytest.mark.parametrize("name", sorted(MODEL_ATTACKS))
def test_every_model_attack_keeps_the_shape_and_dtype(name):
    honest, malicious = cluster(8, 6, seed=1), cluster(3, 6, seed=2)

    out = craft(name, honest, malicious)

    assert out.shape == (3, 6) and out.dtype == np.float32
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", sorted(MODEL_ATTACKS))
def test_no_malicious_rows_give_no_rows(name):
    out = craft(name, cluster(5, 4), np.zeros((0, 4), np.float32))

    assert out.shape == (0, 4) and out.dtype == np.float32
