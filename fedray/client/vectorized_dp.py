"""Local DP-SGD for a block of clients at once: per-example gradients by vmap inside vmap.

Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar and Zhang, "Deep Learning with Differential
Privacy", CCS 2016. Each client does what `fedray.privacy.local.fit_private` does with Opacus,
draw for draw: `epochs * round(1 / q)` steps, q = batch_size / n; one seed drawn from its
generator for a noise generator on the device; per step a Poisson mask `rand(n) < q`; every
example's gradient clipped to norm C (Opacus' factor min(1, C / (norm + 1e-6))); the clipped
sum plus N(0, (z C)^2) per parameter tensor, drawn in Opacus' order; divided by the expected
batch size qn; then the client's optimizer. So the accountant's inputs (steps, q, z) are the
loop's, and the parameters match it within float tolerance (the per-example gradients are
computed differently, so not to the bit).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import grad_and_value, vmap

from fedray.client.block import Block, pad, schedule
from fedray.client.stacked_optim import StackedOptimizer
from fedray.privacy.local import planned_steps

# Opacus adds this to each per-example norm before dividing C by it.
NORM_EPS = 1e-6


def clip_factors(grads: list[torch.Tensor], max_grad_norm: float) -> torch.Tensor:
    """Per-example clipping factors min(1, C / (||g|| + 1e-6)), as Opacus computes them.

    Args:
        grads: per-example gradients, one (k, b, *shape) tensor per parameter: k clients,
            b examples each; an example's norm is taken over all its tensors.
    Returns:
        (k, b) factors; factor * g has norm at most C.
    """
    norms = torch.stack([g.flatten(start_dim=2).norm(2, dim=-1) for g in grads], dim=-1)
    return (max_grad_norm / (norms.norm(2, dim=-1) + NORM_EPS)).clamp(max=1.0)


def poisson_batches(n: int, q: float, steps: int, generator: torch.Generator) -> torch.Tensor:
    """(steps, n) indices of each step's Poisson sample, ascending, -1 after the sample;
    drawn from `generator` exactly as `fit_private` draws them."""
    keep = torch.stack([torch.rand(n, generator=generator) < q for _ in range(steps)])
    local = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    return torch.where(torch.gather(keep, 1, local), local, -1)


def fit_private_block(block: Block, cfg, plan, generators: list[torch.Generator], masks=None):
    """DP-SGD for every client of the block, as `fit_private` does for one, each privatised
    direction masked by the client's row of `masks` (stacked like the parameters; None: none).

    Returns (mean per-example loss over sampled examples, steps (B,), per-client DP metrics
    as `train_client` reports them: dp_steps, dp_sample_rate, dp_noise_multiplier).
    """
    sizes = [int(n) for n in block.sizes]
    planned = [planned_steps(cfg, n) for n in sizes]
    steps = np.array([s for _, s in planned], dtype=np.int64)
    noise, batches = [], []
    for n, (q, s), g in zip(sizes, planned, generators, strict=True):
        if s == 0:  # an empty client: fit_private returns before drawing
            noise.append(None)
            batches.append(torch.zeros((0, 1), dtype=torch.long))
            continue
        seed = int(torch.randint(2**62, (1,), generator=g))
        noise.append(torch.Generator(device=block.device).manual_seed(seed))
        batches.append(poisson_batches(n, q, s, g))
    order, active = schedule(steps)
    rows, weight, _ = pad([batches[i] for i in order], block.offsets[order], block.device)
    noise = [noise[i] for i in order]
    expected = torch.tensor([min(cfg.batch_size, sizes[i]) for i in order], device=block.device)
    if masks is not None:
        masks = [m[torch.as_tensor(order, device=block.device)] for m in masks]
    totals, seen = _train(block, cfg, plan, order, active, rows, weight, noise, expected, masks)
    back = np.argsort(order)
    losses = [totals[j] / max(seen[j], 1) for j in back]
    metrics = [
        {"dp_steps": int(s), "dp_sample_rate": q, "dp_noise_multiplier": plan.dp_noise_multiplier}
        for q, s in planned
    ]
    return losses, steps, metrics


def _train(block, cfg, plan, order, active, rows, weight, noise, expected, masks=None):
    """Run the block's DP steps; return (summed loss, examples seen) per row, in `order`."""
    C, std = plan.dp_max_grad_norm, plan.dp_noise_multiplier * plan.dp_max_grad_norm

    def example_loss(params, x, y):
        return nn.functional.cross_entropy(
            block.logits(params, x.unsqueeze(0)), y.unsqueeze(0), reduction="sum"
        )

    per_example = vmap(vmap(grad_and_value(example_loss), in_dims=(None, 0, 0)))
    block.reorder(order)
    optimizer = StackedOptimizer.for_client_config(cfg, block.params)
    total = torch.zeros(len(order), device=block.device)
    block.model.train()
    for t, k in enumerate(active):
        params = [p[:k] for p in block.params]
        sel, w = rows[:k, t], weight[:k, t]
        grads, losses = per_example(params, *block.batch(sel))
        factor = clip_factors(grads, C) * w  # padding rows count for nothing
        summed = [torch.einsum("kb,kb...->k...", factor, g) for g in grads]
        noised = [s + _noise(noise[:k], s, std) for s in summed]
        scale = expected[:k].to(torch.float32)
        grads = [g / scale.view(-1, *([1] * (g.dim() - 1))) for g in noised]
        optimizer.step(block.params, grads, t, k, None if masks is None else [m[:k] for m in masks])
        total[:k] += (losses * w).sum(1)
    block.reorder(np.argsort(order))
    seen = weight.sum((1, 2)).round().long()
    return total.cpu().tolist(), seen.cpu().tolist()


def _noise(generators: list[torch.Generator], like: torch.Tensor, std: float) -> torch.Tensor:
    """(k, *shape) noise: row j from client j's generator, one draw per tensor and step, as
    Opacus draws it (nothing drawn when std is 0)."""
    if std == 0:
        return torch.zeros_like(like)
    return torch.stack(
        [
            torch.normal(
                0.0, std, size=like.shape[1:], generator=g, device=like.device, dtype=like.dtype
            )
            for g in generators
        ]
    )
