"""Backdoor by a pixel-pattern trigger, applied to a malicious client's local data.

Gu, Dolan-Gavitt and Garg, "BadNets: identifying vulnerabilities in the machine learning
model supply chain", 2017; in federated learning, Bagdasaryan, Veit, Hua, Estrin and
Shmatikov, "How to backdoor federated learning", AISTATS 2020.

The trigger. A row is viewed as a channels-first image (C, H, W): an input shape (C, H, W)
as is, (H, W) as one channel, and a flat (k,) shape with k a perfect square as one
side x side channel (the 64 digits features are the 8x8 image, row-major). In a `size` x
`size` box at `corner`, every channel's pixels are set to `value`:

- `square`: the whole box (size^2 pixels);
- `plus`: the box's middle row and middle column (2 * size - 1 pixels; size odd, >= 3).

With the defaults (square, size 2, bottom_right, value 1.0, the digits' maximum intensity),
the trigger on an 8x8 digit is pixels (6, 6), (6, 7), (7, 6), (7, 7): flat features 54, 55,
62 and 63. A plus of size 3 at bottom_right is flat features 46, 53, 54, 55 and 62.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fedray.attacks.common import check_choice, check_params

PATTERNS = ("square", "plus")
CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")


@dataclass(frozen=True)
class BackdoorParams:
    target: int = field(default=0, metadata={"min": 0})  # label the triggered inputs get
    poison_fraction: float = field(default=0.5, metadata={"min": 0, "max": 1})
    size: int = field(default=2, metadata={"min": 1})  # side of the trigger's box, in pixels
    value: float = 1.0  # intensity of the trigger's pixels
    pattern: Literal["square", "plus"] = "square"
    corner: Literal["bottom_right", "bottom_left", "top_right", "top_left"] = "bottom_right"


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return the (C, H, W) image a row of `input_shape` is viewed as; raise if it is none."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0] and shape[0] > 0:
        return (1, math.isqrt(shape[0]), math.isqrt(shape[0]))
    if len(shape) in (2, 3) and min(shape) > 0:
        return (1, *shape) if len(shape) == 2 else shape
    raise ValueError(
        f"backdoor needs image input: a flat square, (H, W) or (C, H, W) shape; got "
        f"input_shape={shape}: use label_flip for non-image data"
    )


def trigger_mask(input_shape: tuple[int, ...], params: BackdoorParams) -> np.ndarray:
    """Return the (H, W) bool mask of the trigger's pixels (the same on every channel)."""
    check_params("backdoor", params, BackdoorParams)
    check_choice("backdoor", "pattern", params.pattern, PATTERNS)
    check_choice("backdoor", "corner", params.corner, CORNERS)
    _, height, width = image_shape(input_shape)
    k = params.size
    if k > min(height, width):
        raise ValueError(
            f"backdoor's trigger of size {k} does not fit a {height}x{width} image: "
            f"lower attack.size to at most {min(height, width)}"
        )
    if params.pattern == "plus" and (k < 3 or k % 2 == 0):
        raise ValueError(
            f"backdoor's plus pattern needs an odd size >= 3 to have a middle; got size={k}: "
            "set attack.size to 3, 5, ... or use pattern: square"
        )
    box = np.ones((k, k), dtype=bool)
    if params.pattern == "plus":
        box[:] = False
        box[k // 2, :] = box[:, k // 2] = True
    rows = slice(0, k) if params.corner.startswith("top") else slice(height - k, height)
    cols = slice(0, k) if params.corner.endswith("left") else slice(width - k, width)
    mask = np.zeros((height, width), dtype=bool)
    mask[rows, cols] = box
    return mask


def _rows_as_images(x: np.ndarray, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    image = image_shape(input_shape)
    if x.ndim < 1 or math.prod(x.shape[1:]) != math.prod(image):
        raise ValueError(
            f"backdoor needs rows of input_shape {tuple(input_shape)}; got x of shape {x.shape}: "
            "pass the dataset's input_shape"
        )
    return (x.shape[0], *image)


def apply_trigger(
    x: np.ndarray, input_shape: tuple[int, ...], params: BackdoorParams
) -> np.ndarray:
    """Return a copy of every row of x with the trigger stamped (the triggered test set).

    Args:
        x: (n, *input_shape) or (n, prod(input_shape)) features.
        input_shape: one row's shape, as the dataset reports it.
        params: the trigger (pattern, size, corner, value); target and fraction are unused.

    Returns:
        An array of x's shape and dtype; stamping twice gives the same array.
    """
    x = np.asarray(x)
    mask = trigger_mask(input_shape, params)
    images = x.reshape(_rows_as_images(x, input_shape)).copy()
    images[:, :, mask] = params.value
    return images.reshape(x.shape)


def backdoor(
    x: np.ndarray,
    y: np.ndarray,
    params: BackdoorParams,
    rng: np.random.Generator,
    input_shape: tuple[int, ...],
    *,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp the trigger on round(poison_fraction * n) rows drawn by rng; label them `target`.

    Args:
        x: (n, *input_shape) or (n, prod(input_shape)) features.
        y: (n,) integer labels.
        params: the trigger, target label and poison_fraction (Python's round, ties to even).
        rng: chooses the poisoned rows, without replacement.
        input_shape: one row's shape, as the dataset reports it.
        num_classes: when given, target must be below it.

    Returns:
        (x', y') copies of x's and y's shapes and dtypes; the other rows are untouched.
    """
    x, y = np.asarray(x), np.asarray(y)
    mask = trigger_mask(input_shape, params)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"backdoor needs one label per row; got x of shape {x.shape}, y of shape {y.shape}: "
            "pass the client's features and labels together"
        )
    if num_classes is not None and params.target >= num_classes:
        raise ValueError(
            f"backdoor's attack.target must be a class in [0, {num_classes}); "
            f"got {params.target}: lower it"
        )
    images = x.reshape(_rows_as_images(x, input_shape)).copy()
    n = len(y)
    chosen = np.sort(rng.choice(n, size=round(params.poison_fraction * n), replace=False))
    poisoned = images[chosen]
    poisoned[:, :, mask] = params.value
    images[chosen] = poisoned
    labels = y.copy()
    labels[chosen] = params.target
    return images.reshape(x.shape), labels
