"""A Little Is Enough (ALIE): every colluder sends mean - z * std of the honest updates.

Baruch, Baruch and Goldberg, "A little is enough: circumventing defenses for distributed
learning", NeurIPS 2019. The shift stays inside the honest spread on every coordinate, so
median- and distance-based rules keep it, yet it pushes every coordinate the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from fedray.attacks.common import check_params, check_updates, honest_mean, honest_std, repeat


@dataclass(frozen=True)
class AlieParams:
    z: float | None = None  # None: the paper's z from n and m (alie_z)


def alie_z(n: int, m: int) -> float:
    """Return the paper's z = Phi^-1((n - s) / n) with s = floor(n/2 + 1) - m.

    s is the number of honest workers the attacker needs on its side to hold a majority;
    z is the largest shift that keeps that many honest workers farther from the mean.
    Phi^-1 is `statistics.NormalDist().inv_cdf` (Wichura's AS 241, accurate to ~1e-16).

    Args:
        n: workers in the round, honest and malicious.
        m: malicious workers among them; needs 1 <= m < n/2 + 1 (s >= 1).
    """
    if not 1 <= m <= n:
        raise ValueError(
            f"alie's z needs 1 <= m <= n malicious of n workers; got n={n}, m={m}: "
            "pass the cohort size as n and the malicious count in it as m"
        )
    s = math.floor(n / 2 + 1) - m
    if s < 1:
        raise ValueError(
            f"alie's z = Phi^-1((n - s) / n) needs s = floor(n/2 + 1) - m >= 1, i.e. a malicious "
            f"minority; got n={n}, m={m} (s={s}): lower attack.fraction below half the cohort "
            "or set attack.z"
        )
    return NormalDist().inv_cdf((n - s) / n)


def alie(
    honest: np.ndarray, malicious: np.ndarray, params: AlieParams, rng: np.random.Generator
) -> np.ndarray:
    """Return mean - z * std of the honest updates, per coordinate, for every malicious row.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used (n = h + m for z).
        params: z, or None for `alie_z(h + m, m)`.
        rng: unused.

    Returns:
        (m, d) float32, all rows equal. The std is the population one (ddof=0).
    """
    check_params("alie", params, AlieParams)
    h, m, _ = check_updates("alie", honest, malicious, needs_honest=True)
    if m == 0:
        return malicious.astype(np.float32, copy=True)
    z = alie_z(h + m, m) if params.z is None else params.z
    return repeat(honest_mean(honest) - z * honest_std(honest), m)
