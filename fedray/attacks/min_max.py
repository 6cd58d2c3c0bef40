"""Min-Max and Min-Sum: the largest step from the honest mean that still looks honest.

Shejwalkar and Houmansadr, "Manipulating the Byzantine: optimizing model poisoning attacks
and defenses for federated learning", NDSS 2021 (the aggregation-agnostic attacks). Every
colluder sends mean + gamma * p, where p is a perturbation direction and gamma is the
largest value for which the malicious update is no farther from the honest ones than they
are from each other:

- Min-Max: max_i ||mal - b_i|| <= max_{i,j} ||b_i - b_j||
- Min-Sum: sum_i ||mal - b_i||^2 <= max_k sum_j ||b_k - b_j||^2

Both conditions hold at gamma = 0 and are convex in gamma, so the feasible gammas are an
interval [0, gamma*] and bisection finds gamma* within `tol`. The paper halves its step
from gamma_init and so never goes past 2 * gamma_init; here the bracket is first doubled
until it fails, so the result is gamma* within tol whatever gamma_init is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fedray.attacks.common import (
    check_choice,
    check_params,
    check_updates,
    honest_mean,
    honest_std,
    repeat,
    rows_dot,
)
from fedray.defenses.common import row_norms
from fedray.defenses.krum import pairwise_sq_distances

DIRECTIONS = ("unit", "sign", "std")


@dataclass(frozen=True)
class MinMaxParams:
    direction: Literal["unit", "sign", "std"] = "unit"
    gamma_init: float = field(default=10.0, metadata={"gt": 0})
    tol: float = field(default=1e-5, metadata={"gt": 0})


MinSumParams = MinMaxParams


def perturbation(honest: np.ndarray, mean: np.ndarray, direction: str) -> np.ndarray:
    """Return the (d,) float64 direction p: -mean/||mean|| (unit), -sign(mean) or -std."""
    if direction == "unit":
        norm = float(np.linalg.norm(mean))
        return -mean / norm if norm > 0 else np.zeros_like(mean)
    if direction == "sign":
        return -np.sign(mean)
    return -honest_std(honest)


def largest_gamma(feasible: Callable[[float], bool], gamma_init: float, tol: float) -> float:
    """Return the largest gamma >= 0 with feasible(gamma), within tol; feasible(0) is assumed.

    The feasible set must be an interval [0, gamma*] with gamma* finite.
    """
    lo, hi = 0.0, gamma_init
    while feasible(hi):
        lo, hi = hi, 2.0 * hi
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):  # float spacing at this gamma is already coarser than tol
            break
        lo, hi = (mid, hi) if feasible(mid) else (lo, mid)
    return lo


def _attack(name: str, honest, malicious, params, rng, bound: Callable) -> np.ndarray:
    check_params(name, params, MinMaxParams)
    check_choice(name, "direction", params.direction, DIRECTIONS)
    _, m, _ = check_updates(name, honest, malicious, needs_honest=True)
    if m == 0:
        return malicious.astype(np.float32, copy=True)
    mean = honest_mean(honest)
    p = perturbation(honest, mean, params.direction)
    pp = float(p @ p)
    if pp == 0.0:  # every gamma gives the mean itself
        return repeat(mean, m)
    # ||mean + g p - b_i||^2 = a_i + 2 g c_i + g^2 pp: each bisection step costs O(h), not O(h d).
    a = row_norms(honest, mean) ** 2
    c = float(p @ mean) - rows_dot(honest, p)
    feasible = bound(a, c, pp, pairwise_sq_distances(honest))
    gamma = largest_gamma(feasible, params.gamma_init, params.tol)
    return repeat(mean + gamma * p, m)


def _max_distance_bound(a, c, pp, dist):
    limit = float(dist.max())
    return lambda g: float(np.max(a + 2.0 * g * c + g * g * pp)) <= limit


def _sum_distance_bound(a, c, pp, dist):
    limit = float(dist.sum(axis=1).max())
    return lambda g: float(np.sum(a + 2.0 * g * c + g * g * pp)) <= limit


def min_max(
    honest: np.ndarray, malicious: np.ndarray, params: MinMaxParams, rng: np.random.Generator
) -> np.ndarray:
    """Return mean + gamma * p, gamma largest with max_i ||mal - b_i|| <= max_ij ||b_i - b_j||.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used.
        params: direction (unit, sign, std), gamma_init > 0, tol > 0.
        rng: unused.

    Returns:
        (m, d) float32, all rows equal; the honest mean when p is zero (e.g. h = 1 with std).
    """
    return _attack("min_max", honest, malicious, params, rng, _max_distance_bound)


def min_sum(
    honest: np.ndarray, malicious: np.ndarray, params: MinSumParams, rng: np.random.Generator
) -> np.ndarray:
    """Return mean + gamma * p, gamma largest with sum_i ||mal - b_i||^2 <= max_k sum_j ||b_k - b_j||^2.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used.
        params: direction (unit, sign, std), gamma_init > 0, tol > 0.
        rng: unused.

    Returns:
        (m, d) float32, all rows equal; the honest mean when p is zero.
    """
    return _attack("min_sum", honest, malicious, params, rng, _sum_distance_bound)
