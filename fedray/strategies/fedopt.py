"""FedAdagrad, FedAdam, FedYogi.

Reddi et al., "Adaptive federated optimization", ICLR 2021: the aggregated client delta is
a pseudo-gradient for an adaptive server optimizer (server_lr = eta, beta1, beta2, tau).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.strategies import server_opt
from fedray.strategies.context import ServerContext
from fedray.strategies.fedavg import client_weights
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class FedOptParams:
    server_lr: float = field(default=0.01, metadata={"gt": 0})
    beta1: float = field(default=0.9, metadata={"min": 0, "lt": 1})
    beta2: float = field(default=0.99, metadata={"min": 0, "lt": 1})
    tau: float = field(default=1e-3, metadata={"gt": 0})
    weighted: bool = True


def _fedopt(kind: str):
    def step(
        params: np.ndarray, batch: UpdateBatch, state: dict, cfg: FedOptParams, ctx: ServerContext
    ):
        delta = ctx.aggregate(batch.deltas, client_weights(batch, cfg.weighted))
        new, state = server_opt.adaptive(
            params,
            delta,
            state,
            kind=kind,
            lr=cfg.server_lr,
            beta1=cfg.beta1,
            beta2=cfg.beta2,
            tau=cfg.tau,
        )
        return new, state, {}

    step.__name__ = f"fed{kind}"
    step.__doc__ = f"One Fed{kind.capitalize()} server step (Reddi et al. 2021)."
    return step


fedadagrad = _fedopt("adagrad")
fedadam = _fedopt("adam")
fedyogi = _fedopt("yogi")
