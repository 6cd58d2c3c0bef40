"""FedNova: normalised averaging (Wang et al. 2020)."""

import numpy as np

from fedray.strategies.fedavg import FedAvgParams, fedavg
from fedray.strategies.fednova import FedNovaParams, fednova
from tests.strategies.common import step


def test_equal_local_steps_make_fednova_fedavg():
    updates = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    params = np.zeros(4, np.float32)

    nova, _, metrics = step(
        fednova, params, updates, [2, 3, 5], FedNovaParams(), num_steps=[7, 7, 7]
    )
    avg, _, _ = step(fedavg, params, updates, [2, 3, 5], FedAvgParams())

    assert np.allclose(nova, avg, atol=1e-6)
    assert metrics["tau_eff"] == 7.0


def test_closed_form_with_unequal_steps():
    # p = [0.5, 0.5]; normalised [4/4, 2/1] = [1, 2]; tau_eff = 0.5*4 + 0.5*1 = 2.5
    new, _, metrics = step(
        fednova,
        np.zeros(1, np.float32),
        [[4.0], [2.0]],
        [10, 10],
        FedNovaParams(),
        num_steps=[4, 1],
    )

    assert metrics["tau_eff"] == 2.5
    assert new.tolist() == [2.5 * 1.5]


def test_a_client_with_many_steps_pulls_less_than_under_fedavg():
    updates = np.array([[10.0], [-1.0]], np.float32)  # the first ran 10x as many steps
    nova, _, _ = step(
        fednova, np.zeros(1, np.float32), updates, [1, 1], FedNovaParams(), num_steps=[10, 1]
    )
    avg, _, _ = step(fedavg, np.zeros(1, np.float32), updates, [1, 1], FedAvgParams())

    assert nova[0] < avg[0]
