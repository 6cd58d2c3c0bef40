"""q-FFL / q-FedAvg (Li et al. 2020)."""

import numpy as np
import pytest

from fedray.strategies.qffl import QFFLParams, qffl
from tests.strategies.common import context, step


def test_q_zero_is_the_uniform_mean_of_the_local_models():
    updates = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    params = np.ones(3, np.float32)

    new, _, _ = step(
        qffl, params, updates, [1, 9, 2, 5], QFFLParams(q=0.0), initial_loss=[0.5, 1.0, 2.0, 3.0]
    )

    assert np.allclose(new, params + updates.mean(axis=0), atol=1e-6)


def test_closed_form_against_the_paper_formula():
    lr, q = 0.1, 1.0
    big_l = 1 / lr
    deltas = np.array([[0.2], [-0.1]], np.float32)
    losses = np.array([2.0, 0.5])
    dw = -big_l * deltas.astype(np.float64)
    d = losses[:, None] ** q * dw
    h = q * losses ** (q - 1) * (dw**2).sum(axis=1) + big_l * losses**q
    expected = 1.0 - d.sum(axis=0) / h.sum()

    new, _, _ = step(
        qffl,
        np.ones(1, np.float32),
        deltas,
        [1, 1],
        QFFLParams(q=q),
        ctx=context(client_lr=lr),
        initial_loss=losses,
    )

    assert new[0] == pytest.approx(expected[0], rel=1e-5)


def test_larger_q_leans_toward_the_worse_off_client():
    deltas = np.array([[1.0], [-1.0]], np.float32)  # client 0 has the higher loss
    losses = [4.0, 1.0]

    fair, _, _ = step(
        qffl, np.zeros(1, np.float32), deltas, [1, 1], QFFLParams(q=2.0), initial_loss=losses
    )
    plain, _, _ = step(
        qffl, np.zeros(1, np.float32), deltas, [1, 1], QFFLParams(q=0.0), initial_loss=losses
    )

    assert fair[0] > plain[0]
