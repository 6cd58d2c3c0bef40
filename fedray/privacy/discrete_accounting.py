"""Renyi-DP accounting of integer-domain distributed DP: the distributed discrete Gaussian and
the Skellam mechanism, amplified by Poisson subsampling, converted to (epsilon, delta).

- A sum of n discrete Gaussians N_Z(0, sigma^2) is not a discrete Gaussian, but it is close:
  Kairouz, Liu and Steinke (ICML 2021, their main privacy theorem) show the mechanism with L2
  sensitivity Delta_2 over d coordinates is (1/2) eps^2-concentrated DP with
  eps = min(sqrt(Delta_2^2 / (n sigma^2) + 2 tau d), Delta_2 / (sqrt(n) sigma) + tau sqrt(d)),
  tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k + 1)); RDP(alpha) = alpha eps^2 / 2.
- A sum of Skellams is Skellam. Agarwal, Kairouz and Liu (NeurIPS 2021) bound its RDP: with
  total variance mu, RDP(alpha) <= alpha Delta_2^2 / (2 mu)
  + min(((2 alpha - 1) Delta_2^2 + 6 Delta_1) / (4 mu^2), 3 Delta_1 / (2 mu)).
- Poisson subsampling at rate q of any mechanism with RDP curve eps(.) at integer orders:
  Zhu and Wang, "Poisson Subsampled Renyi Differential Privacy", ICML 2019 (general upper bound).
- RDP to (epsilon, delta): Balle et al. 2020 / Canonne, Kamath and Steinke 2020,
  eps = rdp(alpha) + log((alpha - 1) / alpha) - (log delta + log alpha) / (alpha - 1).

Curves are numpy arrays over the integer orders `ORDERS` (2 .. 256); composition adds them.
"""

from __future__ import annotations

import math

import numpy as np

ORDERS = np.arange(2, 257, dtype=np.float64)
# log k! for k = 0 .. 256 (numpy only: scipy costs a second at start-up, see README "Start-up")
_LOG_FACTORIAL = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, 257, dtype=np.float64)))])


def ddg_tau(clients: int, sigma: float) -> float:
    """tau of the sum of `clients` N_Z(0, sigma^2) (Kairouz et al. 2021); 0 for one client."""
    k = np.arange(1, max(clients, 1), dtype=np.float64)
    return float(10 * np.exp(-2 * math.pi**2 * sigma**2 * k / (k + 1)).sum())


def ddg_epsilon(*, sensitivity: float, sigma: float, clients: int, dim: int) -> float:
    """The eps of (1/2) eps^2-CDP for the sum of `clients` d-dimensional N_Z(0, sigma^2) noises
    protecting a sum of L2 sensitivity `sensitivity` (integer units); inf without noise."""
    if sigma == 0 or clients == 0:
        return math.inf
    tau = ddg_tau(clients, sigma)
    ratio = sensitivity**2 / (clients * sigma**2)
    return min(math.sqrt(ratio + 2 * tau * dim), math.sqrt(ratio) + tau * math.sqrt(dim))


def ddg_rdp(*, sensitivity: float, sigma: float, clients: int, dim: int) -> np.ndarray:
    """RDP curve over `ORDERS` of the distributed discrete Gaussian (alpha eps^2 / 2)."""
    eps = ddg_epsilon(sensitivity=sensitivity, sigma=sigma, clients=clients, dim=dim)
    return ORDERS * eps**2 / 2


def skellam_rdp(*, l2: float, l1: float, variance: float) -> np.ndarray:
    """RDP curve over `ORDERS` of the Skellam mechanism with total variance mu (Agarwal et al.)."""
    if variance == 0:
        return np.full(len(ORDERS), math.inf)
    mu = variance
    second = np.minimum(((2 * ORDERS - 1) * l2**2 + 6 * l1) / (4 * mu**2), 3 * l1 / (2 * mu))
    return ORDERS * l2**2 / (2 * mu) + second


def gaussian_rdp(z: float) -> np.ndarray:
    """RDP curve of the continuous Gaussian with noise multiplier z (Mironov 2017)."""
    return ORDERS / (2 * z**2) if z > 0 else np.full(len(ORDERS), math.inf)


def _log_comb(n, k) -> np.ndarray:
    """log C(n, k) for integer-valued n >= 0 and k (0 where k is outside [0, n]: masked later)."""
    n, k = np.broadcast_arrays(np.asarray(n, np.int64), np.asarray(k, np.int64))
    inside = (k >= 0) & (k <= n)
    kk, rest = np.where(inside, k, 0), np.where(inside, n - k, 0)
    return np.where(inside, _LOG_FACTORIAL[n] - _LOG_FACTORIAL[kk] - _LOG_FACTORIAL[rest], 0.0)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis, stable (-inf entries contribute nothing)."""
    top = np.max(x, axis=1, keepdims=True)
    return (top + np.log(np.sum(np.exp(x - top), axis=1, keepdims=True)))[:, 0]


def subsampled(curve: np.ndarray, q: float) -> np.ndarray:
    """Amplify an RDP curve over `ORDERS` by Poisson subsampling at rate q (Zhu and Wang 2019).

    For integer alpha >= 2 (eps(l): the curve at order l):
        (1/(alpha-1)) log[(1-q)^(alpha-1) (alpha q - q + 1)
                          + C(alpha,2) q^2 (1-q)^(alpha-2) e^eps(2)
                          + 3 sum_{l=3}^{alpha} C(alpha,l) q^l (1-q)^(alpha-l) e^((l-1) eps(l))].
    Both this and the unamplified curve bound the same divergence, so the smaller is kept.
    """
    curve = np.asarray(curve, np.float64)
    if not 0 <= q <= 1:
        raise ValueError(f"sample rate must be in [0, 1]; got {q}")
    if q == 0:
        return np.zeros_like(curve)
    if q == 1 or not np.isfinite(curve).all():
        return curve
    alpha = ORDERS[:, None]
    ell = ORDERS[None, :]  # 2 .. 256, the same grid: eps(l) = curve[l - 2]
    log_1q = math.log1p(-q)
    terms = (
        _log_comb(alpha, ell)
        + ell * math.log(q)
        + np.where(ell <= alpha, alpha - ell, 0) * log_1q
        + (ell - 1) * curve[None, :]
    )
    terms[:, 0] = _log_comb(ORDERS, 2.0) + 2 * math.log(q) + (ORDERS - 2) * log_1q + curve[0]
    terms[:, 1:] += math.log(3)
    terms = np.where(ell <= alpha, terms, -np.inf)
    first = (ORDERS - 1) * log_1q + np.log(ORDERS * q - q + 1)
    total = _logsumexp(np.column_stack([first, terms]))
    return np.minimum(total / (ORDERS - 1), curve)


def epsilon(curve: np.ndarray, delta: float) -> float:
    """(epsilon, delta) from a composed RDP curve over `ORDERS`, best order (Balle et al. 2020)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1); got {delta}")
    curve = np.asarray(curve, np.float64)
    eps = curve + np.log((ORDERS - 1) / ORDERS) - (math.log(delta) + np.log(ORDERS)) / (ORDERS - 1)
    return float(max(np.nanmin(eps), 0.0))
