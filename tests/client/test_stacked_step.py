"""The hand-written step of linear stacks gives autograd's gradients and losses bit for bit,
and steps aside (autograd) for other models or when this torch's autograd differs."""

import numpy as np
import pytest
import torch
from torch import nn

from fedray.client import stacked_step as module
from fedray.client.stacked_forward import batched_forward
from fedray.client.stacked_step import autograd_step, stacked_step

from .test_vectorized import model_named

STACKS = [
    nn.Sequential(nn.Flatten(), nn.Linear(12, 3)),
    nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 3, bias=False)),
    nn.Sequential(
        nn.Flatten(), nn.Linear(12, 5), nn.Sigmoid(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)
    ),
    nn.Sequential(nn.Flatten(), nn.Linear(12, 6, bias=False), nn.Identity(), nn.Linear(6, 3)),
]


def _block(model, clients=7, batch=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    params = [
        p.detach().unsqueeze(0) + 0.3 * torch.randn(clients, *p.shape, generator=g)
        for p in model.parameters()
    ]
    x = torch.randn(clients, batch, 3, 4, generator=g)  # flattened by the model
    y = torch.randint(0, 3, (clients, batch), generator=g)
    w = torch.ones(clients, batch)
    w[-1, 4:] = 0  # a short last batch
    w[-2, :] = 0  # a client past its last step in this column
    return params, x, y, w, w.sum(1).clamp(min=1)


@pytest.mark.parametrize("model", STACKS)
def test_gradients_and_losses_are_autograds_bit_for_bit(model):
    step = stacked_step(model, torch.device("cpu"))
    assert step is not None
    args = _block(model)

    grads, loss = step(*args)
    their_grads, their_loss = autograd_step(batched_forward(model))(*args)

    assert torch.equal(loss, their_loss)
    assert all(torch.equal(a, b) for a, b in zip(grads, their_grads, strict=True))
    assert grads[0].shape == args[0][0].shape


def test_other_models_get_autograd():
    cpu = torch.device("cpu")
    assert stacked_step(model_named("cnn"), cpu) is None
    assert stacked_step(nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Dropout()), cpu) is None


def test_a_torch_whose_autograd_differs_gets_autograd(monkeypatch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.Tanh(), nn.Linear(4, 3))
    monkeypatch.setattr(module, "_checked", {})
    # As if this torch release computed tanh's derivative otherwise: a few ulps apart.
    slightly_off = lambda g, out: torch.ops.aten.tanh_backward(g, out) * 1.000001  # noqa: E731
    monkeypatch.setitem(module.BACKWARD, nn.Tanh, slightly_off)

    assert stacked_step(model, torch.device("cpu")) is None


@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_training_a_block_takes_the_hand_written_step_with_autograds_bits(name, monkeypatch):
    from fedray.client import vectorized
    from fedray.client.plan import ClientPlan
    from fedray.scenario.schema import Client

    from .test_vectorized import SIZES, client_data, generators, start

    model = model_named(name)
    cfg = Client(epochs=2, batch_size=4, lr=0.05, optimizer="adam")
    ids = list(range(len(SIZES)))
    datas = [client_data(n, seed=i) for i, n in zip(ids, SIZES)]
    w0 = start(model)

    def train():
        return vectorized.train_block(
            model, w0, ids, datas, cfg, generators(ids), torch.device("cpu"), ClientPlan(0.5)
        )

    calls = []
    original = module._manual

    def counted(layers):
        step = original(layers)
        return lambda *a: calls.append(1) or step(*a)

    monkeypatch.setattr(module, "_manual", counted)
    monkeypatch.setattr(module, "_checked", {})
    by_hand = train()
    assert len(calls) > 1  # one call is the check against autograd; the rest trained
    monkeypatch.setattr(vectorized, "stacked_step", lambda model, device: None)
    by_autograd = train()

    for a, b in zip(by_hand, by_autograd, strict=True):
        assert np.array_equal(a.delta, b.delta)
        assert a.metrics["train_loss"] == b.metrics["train_loss"]
