"""Integer-domain noise for distributed DP under secure aggregation: samplers, rounding and
the random rotation that flattens a vector before it is rounded.

- Discrete Gaussian N_Z(0, sigma^2), P(x) proportional to exp(-x^2 / (2 sigma^2)) on the
  integers, by rejection from a discrete Laplace (Canonne, Kamath and Steinke, "The Discrete
  Gaussian for Differential Privacy", NeurIPS 2020, Algorithms 2 and 3).
- Skellam Sk(mu): the difference of two Poisson(mu / 2), variance mu; a sum of Skellams is
  Skellam (Agarwal, Kairouz and Liu, "The Skellam Mechanism for Differentially Private
  Federated Learning", NeurIPS 2021).
- Conditional randomized rounding and its norm bound (Kairouz, Liu and Steinke, "The
  Distributed Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation",
  ICML 2021, Section 4).
- A randomized Walsh-Hadamard rotation H D / sqrt(d) (D: random signs): after it every
  coordinate of a vector of norm c is sub-Gaussian with variance proxy c^2 / d, so the
  modular sum rarely wraps.

Every function takes an explicit numpy Generator; nothing reads global state.
"""

from __future__ import annotations

import math

import numpy as np

# Kairouz et al. round with bias parameter beta = exp(-1/2) in their experiments.
DEFAULT_BETA = math.exp(-0.5)


def discrete_laplace(scale: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `size` samples of the discrete Laplace, P(x) proportional to exp(-|x| / scale).

    CKS 2020, Algorithm 2: the magnitude is geometric with ratio exp(-1/scale), the sign a fair
    coin, and a negative zero is rejected so that 0 keeps its single share of the mass.
    """
    if not scale > 0:
        raise ValueError(f"discrete Laplace scale must be > 0; got {scale}")
    out = np.empty(size, np.int64)
    todo = np.arange(size)
    p = -math.expm1(-1.0 / scale)  # success probability 1 - exp(-1/scale)
    while len(todo):
        magnitude = rng.geometric(p, len(todo)) - 1
        negative = rng.random(len(todo)) < 0.5
        ok = ~(negative & (magnitude == 0))
        out[todo[ok]] = np.where(negative, -magnitude, magnitude)[ok]
        todo = todo[~ok]
    return out


def discrete_gaussian(sigma: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `size` samples of N_Z(0, sigma^2) (CKS 2020, Algorithm 3); sigma = 0 gives zeros.

    Propose Y from the discrete Laplace of scale t = floor(sigma) + 1 and keep it with
    probability exp(-(|Y| - sigma^2 / t)^2 / (2 sigma^2)); the kept values are exactly
    discrete Gaussian (up to float64 arithmetic in the acceptance test).
    """
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"discrete Gaussian sigma must be finite and >= 0; got {sigma}")
    if sigma == 0:
        return np.zeros(size, np.int64)
    t = math.floor(sigma) + 1
    out = np.empty(size, np.int64)
    todo = np.arange(size)
    while len(todo):
        y = discrete_laplace(t, len(todo), rng)
        keep = rng.random(len(todo)) < np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2 * sigma**2))
        out[todo[keep]] = y[keep]
        todo = todo[~keep]
    return out


def skellam(variance: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `size` samples of Sk(variance): Poisson(variance / 2) - Poisson(variance / 2)."""
    if not (variance >= 0 and math.isfinite(variance)):
        raise ValueError(f"Skellam variance must be finite and >= 0; got {variance}")
    half = variance / 2
    return rng.poisson(half, size).astype(np.int64) - rng.poisson(half, size).astype(np.int64)


SAMPLERS = {
    "discrete_gaussian": lambda variance, size, rng: discrete_gaussian(
        math.sqrt(variance), size, rng
    ),
    "skellam": skellam,
}


def rounding_bound(norm: float, dim: int, beta: float = DEFAULT_BETA) -> float:
    """Return Delta_2, the L2 norm conditional rounding guarantees (Kairouz et al. 2021).

    A vector of norm <= `norm` rounded coordinate-wise at random has squared norm at most
    norm^2 + d/4 + sqrt(2 log(1/beta)) (norm + sqrt(d)/2) with probability >= 1 - beta, and
    always at most (norm + sqrt(d))^2; rounding is repeated until the first bound holds.
    """
    if not 0 < beta < 1:
        raise ValueError(f"rounding beta must be in (0, 1); got {beta}")
    high_probability = (
        norm**2 + dim / 4 + math.sqrt(2 * math.log(1 / beta)) * (norm + math.sqrt(dim) / 2)
    )
    return math.sqrt(min(high_probability, (norm + math.sqrt(dim)) ** 2))


def conditional_round(
    x: np.ndarray, bound: float, rng: np.random.Generator, max_tries: int = 1000
) -> np.ndarray:
    """Round `x` (d,) float64 to integers, unbiased per coordinate, until ||result|| <= bound.

    Each try rounds every coordinate up with probability equal to its fractional part. With
    `bound` from `rounding_bound` a try fails with probability <= beta, so the loop ends fast.
    """
    low = np.floor(x)
    frac = x - low
    for _ in range(max_tries):
        out = low + (rng.random(x.shape) < frac)
        if float(np.dot(out, out)) <= bound * bound:
            return out.astype(np.int64)
    raise RuntimeError(
        f"conditional rounding found no rounding of norm <= {bound:g} in {max_tries} tries; "
        f"the input's norm is {float(np.linalg.norm(x)):g}: clip it before rounding"
    )


def padded_dim(d: int) -> int:
    """The smallest power of two >= d (the Walsh-Hadamard transform's length)."""
    return 1 << max(d - 1, 0).bit_length()


def _hadamard(x: np.ndarray) -> np.ndarray:
    """Orthonormal fast Walsh-Hadamard transform of a power-of-two-length vector (self-inverse)."""
    n = len(x)
    y = x.astype(np.float64).copy()
    h = 1
    while h < n:
        y = y.reshape(-1, 2, h)
        y = np.stack((y[:, 0] + y[:, 1], y[:, 0] - y[:, 1]), axis=1).reshape(n)
        h *= 2
    return y / math.sqrt(n)


def rotation_signs(d: int, rng: np.random.Generator) -> np.ndarray:
    """The diagonal D of random signs (padded length) that every client of a round shares."""
    return np.where(rng.random(padded_dim(d)) < 0.5, -1.0, 1.0)


def rotate(x: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Return H D x (x zero-padded to len(signs)): an orthogonal map, so norms are kept."""
    padded = np.zeros(len(signs))
    padded[: len(x)] = x
    return _hadamard(padded * signs)


def unrotate(y: np.ndarray, signs: np.ndarray, d: int) -> np.ndarray:
    """Invert `rotate`: D H y, truncated to the first d coordinates."""
    return (_hadamard(np.asarray(y, np.float64)) * signs)[:d]
