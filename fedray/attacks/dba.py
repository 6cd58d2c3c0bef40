"""DBA, the distributed backdoor attack: each colluder poisons with one part of the trigger.

Xie, Huang, Chen and Li, "DBA: distributed backdoor attacks against federated learning",
ICLR 2020. The global trigger is `parts` horizontal bars of `length` pixels set to
`value`, laid out two per row from the top-left corner with `gap` empty pixels between bars
and between rows of bars (the paper's four 1x4 bars on MNIST). Part k sits at image row
(k // 2) * (1 + gap), column (k % 2) * (length + gap). Malicious client number r (its rank
among the run's sorted malicious ids) poisons with part r mod parts only; the backdoor is
evaluated with the full global trigger.

On an 8x8 digit with the defaults (4 parts, length 2, gap 1) the global trigger is pixels
(0,0) (0,1) (0,3) (0,4) (2,0) (2,1) (2,3) (2,4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.backdoor import _rows_as_images, image_shape
from fedray.attacks.common import check_params


@dataclass(frozen=True)
class DbaParams:
    target: int = field(default=0, metadata={"min": 0})
    poison_fraction: float = field(default=0.5, metadata={"min": 0, "max": 1})
    parts: int = field(default=4, metadata={"min": 1})
    length: int = field(default=2, metadata={"min": 1})  # pixels per bar
    gap: int = field(default=1, metadata={"min": 0})
    value: float = 1.0


def part_mask(input_shape, params: DbaParams, part: int | None) -> np.ndarray:
    """Return the (H, W) bool mask of trigger part `part` (0-based), or of all parts (None)."""
    check_params("dba", params, DbaParams)
    _, height, width = image_shape(input_shape)
    rows_needed = ((params.parts - 1) // 2) * (1 + params.gap) + 1
    cols_needed = min(params.parts, 2) * (params.length + params.gap) - params.gap
    if rows_needed > height or cols_needed > width:
        raise ValueError(
            f"dba's global trigger needs {rows_needed}x{cols_needed} pixels and the image is "
            f"{height}x{width}: lower attack.parts, attack.length or attack.gap"
        )
    mask = np.zeros((height, width), dtype=bool)
    for k in range(params.parts) if part is None else [part % params.parts]:
        row = (k // 2) * (1 + params.gap)
        col = (k % 2) * (params.length + params.gap)
        mask[row, col : col + params.length] = True
    return mask


def stamp(x: np.ndarray, input_shape, params: DbaParams, part: int | None) -> np.ndarray:
    """Return a copy of every row of x with trigger part `part` (None: the global trigger)."""
    x = np.asarray(x)
    images = x.reshape(_rows_as_images(x, input_shape)).copy()
    images[:, :, part_mask(input_shape, params, part)] = params.value
    return images.reshape(x.shape)


def dba(x, y, params: DbaParams, rng, input_shape, *, part: int = 0, num_classes=None):
    """Stamp local trigger `part` on round(poison_fraction * n) rows drawn by rng; label them.

    Args:
        x: (n, *input_shape) or (n, prod(input_shape)) features.
        y: (n,) integer labels.
        params: target, poison_fraction, parts, length, gap, value.
        rng: chooses the poisoned rows, without replacement.
        input_shape: one row's shape.
        part: this client's trigger part (its rank among the malicious clients).
        num_classes: when given, target must be below it.

    Returns:
        (x', y') copies; the other rows are untouched.
    """
    x, y = np.asarray(x), np.asarray(y)
    if num_classes is not None and params.target >= num_classes:
        raise ValueError(
            f"dba's attack.target must be a class in [0, {num_classes}); got {params.target}: "
            "lower it"
        )
    part_mask(input_shape, params, part)  # checks the layout before drawing
    chosen = np.sort(rng.choice(len(y), size=round(params.poison_fraction * len(y)), replace=False))
    out_x, out_y = np.array(x, copy=True), y.copy()
    out_x[chosen] = stamp(x[chosen], input_shape, params, part)
    out_y[chosen] = params.target
    return out_x, out_y
