"""Local training and evaluation: pure torch, no Ray."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from fedray.client.plan import ClientPlan
from fedray.client.step_mask import mask_views, masked_direction_
from fedray.data.federation import ClientData
from fedray.models import flatten, unflatten
from fedray.privacy.local import fit_private
from fedray.types import ClientUpdate


def make_optimizer(model: nn.Module, cfg, *, decay: bool = True) -> torch.optim.Optimizer:
    """The `client` section's optimizer; `decay=False` leaves weight decay to the caller (a
    masked step adds it to the direction before the mask, `fedray.client.step_mask`)."""
    wd = cfg.weight_decay if decay else 0.0
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=wd)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd)


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg,
    generator: torch.Generator,
    *,
    mu: float = 0.0,
    anchor: list[torch.Tensor] | None = None,
    correction: list[torch.Tensor] | None = None,
    max_steps: int | None = None,
    keep: list[torch.Tensor] | None = None,
) -> tuple[float, int]:
    """Train `model` in place for `cfg.epochs` epochs of shuffled minibatches, or only their
    first `max_steps` steps (a straggler's partial work, decided by the virtual clock).

    Two terms may be added to every step's gradient, directly rather than through autograd:
    FedProx's mu (w - anchor), the gradient of mu/2 ||w - w_global||^2 (Li et al. 2020), and
    SCAFFOLD's constant correction c - c_i (Karimireddy et al. 2020). With `keep` (0/1 tensors
    shaped like the parameters), the step direction, weight decay included, is masked last
    (Neurotoxin; `fedray.client.step_mask`).

    Returns (mean minibatch loss, number of optimizer steps).
    """
    optimizer = make_optimizer(model, cfg, decay=keep is None)
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    total, seen, steps = torch.zeros((), device=x.device), 0, 0  # summed on the device: no sync
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(y), generator=generator).to(x.device)
        for start in range(0, len(y), cfg.batch_size):
            if max_steps is not None and steps >= max_steps:
                break
            idx = order[start : start + cfg.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            grads = [p.grad for p in params]
            if mu > 0:
                torch._foreach_add_(grads, torch._foreach_sub(params, anchor), alpha=mu)
            if correction is not None:
                torch._foreach_add_(grads, correction)
            if keep is not None:
                masked_direction_(grads, params, keep, cfg.weight_decay)
            optimizer.step()
            total += loss.detach() * len(idx)
            seen += len(idx)
            steps += 1
    return float(total) / max(seen, 1), steps


def _param_views(model: nn.Module, vector: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    """Split the parameter part of a flat (d,) vector into tensors shaped like the parameters."""
    out, offset = [], 0
    for p in model.parameters():
        out.append(torch.as_tensor(vector[offset : offset + p.numel()], device=device).view_as(p))
        offset += p.numel()
    return out


def train_client(
    model: nn.Module,
    global_params: np.ndarray,
    client_id: int,
    data: ClientData,
    cfg,
    generator: torch.Generator,
    device: torch.device,
    plan: ClientPlan | None = None,
    control: tuple[np.ndarray, np.ndarray] | None = None,
    max_steps: int | None = None,
    keep: np.ndarray | None = None,
) -> ClientUpdate:
    """Run one client's local training from `global_params`; return its delta and metrics.

    Args:
        plan: what training adds to plain SGD; default: the `client` section's proximal term.
        control: SCAFFOLD's (server variate c, this client's variate c_i), each (d,) float32,
            when `plan.control_variates`.
        max_steps: stop after this many optimizer steps (partial work); None: all epochs.
        keep: (d,) bool mask of the coordinates every local step may move (a Neurotoxin
            client's), applied to each step's direction; None: all.

    The update's extras: `num_steps` always; `initial_loss` (loss of the global model on the
    client's training data) with `plan.initial_loss`; `control_delta` (c_i+ - c_i, option II of
    SCAFFOLD: c_i+ = c_i - c + (x - y) / (K lr)) with `plan.control_variates`.
    """
    start = time.perf_counter()
    plan = plan or ClientPlan(proximal_mu=cfg.proximal_mu)
    unflatten(model, global_params)
    x = torch.as_tensor(data.x_train, device=device)
    y = torch.as_tensor(data.y_train, device=device)
    extras = {}
    if plan.initial_loss:
        extras["initial_loss"] = evaluate(model, data.x_train, data.y_train, 4096, device)[1]
    anchor = [p.detach().clone() for p in model.parameters()] if plan.proximal_mu > 0 else None
    correction = None
    if plan.control_variates:
        correction = _param_views(model, (control[0] - control[1]).astype(np.float32), device)
    keep_t = mask_views(model, keep, device) if keep is not None else None
    # Layers that draw from torch's global generator (dropout) get a stream named like the
    # batch order's, so they too are the same on any worker.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(generator.initial_seed() ^ 0x5DEECE66D)
        if plan.dp_max_grad_norm > 0:
            loss, steps, q = fit_private(
                model,
                x,
                y,
                cfg,
                generator,
                noise_multiplier=plan.dp_noise_multiplier,
                max_grad_norm=plan.dp_max_grad_norm,
                keep=keep_t,
            )
            dp = {
                "dp_steps": steps,
                "dp_sample_rate": q,
                "dp_noise_multiplier": plan.dp_noise_multiplier,
            }
        else:
            dp = {}
            loss, steps = fit(
                model,
                x,
                y,
                cfg,
                generator,
                mu=plan.proximal_mu,
                anchor=anchor,
                correction=correction,
                max_steps=max_steps,
                keep=keep_t,
            )
    delta = flatten(model) - global_params
    extras["num_steps"] = steps
    if plan.control_variates:
        extras["control_delta"] = _control_delta(model, delta, control, steps, cfg.lr)
    return ClientUpdate(
        client_id,
        delta,
        len(data.y_train),
        {
            "train_loss": loss,
            "update_norm": float(np.linalg.norm(delta.astype(np.float64))),
            "seconds": time.perf_counter() - start,
            **dp,
        },
        extras,
    )


def _control_delta(model, delta, control, steps: int, lr: float) -> np.ndarray:
    """c_i+ - c_i = -c + (x - y) / (K lr) = -c - delta / (K lr), on the parameter entries
    (buffers such as BatchNorm statistics have no gradient, so no variate)."""
    c, _ = control
    out = (-c - delta / np.float32(max(steps, 1) * lr)).astype(np.float32)
    out[sum(p.numel() for p in model.parameters()) :] = 0.0
    return out


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
