"""Adaptive clipping: track a target quantile of the update norms with a noised, geometric
update of the clipping bound, and split the privacy budget between the updates and the count.

Andrew, Thakkar, McMahan and Ramaswamy, "Differentially Private Learning with Adaptive
Clipping", NeurIPS 2021 (Algorithm 1 and Theorem 1).
"""

from __future__ import annotations

import math

import numpy as np


def update_bound(
    bound: float,
    *,
    unclipped: int,
    clients: float,
    target_quantile: float,
    lr: float,
    count_noise_std: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Move the clipping bound geometrically toward the target quantile (Andrew et al. 2021).

    S <- S exp(-lr (b~ - gamma)), where b~ = (unclipped + N(0, sigma_b^2)) / clients is the
    noised fraction of updates that were NOT clipped (norm <= S). Too many unclipped
    updates (b~ > gamma) mean S sits above the gamma-quantile of the norms, so it shrinks.

    The count must be of unclipped updates: passing the clipped count instead turns the
    update into S exp(-lr ((1 - b) - gamma)), which pushes S the wrong way and drives it to
    the (1 - gamma)-quantile, a sign flip seen in some implementations.

    Args:
        bound: current clipping norm S > 0.
        unclipped: number of this round's updates with norm <= S.
        clients: the denominator m > 0; the expected cohort size with Poisson sampling.
        target_quantile: gamma in [0, 1].
        lr: eta_C >= 0, the geometric learning rate (the paper uses 0.2).
        count_noise_std: sigma_b >= 0, the noise std on the count (in clients).
        rng: source of the count's noise.

    Returns:
        (new bound, b~). b~ may fall outside [0, 1]: it is noised and not clamped.
    """
    problems = _bound_problems(bound, unclipped, clients, target_quantile, lr, count_noise_std)
    if problems:
        raise ValueError("adaptive clipping: " + "; ".join(problems))
    noisy = (unclipped + count_noise_std * rng.standard_normal()) / clients
    return step_bound(bound, noisy, target_quantile=target_quantile, lr=lr), float(noisy)


def step_bound(bound: float, fraction: float, *, target_quantile: float, lr: float) -> float:
    """S exp(-lr (b~ - gamma)) for an already noised unclipped fraction b~ (Andrew et al. 2021):
    under distributed DP the count arrives noised from the secure sum, and may be < 0."""
    if not math.isfinite(fraction):
        raise ValueError(
            f"adaptive clipping: the unclipped fraction must be finite, got {fraction}"
        )
    return float(bound * math.exp(-lr * (fraction - target_quantile)))


def update_noise_multiplier(z: float, count_noise_std: float) -> float:
    """Return z_delta, the noise multiplier left for the updates once the count takes its share.

    Releasing the noised clipped count alongside the noised sum costs privacy. Theorem 1 of
    Andrew et al. (2021) shows the pair is as private as one Gaussian mechanism of noise
    multiplier z when z^-2 = z_delta^-2 + (2 sigma_b)^-2 (the bit b_i - 1/2 has norm 1/2), so

        z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2).

    The accountant records z; the server noises the sum with std z_delta S.

    Args:
        z: total noise multiplier >= 0; 0 means no privacy and gives 0.
        count_noise_std: sigma_b, the noise std on the count (in clients); must exceed z / 2.

    Raises:
        ValueError: if 2 sigma_b <= z, when no z_delta gives a total of z.
    """
    if z < 0 or not math.isfinite(z):
        raise ValueError(f"noise multiplier z must be finite and >= 0, got {z}")
    if z == 0:
        return 0.0
    if not 2 * count_noise_std > z:
        raise ValueError(
            f"adaptive clipping needs count_noise_std > z / 2 = {z / 2:g} so the clipped count "
            f"leaves noise for the updates; got count_noise_std={count_noise_std:g}: raise it "
            "(Andrew et al. use expected_clients / 20) or turn adaptive clipping off"
        )
    return (z**-2 - (2 * count_noise_std) ** -2) ** -0.5


def total_noise_multiplier(z_delta: float, count_noise_std: float) -> float:
    """Return z with z^-2 = z_delta^-2 + (2 sigma_b)^-2, the inverse of `update_noise_multiplier`."""
    if z_delta == 0 or count_noise_std == 0:
        return 0.0
    return (z_delta**-2 + (2 * count_noise_std) ** -2) ** -0.5


def _bound_problems(bound, unclipped, clients, target_quantile, lr, count_noise_std) -> list[str]:
    checks = [
        (bound > 0 and math.isfinite(bound), f"bound must be finite and > 0, got {bound}"),
        (unclipped >= 0, f"unclipped must be >= 0, got {unclipped}"),
        (clients > 0, f"clients must be > 0, got {clients}"),
        (0 <= target_quantile <= 1, f"target_quantile must be in [0, 1], got {target_quantile}"),
        (lr >= 0, f"lr must be >= 0, got {lr}"),
        (count_noise_std >= 0, f"count_noise_std must be >= 0, got {count_noise_std}"),
    ]
    return [message for ok, message in checks if not ok]
