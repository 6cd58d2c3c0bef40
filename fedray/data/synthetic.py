"""FedProx's Synthetic(alpha, beta), generated per client on demand.

Li et al., "Federated optimization in heterogeneous networks" (FedProx), 2020, section 5.1,
after Shamir et al. 2014. Client k draws u_k ~ N(0, alpha), B_k ~ N(0, beta); its model is
W_k ~ N(u_k, 1) (C x d), b_k ~ N(u_k, 1) (C); its inputs x ~ N(v_k, Sigma) with
v_k ~ N(B_k, 1) (d) and Sigma diagonal, Sigma_jj = j^-1.2; labels y = argmax(W_k x + b_k).
alpha controls how much the local models differ, beta how much the local inputs differ.

Everything about client k comes from streams named (seed, k, purpose), so a population of
millions costs nothing until a client is sampled.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

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
    """Return each client's total number of examples (train + local test), int64.

    Vectorised over the clients: one counter-based hash per client (`seeding.uniforms`), its
    two uniforms made one N(0, 1) by Box-Muller.
    """
    u = seeding.uniforms(seed, seeding.NO_ROUND, client_ids, seeding.SIZE, 2)
    # 1 - u is in (0, 1]: the log is finite.
    z = np.sqrt(-2.0 * np.log1p(-u[:, 0])) * np.cos(2.0 * np.pi * u[:, 1])
    with np.errstate(over="ignore"):  # a large mean_log or sigma_log draws inf: capped below
        total = params.min_samples + np.exp(params.mean_log + params.sigma_log * z)
    # The cap in integers: a float near 2^63 would not convert back exactly.
    capped = total >= params.max_samples
    out = np.full(len(total), params.max_samples, dtype=np.int64)
    out[~capped] = total[~capped].astype(np.int64)
    return out


def client_data(
    params: SyntheticParams, seed: int, client_id: int, size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Generate client `client_id`'s examples: x (n, dim) float32, y (n,) int64.

    Drawn in float32 from the client's own torch stream: torch's vectorised normal sampler
    costs about a third of numpy's ziggurat here, and generating data was most of a
    worker's time in a 10,000-client round. Like every torch kernel, its bits hold per
    machine and torch build (see "Reproducibility"). `size`: its `client_sizes`, when the
    caller has it already.
    """
    n = int(client_sizes(params, seed, [client_id])[0]) if size is None else size
    dim, classes = params.dim, params.num_classes
    g = seeding.torch_stream(seed, 0, client_id, seeding.DATA)  # 64 bits of state
    head = torch.randn(2 + dim * classes + classes + dim, generator=g)
    u = head[0] * math.sqrt(params.alpha)
    big_b = head[1] * math.sqrt(params.beta)
    w = head[2 : 2 + dim * classes].view(dim, classes) + u
    b = head[2 + dim * classes : 2 + dim * classes + classes] + u
    v = head[2 + dim * classes + classes :] + big_b
    x = torch.randn(n, dim, generator=g).mul_(_input_std(dim)).add_(v)
    y = torch.argmax(torch.addmm(b, x, w), dim=1)
    return x.numpy(), y.numpy()


@functools.lru_cache(maxsize=8)
def _input_std(dim: int) -> torch.Tensor:
    """sqrt(Sigma_jj) = j^-0.6, j = 1..dim."""
    return torch.from_numpy(np.arange(1, dim + 1, dtype=np.float64) ** -0.6).float()
