"""Fang et al.'s local model poisoning: the Krum attack and the trimmed-mean / median attack.

Fang, Cao, Jia and Gong, "Local model poisoning attacks to Byzantine-robust federated
learning", USENIX Security 2020. Updates here are deltas (w_local - w_global), so the
paper's "before-attack global model" w_Re is the origin and its change direction
s_j = sign of the benign mean on coordinate j (s_j = 0 counts as +1).

- target krum: every colluder sends -lambda * s; lambda starts at the paper's upper bound
      lambda_ub = min_i sum_{l in G_i} ||b_l - b_i|| / ((n - 2c - 1) sqrt(d))
                  + max_i ||b_i|| / sqrt(d)
  (G_i: the n - c - 2 benign rows closest to b_i) and is halved until Krum picks a crafted
  row, or it falls below `threshold` (then lambda = threshold).
- target median / trimmed_mean: per coordinate, with w_max, w_min the benign extremes and
  b = `b`, each colluder draws uniformly from [w_min / b, w_min] (w_min > 0) or
  [b w_min, w_min] when s_j = 1, and from [w_max, b w_max] (w_max > 0) or [w_max, w_max / b]
  when s_j = -1: values past the benign range, on the side that reverses the change.

Full knowledge (`attack.knowledge: omniscient`, the default in plaintext) uses the round's
honest updates as the benign ones. Partial knowledge (`attack.knowledge: colluding`, the
default under secure aggregation) uses only the colluders' own honestly trained updates: for Krum they stand in for the
benign rows (a round of n = 2c rows, c crafted; the neighbour counts are floored at 1);
for median / trimmed mean, with their mean mu and std sigma (ddof 0), each colluder draws
from [mu_j + 3 sigma_j, mu_j + 4 sigma_j] when s_j = -1 and [mu_j - 4 sigma_j,
mu_j - 3 sigma_j] when s_j = 1, s estimated from mu.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fedray.attacks.common import check_choice, check_params, check_updates, honest_mean, honest_std
from fedray.defenses.krum import krum_scores, pairwise_sq_distances

TARGETS = ("krum", "median", "trimmed_mean")


@dataclass(frozen=True)
class FangParams:
    target: Literal["krum", "median", "trimmed_mean"] = "median"
    b: float = field(default=2.0, metadata={"gt": 1})  # median / trimmed mean: range stretch
    threshold: float = field(default=1e-5, metadata={"gt": 0})  # krum: smallest lambda tried
    f: int | None = field(default=None, metadata={"min": 0})  # krum's f; None: the colluders


def direction(benign: np.ndarray) -> np.ndarray:
    """Return s (d,) float64 in {-1, 1}: the sign of the benign mean, 0 counted as +1."""
    return np.where(honest_mean(benign) >= 0, 1.0, -1.0)


def krum_lambda_bound(benign: np.ndarray, c: int) -> float:
    """Return the paper's upper bound on lambda for c crafted rows among the benign ones."""
    h, d = benign.shape
    n = h + c
    k = max(n - c - 2, 1)
    dist = np.sqrt(np.maximum(pairwise_sq_distances(benign), 0.0)) + np.diag(np.full(h, np.inf))
    nearest = np.sort(dist, axis=1)[:, : min(k, h - 1)].sum(axis=1) if h > 1 else np.zeros(1)
    norms = np.linalg.norm(benign.astype(np.float64), axis=1)
    return float(
        nearest.min() / (max(n - 2 * c - 1, 1) * math.sqrt(d)) + norms.max() / math.sqrt(d)
    )


def krum_picks_crafted(benign: np.ndarray, crafted: np.ndarray, c: int, f: int) -> bool:
    """Tell whether Krum (f assumed, neighbours floored at 1) picks one of the c crafted rows."""
    rows = np.concatenate([benign, np.repeat(crafted[None, :], c, axis=0)])
    n = len(rows)
    scores = krum_scores(pairwise_sq_distances(rows), min(f, n - 3))
    return bool(np.argmin(scores) >= len(benign))


def _krum_attack(benign: np.ndarray, m: int, f: int, threshold: float) -> np.ndarray:
    s = direction(benign)
    lam = krum_lambda_bound(benign, m)
    while lam > threshold:
        crafted = (-lam * s).astype(np.float32)
        if krum_picks_crafted(benign, crafted, m, f):
            return crafted
        lam /= 2.0
    return (-threshold * s).astype(np.float32)


def _range_attack(benign, m, params: FangParams, rng, partial: bool) -> np.ndarray:
    s = direction(benign)
    if partial:
        mu, sigma = honest_mean(benign), honest_std(benign)
        lo = np.where(s > 0, mu - 4 * sigma, mu + 3 * sigma)
        hi = np.where(s > 0, mu - 3 * sigma, mu + 4 * sigma)
    else:
        w_max = benign.max(axis=0).astype(np.float64)
        w_min = benign.min(axis=0).astype(np.float64)
        b = params.b
        lo = np.where(s > 0, np.where(w_min > 0, w_min / b, b * w_min), w_max)
        hi = np.where(s > 0, w_min, np.where(w_max > 0, b * w_max, w_max / b))
    u = rng.random((m, benign.shape[1]))
    return (lo + u * (hi - lo)).astype(np.float32)


def fang(
    honest: np.ndarray,
    malicious: np.ndarray,
    params: FangParams,
    rng: np.random.Generator,
    *,
    partial: bool = False,
) -> np.ndarray:
    """Return Fang et al.'s crafted updates against `params.target`.

    Args:
        honest: (h, d) float32 honest updates of the round (read with full knowledge only).
        malicious: (m, d) float32, the colluders' own honest updates.
        params: target (krum, median, trimmed_mean), b > 1, threshold > 0, f (Krum's
            assumed count; None: m).
        rng: draws the median / trimmed-mean values.
        partial: partial knowledge, from the colluders' own updates alone
            (`attack.knowledge` colluding; `fedray.attacks.collusion` sets it).

    Returns:
        (m, d) float32; one row repeated for krum, independent draws otherwise.
    """
    check_params("fang", params, FangParams)
    check_choice("fang", "target", params.target, TARGETS)
    _, m, _ = check_updates("fang", honest, malicious, needs_honest=not partial)
    if m == 0:
        return malicious.astype(np.float32, copy=True)
    benign = malicious if partial else honest
    if params.target != "krum":
        return _range_attack(benign, m, params, rng, partial)
    if len(benign) < 2:
        raise ValueError(
            f"fang's Krum attack needs at least 2 benign updates to measure; got {len(benign)} "
            f"({'partial' if partial else 'full'} knowledge): raise attack.fraction, or set "
            "attack.knowledge: omniscient in plaintext"
        )
    f = m if params.f is None else params.f
    return np.repeat(_krum_attack(benign, m, f, params.threshold)[None, :], m, axis=0)
