"""Inner Product Manipulation (IPM): every colluder sends -epsilon * the honest mean.

Xie, Koyejo and Gupta, "Fall of empires: breaking Byzantine-tolerant SGD by inner product
manipulation", UAI 2019 (PMLR 115, 2020). The aggregate's inner product with the true
mean turns negative: a small epsilon (0.1) hides close to the honest cluster from
distance-based rules such as Krum; a large one (> (n - m) / m) flips the sign of the plain
mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.common import check_params, check_updates, honest_mean, repeat


@dataclass(frozen=True)
class IpmParams:
    epsilon: float = field(default=0.1, metadata={"gt": 0})


def ipm(
    honest: np.ndarray, malicious: np.ndarray, params: IpmParams, rng: np.random.Generator
) -> np.ndarray:
    """Return -epsilon * mean of the honest updates for every malicious row.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used.
        params: epsilon > 0.
        rng: unused.

    Returns:
        (m, d) float32, all rows equal.
    """
    check_params("ipm", params, IpmParams)
    _, m, _ = check_updates("ipm", honest, malicious, needs_honest=True)
    if m == 0:
        return malicious.astype(np.float32, copy=True)
    return repeat(-params.epsilon * honest_mean(honest), m)
