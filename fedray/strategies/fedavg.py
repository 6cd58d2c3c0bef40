"""FedAvg, FedAvgM and FedProx.

McMahan et al., "Communication-efficient learning of deep networks from decentralized
data", AISTATS 2017: x_{t+1} = x_t + server_lr * mean_i(delta_i), the mean weighted by
examples (server_lr = 1 is the original; Reddi et al. 2021 add the server rate).
Hsu et al., "Measuring the effects of non-identical data distribution", 2019 (FedAvgM):
server momentum on the same pseudo-gradient.
Li et al., "Federated optimization in heterogeneous networks", MLSys 2020 (FedProx):
FedAvg on the server; clients add mu/2 ||w - w_t||^2 to their loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.strategies import server_opt
from fedray.strategies.context import ServerContext
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class FedAvgParams:
    server_lr: float = field(default=1.0, metadata={"gt": 0})
    weighted: bool = True  # weight by examples; false gives every client the same weight


@dataclass(frozen=True)
class FedAvgMParams:
    server_lr: float = field(default=1.0, metadata={"gt": 0})
    momentum: float = field(default=0.9, metadata={"min": 0, "lt": 1})
    weighted: bool = True


@dataclass(frozen=True)
class FedProxParams:
    mu: float = field(default=0.01, metadata={"gt": 0})
    server_lr: float = field(default=1.0, metadata={"gt": 0})
    weighted: bool = True


def client_weights(batch: UpdateBatch, weighted: bool) -> np.ndarray:
    return batch.num_examples.astype(np.float64) if weighted else np.ones(len(batch.client_ids))


def fedavg(params: np.ndarray, batch: UpdateBatch, state: dict, cfg, ctx: ServerContext):
    """One FedAvg server step; returns (new params (d,), state, metrics)."""
    delta = ctx.aggregate(batch.deltas, client_weights(batch, cfg.weighted))
    new, state = server_opt.sgd(params, delta, state, cfg.server_lr)
    return new, state, {}


def fedavgm(params: np.ndarray, batch: UpdateBatch, state: dict, cfg, ctx: ServerContext):
    """One FedAvgM server step: FedAvg's aggregate through server momentum."""
    delta = ctx.aggregate(batch.deltas, client_weights(batch, cfg.weighted))
    new, state = server_opt.momentum(params, delta, state, cfg.server_lr, cfg.momentum)
    return new, state, {}


def fedprox_client(cfg: FedProxParams) -> dict:
    return {"proximal_mu": cfg.mu}
