"""Pre-aggregators: transforms of the (n, d) update matrix that run in front of any rule.

A pre-aggregator is `fn(updates (n, d) float32, weights (n,), params, ctx) -> Mixed`: new
rows (as many, or fewer for bucketing), their weights, and which input rows each output
row came from. `defense.pre: [...]` chains them in order before the rule
(`fedray.defenses.compose`).

| name | params | paper |
|---|---|---|
| nnm | f / fraction | nearest-neighbour mixing; Allouah et al., AISTATS 2023 |
| arc | f / fraction | adaptive robust clipping; Allouah et al., 2024 (ICLR 2025) |
| clip | max_norm | static clipping of every row to a norm |
| bucketing | s | Karimireddy, He and Jaggi, ICLR 2022 |
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.defenses.bucketing import bucketize
from fedray.defenses.common import (
    Assumed,
    RoundContext,
    check_inputs,
    resolve_f,
    row_blocks,
    row_norms,
)
from fedray.defenses.krum import pairwise_sq_distances
from fedray.registry import Entry


@dataclass(frozen=True)
class Mixed:
    """A pre-aggregator's result.

    Attributes:
        updates: (m, d) float32 rows for the next stage.
        weights: (m,) float64 weights of those rows.
        members: for each output row, the sorted int64 input rows it stands for; None when
            output row i stands for input row i (same count, same order).
        stats: small numbers worth logging.
    """

    updates: np.ndarray
    weights: np.ndarray
    members: list | None = None
    stats: dict = field(default_factory=dict)


NNMParams = Assumed  # f or fraction; unset: the rule's f
ARCParams = Assumed


@dataclass(frozen=True)
class ClipParams:
    max_norm: float = field(default=1.0, metadata={"gt": 0})


@dataclass(frozen=True)
class BucketingParams:
    s: int = field(default=2, metadata={"min": 1})  # bucket size


def require_nnm(n: int, params: Assumed, name: str = "nnm") -> int:
    """Return f for n rows; raise unless 0 <= f < n / 2 (NNM mixes n - f > n / 2 rows)."""
    f = resolve_f(params.f, params.fraction, n)
    if 2 * f >= n:
        raise ValueError(
            f"{name} needs n > 2f rows; got n={n}, f={f}: lower its f / fraction (or the "
            "rule's), or raise federation.clients_per_round"
        )
    return f


def nnm(updates: np.ndarray, weights: np.ndarray, params: NNMParams, ctx: RoundContext) -> Mixed:
    """Replace each row by the mean of its n - f nearest rows, itself included (Allouah et al. 2023).

    Nearest-neighbour mixing, "Fixing by mixing: a recipe for optimal Byzantine ML under
    heterogeneity", AISTATS 2023. Distances are Euclidean; ties go to the lower row index.
    The mean is unweighted, as in the paper; the weights pass through.

    Args:
        updates: (n, d) float32; needs n > 2f.
        weights: (n,) passed on unchanged.
        params: f or fraction (resolved by the composition when unset).
        ctx: unused.

    Returns:
        (n, d) float32 mixed rows; row i stands for input row i.
    """
    w = check_inputs("nnm", updates, weights)
    n, d = updates.shape
    f = require_nnm(n, params)
    # Sorting (distance, index) pairs: a stable argsort breaks ties by index.
    nearest = np.argsort(pairwise_sq_distances(updates), axis=1, kind="stable")[:, : n - f]
    out = np.empty((n, d), dtype=np.float32)
    for i in range(n):
        out[i] = updates[nearest[i]].astype(np.float64).mean(axis=0)
    return Mixed(out, w)


def arc_threshold(norms: np.ndarray, f: int) -> float:
    """Return ARC's clipping norm: the (k + 1)-th largest of `norms`, k = floor(2 f (n - f) / n)."""
    n = len(norms)
    k = (2 * f * (n - f)) // n
    return float(np.sort(norms)[::-1][k])


def arc(updates: np.ndarray, weights: np.ndarray, params: ARCParams, ctx: RoundContext) -> Mixed:
    """Clip every row to the norm of the (k + 1)-th largest, k = floor(2 (f / n) (n - f)).

    Adaptive robust clipping (Allouah, Guerraoui, Gupta, Jellouli, Rizk and Stephan,
    "Boosting robustness by clipping gradients in distributed learning", 2024; ICLR 2025):
    the k largest rows are scaled down to that norm, the others are left alone.

    Args:
        updates: (n, d) float32; needs n > 2f.
        weights: (n,) passed on unchanged.
        params: f or fraction (resolved by the composition when unset).
        ctx: unused.

    Returns:
        (n, d) float32; stats["arc_norm"] is the threshold, stats["clipped"] the rows scaled.
    """
    w = check_inputs("arc", updates, weights)
    f = require_nnm(len(updates), params, "arc")
    norms = row_norms(updates)
    limit = arc_threshold(norms, f)
    out, clipped = _clip_rows(updates, norms, limit)
    return Mixed(out, w, stats={"arc_norm": limit, "clipped": clipped})


def clip(updates: np.ndarray, weights: np.ndarray, params: ClipParams, ctx: RoundContext) -> Mixed:
    """Scale every row of norm above max_norm down to it (static clipping, e.g. Allouah et al. 2024).

    Args:
        updates: (n, d) float32.
        weights: (n,) passed on unchanged.
        params: max_norm.
        ctx: unused.

    Returns:
        (n, d) float32 rows of norm at most max_norm; stats["clipped"] counts the rows scaled.
    """
    w = check_inputs("clip", updates, weights, params)
    out, clipped = _clip_rows(updates, row_norms(updates), params.max_norm)
    return Mixed(out, w, stats={"clipped": clipped})


def bucketing(
    updates: np.ndarray, weights: np.ndarray, params: BucketingParams, ctx: RoundContext
) -> Mixed:
    """Average random buckets of s rows (Karimireddy, He and Jaggi, ICLR 2022).

    The shuffle draws from ctx.rng. See `fedray.defenses.bucketing.bucketize`.

    Returns:
        ceil(n / s) bucket means, weighted by their members' weights; `members` lists them.
    """
    means, totals, members = bucketize(updates, weights, params.s, ctx.rng)
    return Mixed(means, totals, members, {"buckets": float(len(members))})


def _clip_rows(updates: np.ndarray, norms: np.ndarray, limit: float) -> tuple[np.ndarray, float]:
    n, d = updates.shape
    scale = np.where(norms > limit, limit / np.maximum(norms, 1e-300), 1.0)
    out = np.empty((n, d), dtype=np.float32)
    for rows in row_blocks(n, d):
        out[rows] = updates[rows].astype(np.float64) * scale[rows, None]
    return out, float(np.count_nonzero(norms > limit))


PRE_AGGREGATORS: dict[str, Entry] = {
    "nnm": Entry(nnm, NNMParams),
    "arc": Entry(arc, ARCParams),
    "clip": Entry(clip, ClipParams),
    "bucketing": Entry(bucketing, BucketingParams),
}

# What a stage needs of the row count, checkable without any update: `fn(n, params)` with
# f already resolved (the composition fills an unset f from the rule's).
PRE_REQUIREMENTS = {"nnm": require_nnm, "arc": lambda n, p: require_nnm(n, p, "arc")}

# Stages that need each row to be one client's own update. None do: under secure
# aggregation they run over the bucket means the server sees (see `compose`).
NEEDS_IDENTITY: frozenset[str] = frozenset()
