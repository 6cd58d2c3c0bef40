"""Gradient inversion (DLG): exact gradients give the batch away, heavily noised ones do not."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from fedray.models import build_model, flatten
from fedray.privacy.inversion import gradient, invert, reconstruction_error
from fedray.registry import NoParams


def digits(n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    bunch = load_digits()
    return torch.tensor(bunch.data[:n] / 16.0, dtype=torch.float32), torch.tensor(bunch.target[:n])


def victim(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "logreg":
        return build_model("logreg", NoParams(), (64,), 10)
    return nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))  # DLG's smooth MLP


def attack(net, grads, seed: int = 0):
    return invert(net, grads, batch_size=1, input_shape=(64,), num_classes=10, steps=20, seed=seed)


@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_exact_gradient_gives_the_example_away_and_noise_hides_it(name):
    net, (x, y) = victim(name), digits()
    grads = gradient(net, x, y)
    g = torch.Generator().manual_seed(1)
    noised = [t + 1.0 * torch.randn(t.shape, generator=g) for t in grads]
    guess = reconstruction_error(x, torch.rand((1, 64), generator=g))

    x_hat, labels = attack(net, grads)
    x_noisy, _ = attack(net, noised)

    assert reconstruction_error(x, x_hat) < 1e-4 * guess
    assert labels.argmax(1).tolist() == y.tolist()
    assert reconstruction_error(x, x_noisy) > guess / 2


def test_invert_leaves_the_model_alone():
    net, (x, y) = victim("logreg"), digits()
    before = flatten(net)

    attack(net, gradient(net, x, y))

    assert flatten(net).tobytes() == before.tobytes()
    assert all(p.grad is None for p in net.parameters())


def test_invert_is_seeded():
    net, (x, y) = victim("mlp"), digits()
    grads = [t + 1.0 for t in gradient(net, x, y)]

    assert torch.equal(attack(net, grads, seed=3)[0], attack(net, grads, seed=3)[0])


def test_gradient_has_one_tensor_per_parameter():
    net, (x, y) = victim("mlp"), digits(4)

    grads = gradient(net, x, y)

    assert [g.shape for g in grads] == [p.shape for p in net.parameters()]


def test_reconstruction_error_pairs_examples_in_any_order():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)

    assert reconstruction_error(x, x[[2, 0, 1]]) == 0.0
    assert reconstruction_error(x, x[[1, 0, 2]] + 0.5) == 0.25


def test_reconstruction_error_checks_shapes():
    with pytest.raises(ValueError, match="match in shape"):
        reconstruction_error(np.zeros((2, 4)), np.zeros((2, 3)))
