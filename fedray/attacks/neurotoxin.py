"""Neurotoxin: a backdoor kept to the coordinates honest clients rarely update.

Zhang, Panda, Song, Yang, Mahoney, Gonzalez, Ramchandran and Mahoney (Zhang et al.),
"Neurotoxin: durable backdoors in federated learning", ICML 2022. The malicious clients
train on backdoored data (the `backdoor` trigger and parameters) and project every local
gradient step onto the coordinates outside the top `top_fraction` of |previous global
update|: the coordinates the honest majority moves most would overwrite the backdoor soonest.

The previous global update is what a client can compute from the global models it is sent:
g = w_r - w_{r-1}, the model round r starts from minus the one round r - 1 started from (the
server's applied step, after its optimizer, noise and all). In round 1 there is no w_0, so
nothing is masked; a coordinate with g = 0 (the server did not move it) is never masked, so a
round that applied nothing leaves the next one unmasked too.

Each step the client masks the whole step direction, weight decay included, before the
optimizer sees it (`fedray.client.step_mask`): SGD's momentum and Adam's moments then stay zero
on the masked coordinates, and the update is exactly zero there. Buffers that no gradient
trains (BatchNorm's running statistics) are not masked. Under FedBuff (`system.mode: async`)
a client trains from a stale model whose mask the run does not keep, so there the finished
update is projected once instead (`project`), on the server side of the simulation, by the
mask of the aggregate the server applied last (`AttackView.previous`).
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

    ceil(top_fraction * d) coordinates are dropped, or fewer if fewer are nonzero (a
    coordinate the previous update did not move is never dropped); ties at the cut go by
    index (stable sort), so the mask is a function of `previous` alone. None: all kept.
    """
    keep = np.ones(d, dtype=bool)
    if previous is None or top_fraction == 0:
        return keep
    magnitude = np.abs(np.asarray(previous, np.float64))
    k = min(math.ceil(top_fraction * d), int(np.count_nonzero(magnitude)))
    order = np.argsort(-magnitude, kind="stable")
    keep[order[:k]] = False
    return keep


def previous_update(now: np.ndarray, before: np.ndarray | None) -> np.ndarray | None:
    """g = w_r - w_{r-1} (d,) float64 from two consecutive global models; None without w_{r-1}."""
    if before is None:
        return None
    return np.asarray(now, np.float64) - np.asarray(before, np.float64)


def project(rows: np.ndarray, previous: np.ndarray | None, top_fraction: float) -> np.ndarray:
    """Return the (m, d) float32 rows with the top_fraction coordinates of |previous| zeroed."""
    return (rows * keep_mask(previous, rows.shape[1], top_fraction)).astype(np.float32)


def neurotoxin(x, y, params: NeurotoxinParams, rng, input_shape, *, num_classes=None):
    """Poison the client's data exactly as `backdoor` does (the mask applies during training).

    Args and returns: as `fedray.attacks.backdoor.backdoor`.
    """
    return backdoor(x, y, params, rng, input_shape, num_classes=num_classes)
