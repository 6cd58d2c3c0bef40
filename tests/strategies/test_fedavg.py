"""FedAvg: closed-form steps, the weighted mean against a plain loop, order invariance."""

import numpy as np
import pytest

from fedray.strategies import STRATEGIES
from fedray.strategies.aggregate import weighted_mean
from fedray.strategies.fedavg import FedAvgParams, fedavg
from tests.strategies.common import step

UPDATES = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
EXAMPLES = np.array([1, 3], dtype=np.int64)


@pytest.mark.parametrize(
    "weighted, server_lr, expected",
    [
        # weighted: (1*[1, 2] + 3*[3, 4]) / 4 = [2.5, 3.5]; uniform: [2, 3]
        (True, 1.0, [2.5, 3.5]),
        (True, 0.5, [1.25, 1.75]),
        (False, 1.0, [2.0, 3.0]),
        (False, 0.5, [1.0, 1.5]),
    ],
)
def test_two_clients_closed_form(weighted, server_lr, expected):
    params = np.zeros(2, np.float32)

    new, state, metrics = step(fedavg, params, UPDATES, EXAMPLES, FedAvgParams(server_lr, weighted))

    assert new.dtype == np.float32
    assert new.tolist() == expected
    assert state == {} and metrics == {}


def test_two_server_steps_at_lr_one_tenth_add_up():
    params = np.zeros(1, np.float32)
    delta = np.array([[1.0]], np.float32)
    cfg = FedAvgParams(server_lr=0.1)

    for _ in range(2):
        params, _, _ = step(fedavg, params, delta, np.array([5]), cfg)

    assert params.tolist() == [np.float32(0.2)]


def test_fedavg_does_not_modify_its_inputs():
    params = np.ones(2, np.float32)
    updates = UPDATES.copy()

    step(fedavg, params, updates, EXAMPLES, FedAvgParams(server_lr=0.5))

    assert params.tolist() == [1.0, 1.0] and np.array_equal(updates, UPDATES)


def test_fedavg_is_registered_with_its_params():
    entry = STRATEGIES["fedavg"]

    assert entry.fn is fedavg and entry.params is FedAvgParams


def test_uniform_ignores_example_counts():
    rng = np.random.default_rng(0)
    updates = rng.standard_normal((6, 9)).astype(np.float32)
    cfg = FedAvgParams(weighted=False)

    a, _, _ = step(fedavg, np.zeros(9, np.float32), updates, rng.integers(1, 100, 6), cfg)
    b, _, _ = step(fedavg, np.zeros(9, np.float32), updates, np.ones(6, np.int64), cfg)

    assert a.tobytes() == b.tobytes()


def test_weighted_with_equal_counts_is_the_uniform_mean():
    updates = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    params = np.zeros(4, np.float32)

    weighted, _, _ = step(fedavg, params, updates, np.full(5, 7), FedAvgParams(weighted=True))
    uniform, _, _ = step(fedavg, params, updates, np.full(5, 7), FedAvgParams(weighted=False))

    assert np.allclose(weighted, updates.mean(axis=0), atol=1e-6)
    assert weighted.tobytes() == uniform.tobytes()


@pytest.mark.parametrize("n, d", [(1, 3), (4, 17), (50, 200)])
def test_weighted_mean_matches_a_python_loop(n, d):
    rng = np.random.default_rng(n * 1000 + d)
    updates = rng.standard_normal((n, d)).astype(np.float32)
    weights = rng.integers(0, 50, n).astype(np.int64)
    weights[0] += 1  # total weight must be positive
    total = float(weights.sum())
    expected = [
        sum(float(weights[i]) * float(updates[i, j]) for i in range(n)) / total for j in range(d)
    ]

    got = weighted_mean(updates, weights)

    assert got.dtype == np.float32 and got.shape == (d,)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_weighted_mean_of_one_row_is_that_row():
    row = np.random.default_rng(2).standard_normal((1, 11)).astype(np.float32)

    assert weighted_mean(row, np.array([13])).tobytes() == row[0].tobytes()


def test_zero_weight_rows_do_not_count():
    updates = np.array([[1.0, 1.0], [100.0, -100.0], [3.0, 5.0]], np.float32)

    got = weighted_mean(updates, np.array([1, 0, 1]))

    assert got.tolist() == [2.0, 3.0]


@pytest.mark.parametrize("weights", [np.zeros(3), np.array([0.0, 0.0, 0.0]) * np.nan])
def test_weighted_mean_needs_a_positive_total(weights):
    with pytest.raises(ValueError, match="positive total weight"):
        weighted_mean(np.ones((3, 2), np.float32), weights)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fedavg_is_invariant_to_client_order(seed):
    rng = np.random.default_rng(seed)
    updates = rng.standard_normal((8, 30)).astype(np.float32)
    examples = rng.integers(1, 40, 8)
    params = rng.standard_normal(30).astype(np.float32)
    order = rng.permutation(8)
    cfg = FedAvgParams(server_lr=0.7)

    a, _, _ = step(fedavg, params, updates, examples, cfg)
    b, _, _ = step(fedavg, params, updates[order], examples[order], cfg)

    assert np.allclose(a, b, rtol=0, atol=1e-6)
