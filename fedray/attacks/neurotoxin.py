"""Neurotoxin: a backdoor kept to the coordinates honest clients rarely update.

Zhang, Panda, Song, Yang, Mahoney, Gonzalez, Ramchandran and Mahoney (Zhang et al.),
"Neurotoxin: durable backdoors in federated learning", ICML 2022. The malicious clients
train on backdoored data (the `backdoor` trigger and parameters), then project their update
onto the coordinates outside the top `top_fraction` of |previous global update|: the
coordinates the honest majority moves most would overwrite the backdoor soonest.

Two departures from the paper, both because fedray's local training is shared by every
client: the mask is applied once to the finished update rather than to each local
gradient step, and the previous global update is the aggregate the server applied last
round (what a client sees as the difference of two consecutive global models, up to the
server optimizer). In round 1, with no previous update, nothing is masked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.backdoor import BackdoorParams, backdoor


@dataclass(frozen=True)
class NeurotoxinParams(BackdoorParams):
    top_fraction: float = field(default=0.1, metadata={"min": 0, "lt": 1})  # masked out


def keep_mask(previous: np.ndarray | None, d: int, top_fraction: float) -> np.ndarray:
    """Return the (d,) bool mask of coordinates outside the top_fraction largest |previous|.

    ceil(top_fraction * d) coordinates are dropped; ties at the cut go by index (stable
    sort), so the mask is a function of `previous` alone.
    """
    keep = np.ones(d, dtype=bool)
    if previous is None or top_fraction == 0:
        return keep
    k = math.ceil(top_fraction * d)
    order = np.argsort(-np.abs(np.asarray(previous, np.float64)), kind="stable")
    keep[order[:k]] = False
    return keep


def project(rows: np.ndarray, previous: np.ndarray | None, top_fraction: float) -> np.ndarray:
    """Return the (m, d) float32 rows with the top_fraction coordinates of |previous| zeroed."""
    return (rows * keep_mask(previous, rows.shape[1], top_fraction)).astype(np.float32)


def neurotoxin(x, y, params: NeurotoxinParams, rng, input_shape, *, num_classes=None):
    """Poison the client's data exactly as `backdoor` does (the projection comes later).

    Args and returns: as `fedray.attacks.backdoor.backdoor`.
    """
    return backdoor(x, y, params, rng, input_shape, num_classes=num_classes)
