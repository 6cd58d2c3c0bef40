"""Gradient inversion: recover a client's training batch from the gradient it shares.

Zhu, Liu and Han, "Deep Leakage from Gradients", NeurIPS 2019 (DLG): optimise dummy inputs
and dummy soft labels with L-BFGS so that their gradient matches the shared one in squared
Euclidean distance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Return the gradient of the mean cross-entropy of batch (x, y), one tensor per parameter."""
    loss = nn.functional.cross_entropy(model(x), y)
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def invert(
    model: nn.Module,
    target_grads: list[torch.Tensor],
    *,
    batch_size: int,
    input_shape: tuple[int, ...],
    num_classes: int,
    steps: int = 30,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruct a batch whose gradient matches `target_grads` (DLG, Zhu et al. 2019).

    Dummy inputs x' and label logits l' start from N(0, 1) draws; L-BFGS minimises
    sum_k ||grad_k(x', softmax(l')) - target_k||^2, where grad is of the mean soft-label
    cross-entropy. The model must be twice differentiable almost everywhere (ReLU is, but
    smooth activations invert more reliably, as the paper notes). `model` is not changed.

    Args:
        model: the model whose gradient was shared, at the weights it was computed at.
        target_grads: one tensor per parameter, as `gradient` returns.
        batch_size: number of examples to reconstruct.
        input_shape: shape of one example.
        num_classes: number of logits.
        steps: L-BFGS outer iterations (each up to 20 evaluations).
        seed: seeds the dummy data.

    Returns:
        (x_hat (batch_size, *input_shape) float32, soft labels (batch_size, num_classes)).
    """
    generator = torch.Generator().manual_seed(seed)
    dummy_x = torch.randn((batch_size, *input_shape), generator=generator).requires_grad_(True)
    dummy_l = torch.randn((batch_size, num_classes), generator=generator).requires_grad_(True)
    params = list(model.parameters())
    targets = [t.detach() for t in target_grads]
    optimizer = torch.optim.LBFGS([dummy_x, dummy_l], lr=1.0, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        log_p = nn.functional.log_softmax(model(dummy_x), dim=1)
        loss = -(nn.functional.softmax(dummy_l, dim=1) * log_p).sum(1).mean()
        grads = torch.autograd.grad(loss, params, create_graph=True)
        distance = sum(((g - t) ** 2).sum() for g, t in zip(grads, targets))
        dummy_x.grad, dummy_l.grad = torch.autograd.grad(distance, [dummy_x, dummy_l])
        return distance

    for _ in range(steps):
        optimizer.step(closure)
    return dummy_x.detach(), nn.functional.softmax(dummy_l.detach(), dim=1)


def reconstruction_error(x: torch.Tensor | np.ndarray, x_hat: torch.Tensor | np.ndarray) -> float:
    """Return the mean squared error after pairing each reconstruction with a true example.

    DLG recovers a batch in no particular order, so the pairing minimises the total MSE
    (Hungarian algorithm on the (b, b) pairwise MSE matrix).
    """
    # Imported here, not at the top: scipy.optimize costs every Aggregator 0.6 s of start-up
    # (it imports this module for privacy audits), and only an audit's rounds need it.
    from scipy.optimize import linear_sum_assignment

    a = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    b = np.asarray(x_hat, dtype=np.float64).reshape(len(x_hat), -1)
    if a.shape != b.shape:
        raise ValueError(f"x and x_hat must match in shape; got {a.shape} and {b.shape}")
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
