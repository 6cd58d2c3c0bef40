"""FLTrust: by hand, no weight for updates against the reference, scale does not buy trust."""

import numpy as np
import pytest

from fedray.defenses.fltrust import fltrust
from fedray.registry import NoParams

from .cohorts import cluster, context, ones

REFERENCE = np.array([1.0, 0.0], dtype=np.float32)


def test_by_hand():
    # (2, 0): trust 1, rescaled to (1, 0). (1, 1): trust 1/sqrt2, rescaled to (1, 1)/sqrt2.
    # (-5, 0): trust 0. Result: ((1, 0) + r (r, r)) / (1 + r) with r = 1/sqrt2.
    updates = np.array([[2.0, 0.0], [1.0, 1.0], [-5.0, 0.0]], dtype=np.float32)
    r = 1 / np.sqrt(2)

    out = fltrust(updates, ones(3), NoParams(), context(reference=REFERENCE))

    np.testing.assert_allclose(out.vector, [(1 + r * r) / (1 + r), r * r / (1 + r)], rtol=1e-6)
    assert out.stats == {"trusted": 2.0}


@pytest.mark.parametrize("scale", [1.0, 1e6])
def test_an_update_against_the_reference_gets_no_weight(scale):
    honest = cluster(5, 4, seed=2, centre=1.0)
    reference = honest.mean(axis=0)
    against = (-scale * reference)[None, :]

    alone = fltrust(honest, ones(5), NoParams(), context(reference=reference))
    attacked = fltrust(
        np.concatenate([honest, against]), ones(6), NoParams(), context(reference=reference)
    )

    np.testing.assert_allclose(attacked.vector, alone.vector, rtol=1e-6)


def test_scaling_an_update_buys_no_influence():
    updates = cluster(5, 4, seed=3, centre=1.0)
    boosted = updates.copy()
    boosted[0] *= 1e4
    ctx = context(reference=updates.mean(axis=0))

    plain = fltrust(updates, ones(5), NoParams(), ctx)
    loud = fltrust(boosted, ones(5), NoParams(), ctx)

    np.testing.assert_allclose(loud.vector, plain.vector, rtol=1e-5)
    assert np.linalg.norm(plain.vector) <= np.linalg.norm(ctx.reference) * (1 + 1e-6)


def test_no_trusted_update_gives_zeros():
    updates = np.array([[-1.0, 0.0], [0.0, 0.0]], dtype=np.float32)

    out = fltrust(updates, ones(2), NoParams(), context(reference=REFERENCE))

    assert out.vector.tolist() == [0.0, 0.0] and out.stats == {"trusted": 0.0}


def test_missing_reference_says_what_to_pass():
    with pytest.raises(ValueError, match="fltrust needs RoundContext.reference"):
        fltrust(cluster(3, 2), ones(3), NoParams(), context())
