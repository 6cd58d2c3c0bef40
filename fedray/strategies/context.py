"""What a strategy sees of the round besides the updates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ServerContext:
    """Per-round context handed to a strategy.

    `aggregate(rows (n, d), weights (n,)) -> (d,)` is the scenario's aggregation rule: the
    weighted mean, or the robust rule chosen in `defense` (with bucketing if asked). A
    strategy calls it wherever the textbook algorithm takes a mean of client vectors, so
    "robust FedAdam" is a scenario, not new code.
    """

    aggregate: Callable[[np.ndarray, np.ndarray], np.ndarray]
    round: int
    population: int  # N, for SCAFFOLD's |S| / N
    client_lr: float  # q-FFL's default L = 1 / lr
