"""Server optimizers: closed-form steps and the formulas of Reddi et al. 2021."""

import numpy as np
import pytest

from fedray.strategies import server_opt
from fedray.strategies.fedavg import FedAvgMParams, fedavgm
from fedray.strategies.fedopt import FedOptParams, fedadagrad, fedadam, fedyogi
from tests.strategies.common import step

ONE = np.ones(1, np.float32)


def test_momentum_accumulates_like_a_heavy_ball():
    params, state = np.zeros(1, np.float32), {}

    for _ in range(3):
        params, state = server_opt.momentum(params, ONE, state, lr=1.0, beta=0.5)

    # v: 1, 1.5, 1.75; x: 1, 2.5, 4.25
    assert params.tolist() == [4.25] and state["momentum"].tolist() == [1.75]


def test_fedavgm_with_zero_momentum_is_fedavg():
    updates = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    params = np.zeros(5, np.float32)

    new, _, _ = step(fedavgm, params, updates, [1, 2, 3, 4], FedAvgMParams(momentum=0.0))

    expected = (np.array([1, 2, 3, 4], np.float32) / 10) @ updates
    assert np.allclose(new, expected, atol=1e-6)


def naive_adaptive(kind, deltas, lr, b1, b2, tau):
    x, m, v = 0.0, 0.0, tau * tau
    for d in deltas:
        m = b1 * m + (1 - b1) * d
        if kind == "adagrad":
            v = v + d * d
        elif kind == "adam":
            v = b2 * v + (1 - b2) * d * d
        else:
            v = v - (1 - b2) * d * d * np.sign(v - d * d)
        x = x + lr * m / (np.sqrt(v) + tau)
    return x


@pytest.mark.parametrize(
    "kind, fn", [("adagrad", fedadagrad), ("adam", fedadam), ("yogi", fedyogi)]
)
def test_adaptive_steps_match_the_paper_formulas(kind, fn):
    deltas = [0.5, -0.2, 0.8, 0.1]
    cfg = FedOptParams(server_lr=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    params, state = np.zeros(1, np.float32), {}

    for d in deltas:
        params, state, _ = step(fn, params, [[d]], [1], cfg, state)

    assert params[0] == pytest.approx(naive_adaptive(kind, deltas, 0.1, 0.9, 0.99, 1e-3), rel=1e-4)
    assert set(state) == {"m", "v"} and state["v"].dtype == np.float32


def test_adam_first_step_moves_by_about_lr_times_sign():
    # m = 0.1 d, v = 0.01 d^2 + 0.99 tau^2: for |d| >> tau the step is lr * 0.1 / 0.1 = lr.
    params, _, _ = step(
        fedadam,
        np.zeros(2, np.float32),
        [[3.0, -5.0]],
        [1],
        FedOptParams(server_lr=0.01, tau=1e-6, beta2=0.99),
    )

    assert np.allclose(params, [0.01, -0.01], rtol=1e-3)


def test_unknown_adaptive_kind_names_the_valid_ones():
    with pytest.raises(ValueError, match="adagrad, adam or yogi"):
        server_opt.adaptive(ONE, ONE, {}, kind="rmsprop", lr=1, beta1=0.9, beta2=0.9, tau=1e-3)
