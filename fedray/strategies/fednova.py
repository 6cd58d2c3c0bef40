"""FedNova: normalised averaging for clients that take different numbers of local steps.

Wang et al., "Tackling the objective inconsistency problem in heterogeneous federated
optimization", NeurIPS 2020. With local SGD, client i's delta after tau_i steps is divided
by tau_i (a_i = tau_i for vanilla SGD), averaged with weights p_i = n_i / n, and the
result scaled by tau_eff = sum_i p_i tau_i: x += server_lr * tau_eff * sum_i p_i delta_i / tau_i.
Plain FedAvg instead lets clients with more steps pull the model toward their own optimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.strategies import server_opt
from fedray.strategies.context import ServerContext
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class FedNovaParams:
    server_lr: float = field(default=1.0, metadata={"gt": 0})


def fednova(
    params: np.ndarray, batch: UpdateBatch, state: dict, cfg: FedNovaParams, ctx: ServerContext
):
    tau = batch.extras["num_steps"].astype(np.float64)
    p = batch.num_examples / batch.num_examples.sum()
    tau_eff = float((p * tau).sum())
    # Rows in delta units (delta_i * tau_eff / tau_i), so a defense's thresholds (norm bounds,
    # clipping radii, FLTrust's reference) mean what they mean under FedAvg.
    rows = (batch.deltas * (tau_eff / tau)[:, None]).astype(np.float32)
    delta = ctx.aggregate(rows, p)
    new, state = server_opt.sgd(params, delta, state, cfg.server_lr)
    return new, state, {"tau_eff": tau_eff}
