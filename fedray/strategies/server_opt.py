"""Server optimizers: a step on the global parameters from the aggregated client delta.

Each is pure: `(params (d,), delta (d,), state dict, cfg) -> (new params, new state)`. The
aggregated delta is a pseudo-gradient pointing downhill, so steps add it.
Reddi et al., "Adaptive federated optimization", ICLR 2021 (Algorithm 2).
"""

from __future__ import annotations

import numpy as np


def _zeros_like(state: dict, key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    return state[key] if key in state else np.full_like(like, fill, dtype=np.float32)


def sgd(params, delta, state, lr: float):
    """x += lr * delta (FedAvg with a server learning rate)."""
    return (params + np.float32(lr) * delta).astype(np.float32), state


def momentum(params, delta, state, lr: float, beta: float):
    """v = beta v + delta; x += lr v (FedAvgM, Hsu et al. 2019)."""
    v = np.float32(beta) * _zeros_like(state, "momentum", params) + delta
    return (params + np.float32(lr) * v).astype(np.float32), {
        **state,
        "momentum": v.astype(np.float32),
    }


def adaptive(params, delta, state, *, kind: str, lr: float, beta1: float, beta2: float, tau: float):
    """FedAdagrad / FedAdam / FedYogi: x += lr m / (sqrt(v) + tau), v starting at tau^2."""
    m = np.float32(beta1) * _zeros_like(state, "m", params) + np.float32(1 - beta1) * delta
    v = _zeros_like(state, "v", params, fill=tau * tau)
    sq = delta * delta
    if kind == "adagrad":
        v = v + sq
    elif kind == "adam":
        v = np.float32(beta2) * v + np.float32(1 - beta2) * sq
    elif kind == "yogi":
        v = v - np.float32(1 - beta2) * sq * np.sign(v - sq)
    else:
        raise ValueError(f"unknown adaptive optimizer {kind!r}; expected adagrad, adam or yogi")
    step = np.float32(lr) * m / (np.sqrt(v) + np.float32(tau))
    new_state = {**state, "m": m.astype(np.float32), "v": v.astype(np.float32)}
    return (params + step).astype(np.float32), new_state
