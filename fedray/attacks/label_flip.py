"""Label flipping, applied to a malicious client's labels before its local training.

Untargeted, every label y becomes C - 1 - y (Fang, Cao, Jia and Gong, "Local model poisoning
attacks to Byzantine-robust federated learning", USENIX Security 2020). Targeted, only the
`source` class is relabelled as `target` (Tolpegin, Truex, Gursoy and Liu, "Data poisoning
attacks against federated learning systems", ESORICS 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.common import check_params


@dataclass(frozen=True)
class LabelFlipParams:
    source: int | None = field(default=None, metadata={"min": 0})  # both None: untargeted
    target: int | None = field(default=None, metadata={"min": 0})


def _check(y: np.ndarray, num_classes: int, params: LabelFlipParams) -> None:
    check_params("label_flip", params, LabelFlipParams)
    if num_classes < 2:
        raise ValueError(
            f"label_flip needs at least 2 classes; got num_classes={num_classes}: "
            "use a classification dataset"
        )
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"label_flip needs a 1-D integer label array; got shape {y.shape}, dtype {y.dtype}: "
            "pass class indices, not one-hot rows"
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"label_flip needs labels in [0, {num_classes}); got min={y.min()}, max={y.max()}: "
            "pass the dataset's num_classes"
        )
    if (params.source is None) != (params.target is None):
        raise ValueError(
            f"label_flip got source={params.source}, target={params.target}: set both "
            "attack.source and attack.target for a targeted flip, or neither for y -> C - 1 - y"
        )
    if params.source is None:
        return
    if max(params.source, params.target) >= num_classes or params.source == params.target:
        raise ValueError(
            f"label_flip's attack.source and attack.target must be two different classes in "
            f"[0, {num_classes}); got source={params.source}, target={params.target}: change them"
        )


def label_flip(
    y: np.ndarray, num_classes: int, params: LabelFlipParams, rng: np.random.Generator
) -> np.ndarray:
    """Return the poisoned labels: C - 1 - y everywhere, or `target` where y == `source`.

    Args:
        y: (n,) integer labels in [0, num_classes).
        num_classes: C >= 2.
        params: source and target (both set: targeted; both None: untargeted).
        rng: unused; every label of the chosen kind is flipped.

    Returns:
        (n,) labels of y's dtype; `y` itself is left unchanged.
    """
    y = np.asarray(y)
    _check(y, num_classes, params)
    if params.source is None:
        return (num_classes - 1 - y).astype(y.dtype)
    return np.where(y == params.source, params.target, y).astype(y.dtype)
