"""Loss-threshold membership inference: AUC against sklearn, its extremes, and a model that
memorised its training set."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from fedray.privacy.membership import loss_threshold_auc, per_example_loss


def test_identical_distributions_leak_nothing():
    rng = np.random.default_rng(0)

    auc = loss_threshold_auc(rng.exponential(size=5000), rng.exponential(size=5000))

    assert auc == pytest.approx(0.5, abs=0.02)


def test_separated_losses_give_one_and_reversed_give_zero():
    low, high = np.linspace(0.0, 1.0, 50), np.linspace(2.0, 3.0, 30)

    assert loss_threshold_auc(low, high) == 1.0
    assert loss_threshold_auc(high, low) == 0.0


def test_ties_count_one_half():
    assert loss_threshold_auc(np.ones(4), np.ones(7)) == 0.5
    assert loss_threshold_auc([0.0, 1.0], [1.0]) == 0.75  # one win, one tie


@pytest.mark.parametrize("seed", range(3))
def test_matches_sklearn_roc_auc(seed):
    rng = np.random.default_rng(seed)
    members = np.round(rng.gamma(2.0, 1.0, 300), 1)  # rounded: plenty of ties
    others = np.round(rng.gamma(2.5, 1.0, 200), 1)
    labels = np.r_[np.ones(300), np.zeros(200)]

    expected = roc_auc_score(labels, -np.r_[members, others])

    assert loss_threshold_auc(members, others) == pytest.approx(expected, rel=1e-12)


def test_empty_side_is_an_error():
    with pytest.raises(ValueError, match="got 0 and 3"):
        loss_threshold_auc([], [1.0, 2.0, 3.0])


def test_per_example_loss_matches_a_direct_computation_at_any_batch_size():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 3))
    x, y = torch.randn(11, 5), torch.randint(0, 3, (11,))
    expected = nn.functional.cross_entropy(net(x), y, reduction="none").detach().double().numpy()

    for batch_size in (1, 4, 64):
        np.testing.assert_allclose(per_example_loss(net, x, y, batch_size), expected, rtol=1e-6)
    assert per_example_loss(net, x.numpy(), y.numpy(), 4).dtype == np.float64


def test_a_memorising_model_leaks_membership():
    # 16 examples with random labels in 32 dimensions: a linear model fits them exactly.
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn((32, 32), generator=g), torch.randint(0, 4, (32,), generator=g)
    torch.manual_seed(0)
    net = nn.Linear(32, 4)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x[:16]), y[:16]).backward()
        optimizer.step()

    auc = loss_threshold_auc(per_example_loss(net, x[:16], y[:16], 8),
                             per_example_loss(net, x[16:], y[16:], 8))  # fmt: skip

    assert auc > 0.9
