"""FedAvg with a server learning rate.

McMahan et al., "Communication-efficient learning of deep networks from decentralized
data", AISTATS 2017. The server treats the (weighted) mean client delta as a pseudo-gradient
step: x_{t+1} = x_t + server_lr * mean_i(delta_i) (Reddi et al. 2021 call this FedAvg with
server learning rate; server_lr = 1 is the original algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.strategies.aggregate import weighted_mean


@dataclass(frozen=True)
class FedAvgParams:
    server_lr: float = field(default=1.0, metadata={"gt": 0})
    weighted: bool = True  # weight by examples; false gives every client the same weight


def fedavg(
    params: np.ndarray,
    updates: np.ndarray,
    num_examples: np.ndarray,
    state: dict,
    cfg: FedAvgParams,
):
    """One FedAvg server step.

    Args:
        params: (d,) float32 global parameters.
        updates: (n, d) float32 client deltas (local minus global), n >= 1.
        num_examples: (n,) int64 training examples per client.
        state: strategy state carried across rounds (FedAvg keeps none).
        cfg: FedAvgParams.

    Returns:
        (new params (d,) float32, new state, metrics dict).
    """
    weights = num_examples if cfg.weighted else np.ones(len(updates))
    step = weighted_mean(updates, weights)
    return (params + np.float32(cfg.server_lr) * step).astype(np.float32), state, {}
