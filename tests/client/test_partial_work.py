"""Partial work: a client cut short by the virtual clock trains only its first steps, in the
loop and in a vectorised block alike."""

import numpy as np
import pytest
import torch

from fedray.client.train import train_client
from fedray.client.vectorized import train_block
from fedray.scenario.schema import Client
from tests.client.test_vectorized import CPU, client_data, generators, model_named, start

CFG = Client(epochs=2, batch_size=4, lr=0.1)  # 10 examples: 3 steps an epoch, 6 in all


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def loop(cid, cap, data):
    model = model_named("mlp")
    return train_client(
        model, start(model), cid, data, CFG, generators([cid])[0], CPU, None, None, cap
    )


@pytest.mark.parametrize("cap", [1, 4])
def test_a_capped_client_takes_exactly_its_first_steps(cap):
    data = client_data(10, 0)

    capped = loop(0, cap, data)
    full = loop(0, None, data)

    assert capped.extras["num_steps"] == cap and full.extras["num_steps"] == 6
    assert not np.array_equal(capped.delta, full.delta)
    # Cap 6 (the full count) changes nothing, bit for bit.
    assert np.array_equal(loop(0, 6, data).delta, full.delta)


def test_a_block_with_caps_matches_the_loop_client_by_client():
    datas = [client_data(n, i) for i, n in enumerate((10, 7, 13))]
    caps = [2, None, 5]
    model = model_named("mlp")

    block = train_block(
        model, start(model), [0, 1, 2], datas, CFG, generators([0, 1, 2]), CPU, None, None, caps
    )

    for i, u in enumerate(block):
        alone = loop(i, caps[i], datas[i])
        assert u.extras["num_steps"] == alone.extras["num_steps"]
        np.testing.assert_allclose(u.delta, alone.delta, rtol=1e-5, atol=1e-6)
        assert u.metrics["train_loss"] == pytest.approx(alone.metrics["train_loss"], rel=1e-5)
