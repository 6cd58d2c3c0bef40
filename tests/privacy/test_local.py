"""Sample-level DP-SGD: bitwise determinism, reference against a naive per-example loop,
the model coming back plain, and a client budget that composes across rounds."""

import numpy as np
import pytest
import torch
from torch import nn

from fedray.client.train import fit
from fedray.models import CNNParams, MLPParams, build_model, flatten, unflatten
from fedray.privacy.accounting import epsilon
from fedray.privacy.local import client_epsilon, fit_private
from fedray.registry import NoParams
from fedray.scenario.schema import Client

SHAPES = {"logreg": NoParams(), "mlp": MLPParams(hidden=(8,)), "cnn": CNNParams((2,), 8)}


def data(n: int = 40, dim: int = 16, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, dim), generator=g), torch.randint(0, classes, (n,), generator=g)


def model(name: str = "mlp", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(name, SHAPES[name], (16,), 3)


def run(net, cfg, seed=1, z=1.0, c=1.0, n=40):
    x, y = data(n)
    out = fit_private(
        net, x, y, cfg, torch.Generator().manual_seed(seed), noise_multiplier=z, max_grad_norm=c
    )
    return out, flatten(net)


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize(
    "cfg",
    [Client(epochs=2, batch_size=8, lr=0.1, momentum=0.9), Client(batch_size=5, optimizer="adam")],
)
def test_same_generator_gives_bitwise_equal_parameters(name, cfg):
    one, two, other = run(model(name), cfg), run(model(name), cfg), run(model(name), cfg, seed=2)

    assert one[1].tobytes() == two[1].tobytes() and one[0] == two[0]
    assert one[1].tobytes() != other[1].tobytes()


def test_steps_and_sample_rate():
    (_, steps, q), _ = run(model(), Client(epochs=3, batch_size=8))
    (_, capped_steps, capped_q), _ = run(model(), Client(epochs=2, batch_size=100))

    assert (steps, q) == (15, 0.2)  # 3 epochs of round(1 / 0.2)
    assert (capped_steps, capped_q) == (2, 1.0)


def test_without_noise_or_clipping_it_is_full_batch_gradient_descent():
    # q = 1 takes every example; an unreachable bound and z = 0 leave the mean gradient.
    cfg = Client(epochs=3, batch_size=40, lr=0.1)
    private, plain = model(), model()
    x, y = data()

    run(private, cfg, z=0.0, c=1e9)
    fit(plain, x, y, cfg, torch.Generator().manual_seed(0))

    np.testing.assert_allclose(flatten(private), flatten(plain), rtol=1e-5, atol=1e-6)


def test_one_step_matches_a_naive_per_example_clipping_loop():
    net, cfg, bound = model("logreg"), Client(batch_size=40, lr=0.5), 0.3
    x, y = data()
    start = flatten(net)
    grads = []
    for i in range(len(y)):
        g = torch.autograd.grad(nn.functional.cross_entropy(net(x[i : i + 1]), y[i : i + 1]),
                                list(net.parameters()))  # fmt: skip
        g = torch.cat([t.reshape(-1) for t in g]).double().numpy()
        grads.append(g * min(1.0, bound / np.linalg.norm(g)))

    run(net, cfg, z=0.0, c=bound)

    expected = start - 0.5 * np.mean(grads, axis=0)
    np.testing.assert_allclose(flatten(net), expected, rtol=1e-5, atol=1e-6)


def test_noise_moves_the_parameters():
    cfg = Client(batch_size=10, lr=0.1)

    assert run(model(), cfg, z=0.0)[1].tobytes() != run(model(), cfg, z=1.0)[1].tobytes()


def test_the_model_comes_back_plain_and_reusable():
    net, cfg = model("cnn"), Client(epochs=2, batch_size=8, lr=0.1)
    start = flatten(net)
    run(net, cfg)
    run(net, cfg, seed=3)  # a second round on the same object: no "hooks twice" error

    leftovers = [k for p in net.parameters() for k in vars(p)]
    hooks = [m for m in net.modules() if m._forward_hooks or m._backward_hooks]
    unflatten(net, start)
    x, y = data()
    fit(net, x, y, cfg, torch.Generator().manual_seed(4))
    fresh = model("cnn")
    fit(fresh, x, y, cfg, torch.Generator().manual_seed(4))

    assert type(net) is nn.Sequential and leftovers == [] and hooks == []
    assert all(p.grad is not None for p in net.parameters())  # fit's own last step
    assert flatten(net).tobytes() == flatten(fresh).tobytes()


@pytest.mark.parametrize("affine", [True, False])  # without weights it still mixes the batch
def test_batchnorm_is_refused_with_a_way_out(affine):
    net = nn.Sequential(nn.Linear(16, 4), nn.BatchNorm1d(4, affine=affine), nn.Linear(4, 3))

    with pytest.raises(ValueError, match="layer '1' \\(BatchNorm1d\\).*GroupNorm"):
        run(net, Client())


def test_an_empty_client_does_not_train():
    net = model()
    before = flatten(net)
    x, y = data(0)

    out = fit_private(
        net, x, y, Client(), torch.Generator(), noise_multiplier=1.0, max_grad_norm=1.0
    )

    assert out == (0.0, 0, 0.0) and flatten(net).tobytes() == before.tobytes()


def test_client_budget_composes_across_rounds():
    # The same client trains in three rounds; its budget is that of all its steps together.
    net, cfg, z, total, eps = model(), Client(epochs=2, batch_size=8, lr=0.1), 1.1, 0, []
    for round_ in range(3):
        (_, steps, q), _ = run(net, cfg, seed=round_, z=z)
        total += steps
        eps.append(client_epsilon(total, noise_multiplier=z, sample_rate=q, delta=1e-5))

    one_round = client_epsilon(10, noise_multiplier=z, sample_rate=0.2, delta=1e-5)
    assert one_round == eps[0] < eps[1] < eps[2]
    assert eps[2] == epsilon([(z, 0.2, 10)] * 3, delta=1e-5)
