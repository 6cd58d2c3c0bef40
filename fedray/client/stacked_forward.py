"""A block's forward pass as batched matrix products, for stacks of linear layers.

`vmap(functional_call(model))` traces the model through torch.func at every step; for the
models most federated benchmarks train (logistic regression, MLPs: `nn.Sequential` of
`Flatten`, `Linear` and pointwise activations) the same forward pass is one `baddbmm` per
layer over the stacked (B, out, in) weights, which gives bitwise the same logits and
gradients for about half the time a step (`tests/client/test_stacked_forward.py`,
`benchmarks/round_breakdown.py`). Any other model keeps the vmap path.
`fedray.client.stacked_step` adds the backward pass by hand for the same models.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

POINTWISE: dict[type, Callable[[torch.Tensor], torch.Tensor]] = {
    nn.ReLU: torch.relu,
    nn.Tanh: torch.tanh,
    nn.Sigmoid: torch.sigmoid,
    nn.Identity: lambda h: h,
}

Layers = list[tuple[str, object]]  # ("linear", has a bias) | ("pointwise", module type)


def layers_of(model: nn.Module) -> Layers | None:
    """The model's layers after its `Flatten`, or None if the model is not a `Flatten`
    followed by `Linear` layers and pointwise activations (`POINTWISE`)."""
    if not isinstance(model, nn.Sequential) or len(model) == 0:
        return None
    first = model[0]
    if not (isinstance(first, nn.Flatten) and first.start_dim == 1 and first.end_dim == -1):
        return None
    layers: Layers = []
    for module in list(model)[1:]:
        if isinstance(module, nn.Linear):
            layers.append(("linear", module.bias is not None))
        elif type(module) in POINTWISE:
            layers.append(("pointwise", type(module)))
        else:
            return None
    if sum(len(list(m.parameters(recurse=False))) for m in model) != len(list(model.parameters())):
        return None  # parameters nested below the layers: not ours to lay out
    return layers


def batched_forward(model: nn.Module) -> Callable | None:
    """Return `forward(params, x)` over stacked parameters, or None (see `layers_of`).

    `params` are the model's parameters in `named_parameters` order, each stacked (B, ...);
    `x` is (B, b, *input_shape); the result is (B, b, classes), what
    `vmap(functional_call(model, ...))` returns for the same inputs.
    """
    layers = layers_of(model)
    if layers is None:
        return None
    return lambda params, x: run_layers(layers, params, x)


def run_layers(
    layers: Layers, params: list[torch.Tensor], x: torch.Tensor, kept: list | None = None
) -> torch.Tensor:
    """The stacked forward pass; `kept`, if given, gets each linear layer's input and each
    activation's output, in layer order (what `stacked_step`'s backward pass needs)."""
    h = x.flatten(2)
    i = 0
    for kind, arg in layers:
        if kind == "pointwise":
            h = POINTWISE[arg](h)
            if kept is not None:
                kept.append(h)
            continue
        if kept is not None:
            kept.append(h)
        weight = params[i].transpose(1, 2)
        if arg:  # with a bias
            h = torch.baddbmm(params[i + 1].unsqueeze(1), h, weight)
            i += 2
        else:
            h = torch.bmm(h, weight)
            i += 1
    return h
