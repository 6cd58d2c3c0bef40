"""SCAFFOLD (Karimireddy et al. 2020): the server step and the client's variate update."""

import numpy as np
import torch

from fedray import seeding
from fedray.client.plan import ClientPlan
from fedray.client.train import train_client
from fedray.data.federation import ClientData
from fedray.models import build_model, flatten
from fedray.registry import NoParams
from fedray.scenario.schema import Client
from fedray.strategies.scaffold import ScaffoldParams, scaffold
from tests.strategies.common import context, step


def test_server_moves_x_by_the_mean_and_c_by_the_sampled_share():
    deltas = np.array([[1.0, 0.0], [3.0, 2.0]], np.float32)
    dc = np.array([[2.0, 2.0], [4.0, 0.0]], np.float32)

    new, state, _ = step(
        scaffold,
        np.zeros(2, np.float32),
        deltas,
        [5, 1],
        ScaffoldParams(server_lr=0.5),
        ctx=context(population=10),
        control_delta=dc,
    )

    assert new.tolist() == [1.0, 0.5]  # 0.5 * uniform mean [2, 1]
    assert np.allclose(state["c"], 2 / 10 * dc.mean(axis=0))


def client(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    return ClientData(x, rng.integers(0, 3, 40), x[:0], np.zeros(0, np.int64))


def fresh_model():
    torch.manual_seed(0)  # the same initial weights in every run of a test
    return build_model("logreg", NoParams(), (5,), 3)


TWO_EPOCHS = Client(epochs=2, batch_size=8, lr=0.1)


def run(c, c_i, cfg=TWO_EPOCHS):
    model = fresh_model()
    params = flatten(model)
    generator = seeding.torch_generator(0, 1, 3, seeding.TRAIN)
    update = train_client(
        model,
        params,
        3,
        client(),
        cfg,
        generator,
        torch.device("cpu"),
        ClientPlan(control_variates=True),
        (c, c_i),
    )
    return update


def test_zero_variates_train_exactly_like_plain_sgd():
    zeros = np.zeros(18, np.float32)
    cfg = Client(epochs=2, batch_size=8, lr=0.1)
    plain_model = fresh_model()
    generator = seeding.torch_generator(0, 1, 3, seeding.TRAIN)
    plain = train_client(
        plain_model, flatten(plain_model), 3, client(), cfg, generator, torch.device("cpu")
    )

    assert run(zeros, zeros).delta.tobytes() == plain.delta.tobytes()


def test_client_variate_update_is_option_two():
    c = np.full(18, 0.01, np.float32)
    c_i = np.full(18, -0.02, np.float32)

    update = run(c, c_i)

    steps = update.extras["num_steps"]
    assert steps == 10  # 2 epochs x ceil(40 / 8)
    expected = -c - update.delta / (steps * 0.1)  # c_i+ - c_i = -c + (x - y) / (K lr)
    assert np.allclose(update.extras["control_delta"], expected, atol=1e-6)


def test_one_step_is_shifted_by_lr_times_c_minus_c_i():
    # one full-batch step: the gradient is taken at the same point, so only -lr (c - c_i) differs
    one_step = Client(epochs=1, batch_size=40, lr=0.1)
    zeros = np.zeros(18, np.float32)
    shift = np.random.default_rng(5).standard_normal(18).astype(np.float32)

    moved = run(shift, zeros, one_step).delta - run(zeros, zeros, one_step).delta

    assert np.allclose(moved, -0.1 * shift, atol=1e-6)
