"""A per-client mask on every local step's direction (Neurotoxin's projection); pure torch.

A masked client trains only the coordinates where its (d,) keep mask is 1 (Zhang et al.,
ICML 2022, project each gradient). The mask multiplies the whole step direction after every
term that goes into it (the loss gradient, FedProx's mu (w - w_global), SCAFFOLD's c - c_i,
and weight decay, which the optimizer would otherwise add after the mask), so the
optimizer's state (momentum, Adam's moments) sees only masked directions and the masked
coordinates never move. Both training paths apply it the same way: the loop here
(`masked_direction_`, with an optimizer built without weight decay) and the vectorised
blocks in `StackedOptimizer.step`, one mask row per client (all ones for an unmasked client:
multiplying by 1.0 changes no bit).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def mask_views(model: nn.Module, keep: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    """Split the parameter part of a (d,) keep mask into float32 0/1 tensors shaped like
    the model's parameters (the buffers after them in `flatten`'s order train by no gradient)."""
    out, offset = [], 0
    values = torch.as_tensor(np.asarray(keep, np.float32), device=device)
    for p in model.parameters():
        out.append(values[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    return out


def masked_direction_(
    grads: list[torch.Tensor],
    params: list[torch.Tensor],
    keep: list[torch.Tensor],
    weight_decay: float,
) -> None:
    """In place: grads <- (grads + weight_decay * params) * keep, the step direction that
    torch.optim's SGD and Adam (whose weight decay is added to the gradient first) would
    take, masked. The optimizer must then be built without weight decay."""
    with torch.no_grad():
        if weight_decay != 0:
            torch._foreach_add_(grads, params, alpha=weight_decay)
        torch._foreach_mul_(grads, keep)


def dp_hook(params: list[torch.Tensor], keep: list[torch.Tensor], weight_decay: float):
    """An Opacus `DPOptimizer.step_hook` masking the privatised gradient (clipped, noised,
    scaled) before the wrapped optimizer, built without weight decay, steps."""

    def hook(_optimizer) -> None:
        masked_direction_([p.grad for p in params], params, keep, weight_decay)

    return hook


def keep_rows(keeps: list[np.ndarray | None], d: int) -> np.ndarray | None:
    """(B, d) float32 mask rows of a block, all ones for a client without a mask; None when
    no client of the block has one (the block then trains exactly as before)."""
    if all(k is None for k in keeps):
        return None
    rows = np.ones((len(keeps), d), np.float32)
    for i, k in enumerate(keeps):
        if k is not None:
            rows[i] = k
    return rows
