"""q-FFL / q-FedAvg: fair resource allocation.

Li, Sanjabi, Beirami and Smith, "Fair resource allocation in federated learning", ICLR 2020
(Algorithm 2, q-FedAvg). Clients with a higher loss F_k get more weight as q grows (q = 0 is
FedAvg with a step of 1/L). With L = 1 / client lr:

    dw_k  = L (w - w_k)                        (w_k: client k's local model)
    D_k   = F_k^q dw_k
    h_k   = q F_k^(q-1) ||dw_k||^2 + L F_k^q
    w    <- w - sum_k D_k / sum_k h_k

F_k is client k's loss of the global model before training (clients report it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.strategies.context import ServerContext
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class QFFLParams:
    q: float = field(default=1.0, metadata={"min": 0})
    lipschitz: float | None = field(default=None, metadata={"gt": 0})  # L; default 1 / client.lr


def qffl(params: np.ndarray, batch: UpdateBatch, state: dict, cfg: QFFLParams, ctx: ServerContext):
    big_l = cfg.lipschitz if cfg.lipschitz is not None else 1.0 / ctx.client_lr
    loss = np.maximum(batch.extras["initial_loss"].astype(np.float64), 1e-10)
    dw = -big_l * batch.deltas.astype(np.float64)  # L (w - w_k), since delta = w_k - w
    d = (loss**cfg.q)[:, None] * dw
    h = cfg.q * loss ** (cfg.q - 1) * np.square(dw).sum(axis=1) + big_l * loss**cfg.q
    # -sum_k D_k / sum_k h_k as the mean of rows n D_k / sum h in delta units (pointing where
    # the clients moved), so a robust rule can replace the mean and its thresholds keep meaning.
    rows = (-len(d) * d / h.sum()).astype(np.float32)
    new = params + ctx.aggregate(rows, np.ones(len(d)))
    return new.astype(np.float32), state, {"qffl_h_sum": float(h.sum())}


def qffl_client(cfg: QFFLParams) -> dict:
    return {"initial_loss": True}
