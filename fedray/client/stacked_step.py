"""A block step's gradients, by autograd or, for stacks of linear layers, by hand.

`step(params, x, y, w, n)` returns each stacked parameter's gradient of the block's summed
client losses (client i's loss: its weighted mean cross-entropy, `w` 0/1 per example, `n`
its batch size) and the losses themselves; row i of a gradient is client i's own.

`torch.autograd.grad` builds and walks a graph at every step. For the models
`stacked_forward` lays out (`Flatten`, `Linear`, pointwise activations) the same gradients
are a fixed sequence of aten calls: those autograd's derivative formulas make
(`nll_loss_backward`, `_log_softmax_backward_data`, a `bmm` per weight and input, the
activations' own backward), so they give autograd's bits for about three quarters of the
time a step. Those formulas belong to the torch release: `stacked_step` checks once per model
layout and device, on a small random block, that the hand-written step still gives
autograd's bits, and returns None (autograd) when it does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

from fedray.client.stacked_forward import batched_forward, layers_of, run_layers

log = logging.getLogger(__name__)

aten = torch.ops.aten
# What autograd calls for each activation's input gradient, given the activation's output.
BACKWARD: dict[type, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    nn.ReLU: lambda g, out: aten.threshold_backward(g, out, 0),
    nn.Tanh: aten.tanh_backward,
    nn.Sigmoid: aten.sigmoid_backward,
    nn.Identity: lambda g, out: g,
}
_NO_REDUCTION, _IGNORE = 0, -100  # nll_loss's reduction enum ("none") and ignore_index
_checked: dict[tuple, bool] = {}


def autograd_step(forward: Callable) -> Callable:
    """The step by autograd over `forward(params, x)` (the vmap or the stacked forward)."""

    def step(params, x, y, w, n):
        leaves = [p.detach().requires_grad_() for p in params]
        with torch.enable_grad():
            out = forward(leaves, x)
            losses = nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none")
            loss = (losses.view_as(w) * w).sum(1) / n
            return torch.autograd.grad(loss.sum(), leaves), loss.detach()

    return step


def stacked_step(model: nn.Module, device: torch.device) -> Callable | None:
    """The hand-written step for `model`, or None: not a linear stack, or this torch's
    autograd gives other bits (then logged once)."""
    layers = layers_of(model)
    if layers is None:
        return None
    step = _manual(layers)
    shapes = tuple(tuple(p.shape) for p in model.parameters())
    key = (tuple(layers), shapes, str(device))
    if key not in _checked:
        _checked[key] = _same_bits(step, batched_forward(model), shapes, device)
        if not _checked[key]:
            log.info("this torch's autograd differs from the hand-written step: using autograd")
    return step if _checked[key] else None


def _manual(layers) -> Callable:
    def step(params, x, y, w, n):
        kept: list[torch.Tensor] = []
        h = run_layers(layers, params, x, kept)
        flat, target = h.flatten(0, 1), y.flatten()
        logp = torch.log_softmax(flat, 1)
        losses, total_weight = aten.nll_loss_forward(logp, target, None, _NO_REDUCTION, _IGNORE)
        loss = (losses.view_as(w) * w).sum(1) / n
        # Backward, as autograd's formulas run it: d sum / d loss = 1, then / n, * w.
        g = (torch.ones_like(loss) / n).unsqueeze(1).expand_as(w) * w
        g = aten.nll_loss_backward(
            g.reshape(-1), logp, target, None, _NO_REDUCTION, _IGNORE, total_weight
        )
        g = aten._log_softmax_backward_data(g, logp, 1, logp.dtype).view_as(h)
        grads: list[torch.Tensor | None] = [None] * len(params)
        i = len(params)
        for index in range(len(layers) - 1, -1, -1):
            kind, arg = layers[index]
            if kind == "pointwise":
                g = BACKWARD[arg](g, kept[index])
                continue
            i -= 2 if arg else 1
            if arg:
                grads[i + 1] = g.sum(1)
            grads[i] = torch.bmm(kept[index].transpose(1, 2), g).transpose(1, 2)
            if i > 0:  # an earlier layer still needs its input's gradient
                g = torch.bmm(g, params[i])
        return grads, loss

    return step


def _same_bits(step: Callable, forward: Callable, shapes: tuple, device) -> bool:
    """Whether `step` gives autograd's gradients and losses, bit for bit, on 3 clients of
    5 examples (one padded) with random parameters."""
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(3, *s, generator=g).to(device) for s in shapes]
    classes, inputs = shapes[-1][0], shapes[0][1]
    x = torch.randn(3, 5, inputs, generator=g).to(device)
    y = torch.randint(0, classes, (3, 5), generator=g).to(device)
    w = torch.ones(3, 5, device=device)
    w[2, 3:] = 0
    n = w.sum(1).clamp(min=1)
    ours, loss = step(params, x, y, w, n)
    theirs, their_loss = autograd_step(forward)(params, x, y, w, n)
    return torch.equal(loss, their_loss) and all(
        torch.equal(a, b) for a, b in zip(ours, theirs, strict=True)
    )
