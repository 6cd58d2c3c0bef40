"""Opt-ALIE and Opt-IPM: ALIE's z and IPM's epsilon tuned against the defense in place.

ALIE (Baruch et al., NeurIPS 2019) and IPM (Xie et al., UAI 2019) fix their factor in
advance. Their optimised versions, as in ByzFL (Allouah, Guerraoui et al., EPFL), choose
the factor each round that maximises the damage the defense lets through,

    factor* = argmax_{factor in [0, max]} || defense(honest + m copies of row(factor)) - mu ||

with mu the honest mean and row(z) = mu - z sigma (ALIE), row(eps) = -eps mu (IPM). The
search is a grid of `grid` evenly spaced factors, then golden-section search for
`iterations` steps in the grid cell pair around the best point; the best factor seen
wins. The defense is queried with equal weights, `grid + iterations` times per round.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.common import check_params, check_updates, honest_mean, honest_std, repeat
from fedray.attacks.view import AttackView, require_defense

INVERSE_PHI = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class OptAlieParams:
    max_factor: float = field(default=10.0, metadata={"gt": 0})  # largest z tried
    grid: int = field(default=11, metadata={"min": 2})
    iterations: int = field(default=12, metadata={"min": 0})


@dataclass(frozen=True)
class OptIpmParams:
    max_factor: float = field(default=10.0, metadata={"gt": 0})  # largest epsilon tried
    grid: int = field(default=11, metadata={"min": 2})
    iterations: int = field(default=12, metadata={"min": 0})


def best_factor(
    damage: Callable[[float], float], hi: float, grid: int, iterations: int
) -> tuple[float, float]:
    """Return (factor, damage) maximising `damage` over [0, hi]: a grid, then golden section.

    Every evaluated factor competes; ties go to the smaller factor (the first seen).
    """
    points = np.linspace(0.0, hi, grid)
    seen = [(float(damage(float(x))), -i, float(x)) for i, x in enumerate(points)]
    best = max(seen)
    k = int(np.argmax([s[0] for s in seen]))
    lo, up = float(points[max(k - 1, 0)]), float(points[min(k + 1, grid - 1)])
    a, b = up - INVERSE_PHI * (up - lo), lo + INVERSE_PHI * (up - lo)
    fa, fb = damage(a), damage(b)
    for _ in range(iterations):
        best = max(best, (fa, -grid, a), (fb, -grid, b))
        if fa >= fb:
            up, b, fb = b, a, fa
            a = up - INVERSE_PHI * (up - lo)
            fa = damage(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + INVERSE_PHI * (up - lo)
            fb = damage(b)
    return best[2], best[0]


def _optimise(name, honest, malicious, params, view, make_row: Callable) -> np.ndarray:
    _, m, _ = check_updates(name, honest, malicious, needs_honest=True)
    if m == 0:
        return malicious.astype(np.float32, copy=True)
    defense = require_defense(name, view)
    mu = honest_mean(honest)
    row = make_row(honest, mu)

    def damage(factor: float) -> float:
        rows = np.concatenate([honest, repeat(row(factor), m)])
        return float(np.linalg.norm(defense(rows, None).astype(np.float64) - mu))

    factor, _ = best_factor(damage, params.max_factor, params.grid, params.iterations)
    return repeat(row(factor), m)


def opt_alie(
    honest: np.ndarray,
    malicious: np.ndarray,
    params: OptAlieParams,
    rng: np.random.Generator,
    *,
    view: AttackView | None = None,
) -> np.ndarray:
    """Return mu - z* sigma for every colluder, z* the most damaging z against the defense.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used.
        params: max_factor > 0 (largest z), grid >= 2, iterations >= 0.
        rng: unused.
        view: must carry the defense in place.

    Returns:
        (m, d) float32, all rows equal.
    """
    check_params("opt_alie", params, OptAlieParams)

    def make_row(rows, mu):
        sigma = honest_std(rows)
        return lambda z: mu - z * sigma

    return _optimise("opt_alie", honest, malicious, params, view, make_row)


def opt_ipm(
    honest: np.ndarray,
    malicious: np.ndarray,
    params: OptIpmParams,
    rng: np.random.Generator,
    *,
    view: AttackView | None = None,
) -> np.ndarray:
    """Return -eps* mu for every colluder, eps* the most damaging epsilon against the defense.

    Args:
        honest: (h, d) float32 honest updates of the round, h >= 1.
        malicious: (m, d) float32; only m is used.
        params: max_factor > 0 (largest epsilon), grid >= 2, iterations >= 0.
        rng: unused.
        view: must carry the defense in place.

    Returns:
        (m, d) float32, all rows equal.
    """
    check_params("opt_ipm", params, OptIpmParams)
    return _optimise("opt_ipm", honest, malicious, params, view, lambda rows, mu: lambda e: -e * mu)
