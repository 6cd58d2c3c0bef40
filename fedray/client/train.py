"""Local training and evaluation: pure torch, no Ray."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from fedray.data.federation import ClientData
from fedray.models import flatten, unflatten
from fedray.types import ClientUpdate


def make_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg,
    generator: torch.Generator,
    anchor: list[torch.Tensor] | None = None,
) -> float:
    """Train `model` in place for `cfg.epochs` epochs of shuffled minibatches; return mean loss.

    With `anchor` (the global weights) and `cfg.proximal_mu > 0`, adds FedProx's proximal
    term mu/2 ||w - w_global||^2 (Li et al. 2020).
    """
    optimizer = make_optimizer(model, cfg)
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    proximal = anchor is not None and cfg.proximal_mu > 0
    total, seen = torch.zeros((), device=x.device), 0  # summed on the device: no per-step sync
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(y), generator=generator).to(x.device)
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            if proximal:
                # The proximal term's gradient, mu (w - w_global), added directly: the same
                # step as differentiating mu/2 ||w - w_global||^2, without building its graph.
                grads = [p.grad for p in params]
                torch._foreach_add_(
                    grads, torch._foreach_sub(params, anchor), alpha=cfg.proximal_mu
                )
            optimizer.step()
            total += loss.detach() * len(idx)
            seen += len(idx)
    return float(total) / max(seen, 1)


def train_client(
    model: nn.Module,
    global_params: np.ndarray,
    client_id: int,
    data: ClientData,
    cfg,
    generator: torch.Generator,
    device: torch.device,
) -> ClientUpdate:
    """Run one client's local training from `global_params`; return its delta and metrics.

    Metrics: train_loss (mean over all minibatches), update_norm (L2 of the delta),
    seconds.
    """
    start = time.perf_counter()
    unflatten(model, global_params)
    x = torch.as_tensor(data.x_train, device=device)
    y = torch.as_tensor(data.y_train, device=device)
    anchor = [p.detach().clone() for p in model.parameters()] if cfg.proximal_mu > 0 else None
    # Layers that draw from torch's global generator (dropout) get a stream named like the
    # batch order's, so they too are the same on any worker.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(generator.initial_seed() ^ 0x5DEECE66D)
        loss = fit(model, x, y, cfg, generator, anchor)
    delta = flatten(model) - global_params
    return ClientUpdate(
        client_id,
        delta,
        len(data.y_train),
        {
            "train_loss": loss,
            "update_norm": float(np.linalg.norm(delta.astype(np.float64))),
            "seconds": time.perf_counter() - start,
        },
    )


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device):
    """Return (accuracy, mean cross-entropy, n) of `model` on (x, y); (nan, nan, 0) when empty."""
    if len(y) == 0:
        return float("nan"), float("nan"), 0
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(y), batch_size):
        xb = torch.as_tensor(x[start : start + batch_size], device=device)
        yb = torch.as_tensor(y[start : start + batch_size], device=device)
        logits = model(xb)
        loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return correct / len(y), loss / len(y), len(y)
