"""SCAFFOLD: control variates against client drift.

Karimireddy et al., "SCAFFOLD: Stochastic controlled averaging for federated learning",
ICML 2020 (Algorithm 1, option II). The server keeps a variate c, each client its own c_i
(persisted across rounds in the client state store, not in actor memory); clients step with
g - c_i + c and return delta_y and delta_c = c_i+ - c_i. The server applies
x += server_lr * mean(delta_y) and c += |S| / N * mean(delta_c).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.strategies import server_opt
from fedray.strategies.context import ServerContext
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class ScaffoldParams:
    server_lr: float = field(default=1.0, metadata={"gt": 0})


def scaffold(
    params: np.ndarray, batch: UpdateBatch, state: dict, cfg: ScaffoldParams, ctx: ServerContext
):
    ones = np.ones(len(batch.client_ids))
    delta = ctx.aggregate(batch.deltas, ones)
    new, state = server_opt.sgd(params, delta, state, cfg.server_lr)
    c = state.get("c", np.zeros_like(params))
    mean_dc = batch.extras["control_delta"].astype(np.float64).mean(axis=0)
    c = (c + len(batch.client_ids) / ctx.population * mean_dc).astype(np.float32)
    return new, {**state, "c": c}, {}


def scaffold_client(cfg: ScaffoldParams) -> dict:
    return {"control_variates": True}


def server_message(state: dict, dim: int) -> dict:
    """What clients receive besides the parameters: the server variate c."""
    return {"c": state.get("c", np.zeros(dim, np.float32))}
