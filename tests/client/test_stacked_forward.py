"""The batched-matmul forward pass of linear stacks gives the vmap path's bits, or steps aside."""

import numpy as np
import pytest
import torch
from torch import nn

from fedray.client import stacked_forward, vectorized
from fedray.client.plan import ClientPlan
from fedray.client.stacked_forward import batched_forward
from fedray.client.vectorized import train_block
from fedray.scenario.schema import Client

from .test_vectorized import SIZES, client_data, generators, model_named, start


@pytest.mark.parametrize(
    "model",
    [
        nn.Sequential(nn.Flatten(), nn.Linear(12, 3)),
        nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 3, bias=False)),
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(12, 5),
            nn.Sigmoid(),
            nn.Linear(5, 4),
            nn.ReLU(),
            nn.Linear(4, 3),
        ),
    ],
)
def test_logits_and_gradients_are_those_of_vmap_bit_for_bit(model):
    from torch.func import functional_call, vmap

    torch.manual_seed(0)
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach().unsqueeze(0).repeat(4, *[1] * p.dim()) for p in model.parameters()]
    params = [(p + 0.1 * torch.randn_like(p)).requires_grad_() for p in params]
    x = torch.randn(4, 6, 3, 4)  # (clients, batch, *input_shape): flattened by the model

    ours = batched_forward(model)(params, x)
    theirs = vmap(lambda ps, xs: functional_call(model, dict(zip(names, ps)), (xs,)))(params, x)

    assert torch.equal(ours, theirs)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            torch.autograd.grad(ours.square().sum(), params),
            torch.autograd.grad(theirs.square().sum(), params),
        )
    )


@pytest.mark.parametrize(
    "model",
    [
        nn.Sequential(nn.Linear(12, 3)),  # no Flatten first: inputs could be any shape
        nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Dropout(0.1)),
        nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(12, 3))),
        nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Softmax(dim=-1)),  # not pointwise
        model_named("cnn"),
        nn.Linear(12, 3),
    ],
)
def test_other_models_keep_the_vmap_path(model):
    assert batched_forward(model) is None


@pytest.mark.parametrize("name", ["logreg", "mlp"])
@pytest.mark.parametrize("optimizer, mu", [("sgd", 0.0), ("adam", 0.5)])
def test_a_ragged_block_trains_to_the_vmap_paths_bits(name, optimizer, mu, monkeypatch):
    model = model_named(name)
    assert batched_forward(model) is not None
    cfg = Client(epochs=2, batch_size=4, lr=0.05, optimizer=optimizer, momentum=0.9)
    ids = list(range(len(SIZES)))
    datas = [client_data(n, seed=i) for i, n in zip(ids, SIZES)]
    plan = ClientPlan(proximal_mu=mu)
    w0 = start(model)

    def train():
        return train_block(model, w0, ids, datas, cfg, generators(ids), torch.device("cpu"), plan)

    fast = train()
    monkeypatch.setattr(vectorized, "batched_forward", lambda model: None)
    slow = train()

    for a, b in zip(fast, slow):
        assert (
            np.array_equal(a.delta, b.delta) and a.metrics["train_loss"] == b.metrics["train_loss"]
        )
    assert any(np.abs(u.delta).max() > 0 for u in fast)
    assert stacked_forward.POINTWISE  # the registry the docs point to
