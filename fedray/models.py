"""Models by name, and the one boundary where a torch model becomes a flat float32 vector.

Every model builder takes `(input_shape, num_classes, params)` and returns an `nn.Module`
mapping a batch `(b, *input_shape)` float32 to logits `(b, num_classes)`. A user model is
`model.type: package.module:callable`, called as `callable(input_shape, num_classes, **params)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from fedray.registry import Entry, NoParams, lookup


@dataclass(frozen=True)
class MLPParams:
    hidden: tuple[int, ...] = field(default=(64,), metadata={"min": 1})


@dataclass(frozen=True)
class CNNParams:
    channels: tuple[int, ...] = field(default=(16, 32), metadata={"min": 1})
    hidden: int = field(default=64, metadata={"min": 1})


@dataclass(frozen=True)
class CNN1DParams:
    channels: tuple[int, ...] = field(default=(25, 25, 25), metadata={"min": 1})
    kernels: tuple[int, ...] = field(default=(5, 3, 3), metadata={"min": 1})  # one per conv
    stride: int = field(default=2, metadata={"min": 1})


MAX_PARAMS = 2**30  # 4 GiB of float32: more is a typo, not a federated model


def logreg(input_shape: tuple[int, ...], num_classes: int, params: NoParams) -> nn.Module:
    """Multinomial logistic regression: one linear layer on the flattened input."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


def mlp(input_shape: tuple[int, ...], num_classes: int, params: MLPParams) -> nn.Module:
    """Fully connected ReLU network with `params.hidden` units per hidden layer."""
    widths = [math.prod(input_shape), *params.hidden, num_classes]
    size = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    if size > MAX_PARAMS:  # refused before torch allocates (and initialises) it
        raise ValueError(
            f"an mlp with hidden {list(params.hidden)} on {widths[0]} inputs has {size:,} "
            f"parameters (got {size:,}; expected at most {MAX_PARAMS:,}): lower model.hidden"
        )
    layers: list[nn.Module] = [nn.Flatten()]
    width = widths[0]
    for units in params.hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn(input_shape: tuple[int, ...], num_classes: int, params: CNNParams) -> nn.Module:
    """Small conv net for small square images (8x8 digits): conv-relu-pool blocks, then a head.

    A flat input of a square size (64 features) is viewed as one 8x8 channel.
    """
    if len(input_shape) == 1:
        side = math.isqrt(input_shape[0])
        if side * side != input_shape[0]:
            raise ValueError(
                f"cnn needs image input; got {input_shape[0]} flat features, not a square"
            )
        input_shape = (1, side, side)
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    channels, height, width = input_shape
    layers: list[nn.Module] = [nn.Unflatten(1, input_shape)]
    for out in params.channels:
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
        if min(height, width) >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        channels = out
    layers += [nn.Flatten(), nn.Linear(channels * height * width, params.hidden), nn.ReLU()]
    layers.append(nn.Linear(params.hidden, num_classes))
    return nn.Sequential(nn.Flatten(), *layers)


def cnn1d(input_shape: tuple[int, ...], num_classes: int, params: CNN1DParams) -> nn.Module:
    """1-D conv net for sequences (MNIST-1D): strided conv-relu blocks, then a linear head.

    Greydanus 2020's MNIST-1D CNN (three convolutions of 25 channels, stride 2, about 5,000
    parameters). A flat input of length L is one channel of L points; (C, L) keeps C.
    """
    if len(input_shape) not in (1, 2):
        raise ValueError(
            f"cnn1d needs sequences (got input shape {list(input_shape)}; expected [length] "
            "or [channels, length]): use cnn for images"
        )
    if len(params.kernels) != len(params.channels):
        raise ValueError(
            f"cnn1d needs one kernel size per convolution (got channels {list(params.channels)} "
            f"and kernels {list(params.kernels)}; expected lists of the same length)"
        )
    channels, length = (1, input_shape[0]) if len(input_shape) == 1 else input_shape
    layers: list[nn.Module] = [nn.Unflatten(1, (channels, length))]
    for out, kernel in zip(params.channels, params.kernels, strict=True):
        length = (length + 2 - kernel) // params.stride + 1  # padding 1
        if length < 1:
            raise ValueError(
                f"cnn1d: {len(params.channels)} convolutions of stride {params.stride} leave "
                f"no points of {input_shape[-1]} (got channels {list(params.channels)}; "
                "expected fewer convolutions or a smaller model.stride)"
            )
        layers += [nn.Conv1d(channels, out, kernel, stride=params.stride, padding=1), nn.ReLU()]
        channels = out
    layers += [nn.Flatten(), nn.Linear(channels * length, num_classes)]
    return nn.Sequential(nn.Flatten(), *layers)


MODELS: dict[str, Entry] = {
    "logreg": Entry(logreg),
    "mlp": Entry(mlp, MLPParams),
    "cnn": Entry(cnn, CNNParams),
    "cnn1d": Entry(cnn1d, CNN1DParams),
}


def build_model(name: str, params, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build the named model; raise ValueError if its output does not have `num_classes` logits."""
    entry = lookup(MODELS, name)
    if isinstance(params, dict):  # a user model: parameters are its keyword arguments
        model = entry.fn(tuple(input_shape), num_classes, **params)
    else:
        model = entry.fn(tuple(input_shape), num_classes, params)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {name!r} returned {type(model).__name__}, not a torch.nn.Module")
    with torch.no_grad():
        out = model(torch.zeros((2, *input_shape)))
    if tuple(out.shape) != (2, num_classes):
        raise ValueError(
            f"model {name!r} maps a batch of 2 to shape {tuple(out.shape)}; the dataset has "
            f"{num_classes} labels, so expected (2, {num_classes}): fix the model's output layer"
        )
    return model


def federated_tensors(model: nn.Module) -> list[torch.Tensor]:
    """The tensors that travel: parameters, then floating-point buffers (BatchNorm's running
    statistics), so a client never trains from another client's statistics. Integer
    buffers (BatchNorm's batch counter) stay local."""
    return list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]


def flatten(model: nn.Module) -> np.ndarray:
    """Return the model's federated tensors as one (d,) float32 vector."""
    with torch.no_grad():
        flat = torch.cat([t.detach().reshape(-1).float().cpu() for t in federated_tensors(model)])
    return flat.numpy().astype(np.float32)


def unflatten(model: nn.Module, vector: np.ndarray) -> None:
    """Copy a (d,) float32 vector into the model's federated tensors, in place."""
    source = torch.from_numpy(np.array(vector, dtype=np.float32))  # a writable copy
    offset = 0
    with torch.no_grad():  # copy_, not aliasing: the vector may be a read-only Ray object
        for t in federated_tensors(model):
            t.copy_(source[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def num_params(model: nn.Module) -> int:
    """Length of the vector `flatten` returns."""
    return sum(t.numel() for t in federated_tensors(model))
