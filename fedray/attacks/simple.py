"""Attacks on the malicious clients' own updates: none, sign flip, Gaussian noise, scaling.

None of these needs the honest updates; they are checked only for shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.common import check_params, check_updates
from fedray.registry import NoParams


@dataclass(frozen=True)
class SignFlipParams:
    scale: float = field(default=1.0, metadata={"gt": 0})


@dataclass(frozen=True)
class GaussianParams:
    sigma: float = field(default=1.0, metadata={"gt": 0})


@dataclass(frozen=True)
class ScalingParams:
    gamma: float = field(default=10.0, metadata={"gt": 0})


def none(
    honest: np.ndarray, malicious: np.ndarray, params: NoParams, rng: np.random.Generator
) -> np.ndarray:
    """Return the malicious clients' own updates unchanged (the no-attack baseline).

    Args:
        honest: (h, d) float32, checked for shape only.
        malicious: (m, d) float32.
        params: none.
        rng: unused.

    Returns:
        (m, d) float32 copy of `malicious`.
    """
    check_params("none", params, NoParams)
    check_updates("none", honest, malicious, needs_honest=False)
    return malicious.astype(np.float32, copy=True)


def sign_flip(
    honest: np.ndarray, malicious: np.ndarray, params: SignFlipParams, rng: np.random.Generator
) -> np.ndarray:
    """Return -scale * each malicious client's own update.

    Sign flipping: Li, Xu, Chen, Giannakis and Ling, "RSA: Byzantine-robust stochastic
    aggregation methods for distributed learning from heterogeneous datasets", AAAI 2019.

    Args:
        honest: (h, d) float32, checked for shape only.
        malicious: (m, d) float32, the clients' own updates.
        params: scale > 0.
        rng: unused.

    Returns:
        (m, d) float32, row i = -scale * malicious[i].
    """
    check_params("sign_flip", params, SignFlipParams)
    check_updates("sign_flip", honest, malicious, needs_honest=False)
    return (-params.scale * malicious.astype(np.float64)).astype(np.float32)


def gaussian(
    honest: np.ndarray, malicious: np.ndarray, params: GaussianParams, rng: np.random.Generator
) -> np.ndarray:
    """Return one independent N(0, sigma^2 I) vector per malicious client.

    Gaussian Byzantine workers: Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine
    learning with adversaries: Byzantine tolerant gradient descent", NeurIPS 2017.

    Args:
        honest: (h, d) float32, checked for shape only.
        malicious: (m, d) float32; only its shape is used.
        params: sigma > 0, the standard deviation of every coordinate.
        rng: the only source of the noise.

    Returns:
        (m, d) float32 noise, rows drawn independently.
    """
    check_params("gaussian", params, GaussianParams)
    check_updates("gaussian", honest, malicious, needs_honest=False)
    noise = rng.standard_normal(malicious.shape, dtype=np.float32)
    noise *= np.float32(params.sigma)
    return noise


def scaling(
    honest: np.ndarray, malicious: np.ndarray, params: ScalingParams, rng: np.random.Generator
) -> np.ndarray:
    """Return gamma * each malicious client's own update (model replacement).

    Bagdasaryan, Veit, Hua, Estrin and Shmatikov, "How to backdoor federated learning",
    AISTATS 2020. To replace the global model outright, one attacker uses gamma = n / eta
    (cohort size over the server learning rate); m colluders share it as n / (eta m). Pair it
    with the `backdoor` data attack so the scaled update carries the backdoor.

    Args:
        honest: (h, d) float32, checked for shape only.
        malicious: (m, d) float32, the clients' own updates.
        params: gamma > 0.
        rng: unused.

    Returns:
        (m, d) float32, row i = gamma * malicious[i].
    """
    check_params("scaling", params, ScalingParams)
    check_updates("scaling", honest, malicious, needs_honest=False)
    return (params.gamma * malicious.astype(np.float64)).astype(np.float32)
