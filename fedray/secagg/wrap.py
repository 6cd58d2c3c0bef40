"""How likely a sum of noised integer vectors is to wrap around modulo 2^m, and the finest
granularity that keeps it unlikely.

Secure aggregation sums in Z_{2^m}; the server reads a coordinate back as a signed integer
in [-2^(m-1), 2^(m-1)), so a coordinate of the true sum outside that range decodes wrongly.
Per coordinate the true sum is signal + rounding + noise:
- signal: with the random rotation, (H D sum_i x_i)_j is sub-Gaussian over the signs with
  variance proxy ||sum_i x_i||^2 / d <= (n c)^2 / d (Hoeffding); without it, |signal| <= n c.
- rounding: each client moves a coordinate by less than 1, so by less than n in all.
- noise: a sum of n discrete Gaussians N_Z(0, s^2) is sub-Gaussian with proxy n s^2
  (Canonne, Kamath and Steinke 2020); a Skellam of variance mu has cumulant
  generating function mu (cosh t - 1).
A Chernoff bound on each tail, doubled and summed over the d coordinates (a union bound),
gives the reported `secagg_wrap_probability`.
"""

from __future__ import annotations

import math

import numpy as np

# The largest noise variance per client whose sampler stays accurate: numpy's Poisson drifts
# past lam ~ 2^45 (its variance is off by 3% at 2^48, 10% at 2^52); the discrete Gaussian's
# rejection sampler is exact at any scale that int64 holds.
MAX_VARIANCE = {"skellam": 2.0**44, "discrete_gaussian": 2.0**90}

# Chernoff's parameter t = s / sqrt(total variance): any t > 0 gives a valid bound.
_GRID = np.logspace(-3, 2.5, 3000)


def wrap_probability(
    *,
    clients: int,
    dim: int,
    norm: float,
    rotated: bool,
    mechanism: str,
    variance: float,
    modulus_bits: int,
) -> float:
    """Bound the probability that any coordinate of the sum wraps around modulo 2^m.

    Args:
        clients: n, the number of summed vectors (the cohort: survivors are fewer).
        dim: d, coordinates per vector (the padded length when rotated).
        norm: c, each client's L2 norm in integer units before rounding.
        rotated: whether the vectors were rotated by H D first.
        mechanism: "discrete_gaussian" or "skellam".
        variance: each client's noise variance per coordinate (integer units squared).
        modulus_bits: m.

    Returns:
        an upper bound in [0, 1].
    """
    slack = clients * (1.0 if rotated else norm + 1.0)
    proxy = (clients * norm) ** 2 / dim if rotated else 0.0
    edge = 2.0 ** (modulus_bits - 1) - 1 - slack
    if edge <= 0:
        return 1.0
    noise = clients * variance
    total = proxy + noise
    if total == 0:
        return 0.0
    t = _GRID / math.sqrt(total)
    if mechanism == "skellam":
        cgf = proxy * t**2 / 2 + noise * np.expm1(np.minimum(t, 700)) / 2
        cgf += noise * np.expm1(-t) / 2  # mu (cosh t - 1) = mu/2 (e^t - 1) + mu/2 (e^-t - 1)
    else:
        cgf = total * t**2 / 2
    log_tail = float(np.min(cgf - t * edge))
    return float(min(1.0, math.exp(min(log_tail + math.log(2 * dim), 0.0))))


def finest_granularity(
    *,
    clip: float,
    clients: int,
    dim: int,
    rotated: bool,
    mechanism: str,
    noise_multiplier: float,
    modulus_bits: int,
    max_wrap: float,
) -> tuple[float, float] | None:
    """The smallest gamma = clip / 2^j whose wrap-around bound is <= max_wrap, and that bound.

    Finer steps round less (a smaller norm inflation) and let each client's share of the noise
    be larger in integer units (a smaller tau), so the finest safe step is the most private.
    Returns None when even gamma = clip wraps too often. Steps stop where a client's noise
    variance would pass the mechanism's `MAX_VARIANCE` integer units.
    """
    best = None
    for j in range(0, 51):  # 2^50 keeps every scaled value exact in float64
        gamma = clip / 2.0**j
        if (noise_multiplier * clip / gamma) ** 2 / clients > MAX_VARIANCE[mechanism]:
            break
        p = wrap_probability(
            clients=clients,
            dim=dim,
            norm=clip / gamma,
            rotated=rotated,
            mechanism=mechanism,
            variance=(noise_multiplier * clip / gamma) ** 2 / clients,
            modulus_bits=modulus_bits,
        )
        if p > max_wrap:
            break
        best = (gamma, p)
    return best
