"""FedProx's Synthetic(alpha, beta), generated per client on demand.

Li et al., "Federated optimization in heterogeneous networks" (FedProx), 2020, section 5.1,
after Shamir et al. 2014. Client k draws u_k ~ N(0, alpha), B_k ~ N(0, beta); its model is
W_k ~ N(u_k, 1) (C x d), b_k ~ N(u_k, 1) (C); its inputs x ~ N(v_k, Sigma) with
v_k ~ N(B_k, 1) (d) and Sigma diagonal, Sigma_jj = j^-1.2; labels y = argmax(W_k x + b_k).
alpha controls how much the local models differ, beta how much the local inputs differ.

Everything about client k comes from `rng(seed, 0, k, purpose)`, so a population of
millions costs nothing until a client is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray import seeding


@dataclass(frozen=True)
class SyntheticParams:
    alpha: float = field(default=1.0, metadata={"min": 0})
    beta: float = field(default=1.0, metadata={"min": 0})
    dim: int = field(default=60, metadata={"min": 1})
    num_classes: int = field(default=10, metadata={"min": 2})
    # Client sizes follow FedProx's power law: min_samples + lognormal(mean_log, sigma_log),
    # capped at max_samples so one client cannot dominate a round's cost.
    min_samples: int = field(default=50, metadata={"min": 1})
    mean_log: float = 4.0
    sigma_log: float = field(default=2.0, metadata={"min": 0})
    max_samples: int = field(default=1000, metadata={"min": 1})
    test_clients: int = field(default=100, metadata={"min": 1})  # pooled for the central test set


def client_sizes(params: SyntheticParams, seed: int, client_ids: np.ndarray) -> np.ndarray:
    """Return each client's total number of examples (train + local test), int64."""
    out = np.empty(len(client_ids), dtype=np.int64)
    for i, cid in enumerate(client_ids):
        draw = seeding.rng(seed, 0, int(cid), seeding.SIZE).lognormal(
            params.mean_log, params.sigma_log
        )
        # Capped before int(): a large mean_log or sigma_log draws inf, which no int holds.
        out[i] = int(min(params.min_samples + draw, params.max_samples))
    return out


def client_data(
    params: SyntheticParams, seed: int, client_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Generate client `client_id`'s examples: x (n, dim) float32, y (n,) int64."""
    n = int(client_sizes(params, seed, np.array([client_id]))[0])
    rng = seeding.rng(seed, 0, client_id, seeding.DATA)
    u = rng.normal(0.0, np.sqrt(params.alpha))
    big_b = rng.normal(0.0, np.sqrt(params.beta))
    w = rng.normal(u, 1.0, (params.dim, params.num_classes))
    b = rng.normal(u, 1.0, params.num_classes)
    v = rng.normal(big_b, 1.0, params.dim)
    std = np.arange(1, params.dim + 1, dtype=np.float64) ** -0.6  # sqrt(j^-1.2)
    x = v + rng.standard_normal((n, params.dim)) * std
    y = np.argmax(x @ w + b, axis=1)
    return x.astype(np.float32), y.astype(np.int64)
