"""What every robust aggregation rule shares: its round context, its result, input checks.

A rule is `fn(updates (n, d) float32, weights (n,), params, ctx: RoundContext) -> Aggregated`.
The helpers below walk the update matrix in blocks of rows or columns so that a cohort of
1,000 updates of 10^6 parameters (4 GB) never needs a second full-size copy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from fedray.registry import bound_problems

# Scratch space per block: 2^25 float64 values (256 MiB) bounds every temporary copy.
BLOCK_VALUES = 2**25

FIX_F = "lower defense.f / defense.fraction or raise federation.clients_per_round"


@dataclass(frozen=True)
class RoundContext:
    """What a rule may know about the round besides the updates.

    Attributes:
        rng: the round's generator, for any randomness (bucketing shuffles).
        previous: (d,) last round's aggregate, the centre of centered clipping; None in
            the first round, where centered clipping centres at zero.
        reference: (d,) the server's own update on its clean root set (FLTrust's g0).
        state: what the rule returned as `Aggregated.state` last round (name -> array),
            checkpointed with the server state; empty in the first round.
        history: (n, d) each row's client's stored history before this round, in the rows'
            order (FoolsGold's summed updates); None when the rule keeps none.
    """

    rng: np.random.Generator
    previous: np.ndarray | None = None
    reference: np.ndarray | None = None
    state: dict = field(default_factory=dict)
    history: np.ndarray | None = None


@dataclass(frozen=True)
class Aggregated:
    """A rule's result.

    Attributes:
        vector: (d,) float32 aggregate.
        selected: sorted int64 indices of the rows that contributed, for rules that select
            (Krum, Multi-Krum, Bulyan); None when every row contributes in some way.
        stats: small numbers worth logging, e.g. {"clipped": 3.0}.
        state: arrays the rule keeps for the next round (ctx.state then), e.g. the norms
            ClippedClustering has seen; None keeps nothing.
    """

    vector: np.ndarray
    selected: np.ndarray | None = None
    stats: dict = field(default_factory=dict)
    state: dict | None = None


@dataclass(frozen=True)
class Assumed:
    """How many of the aggregated rows a rule assumes malicious: `f`, or `fraction` of them."""

    f: int | None = field(default=None, metadata={"min": 0})
    fraction: float | None = field(default=None, metadata={"min": 0, "max": 1})


def resolve_f(f: int | None, fraction: float | None, n: int) -> int:
    """Return the assumed malicious count: `f` if given, else floor(fraction * n), else 0."""
    if f is not None:
        if f < 0:
            raise ValueError(f"defense.f must be >= 0; got f={f}: set it to 0 or more")
        return int(f)
    if fraction is None:
        return 0
    if not 0 <= fraction <= 1:
        raise ValueError(
            f"defense.fraction must be in [0, 1]; got {fraction}: set it to a share of the cohort"
        )
    # 0.29 * 100 is 28.999999999999996 in binary: nudge before flooring.
    return math.floor(fraction * n + 1e-9)


def check_params(name: str, params: object) -> None:
    """Check a parameter dataclass against its fields' metadata bounds, all at once.

    The scenario loader checks the same bounds; this catches parameters built in Python.
    """
    problems = bound_problems(params, "defense")
    if problems:
        raise ValueError(f"{name}: " + "; ".join(problems))


def check_inputs(
    name: str, updates: np.ndarray, weights: np.ndarray, params: object = None
) -> np.ndarray:
    """Check the (n, d) update matrix, its (n,) weights and the rule's params.

    Returns:
        The weights as float64.
    """
    if dataclasses.is_dataclass(params):
        check_params(name, params)
    if updates.ndim != 2 or not np.issubdtype(updates.dtype, np.floating):
        raise ValueError(
            f"{name} needs a 2-D float update matrix (n, d); got shape {updates.shape}, "
            f"dtype {updates.dtype}: stack the flattened updates with np.stack"
        )
    n = updates.shape[0]
    if n == 0:
        raise ValueError(f"{name} needs at least one update; got none: check the cohort sampling")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(
            f"{name} needs one weight per update; got weights of shape {w.shape} for n={n}: "
            "pass the example counts of the same rows"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(
            f"{name} needs finite non-negative weights; got min={w.min()}, max={w.max()}: "
            "drop or repair the clients reporting bad example counts"
        )
    return w


def check_vector(name: str, what: str, vector: np.ndarray | None, d: int) -> np.ndarray | None:
    """Check an optional (d,) context vector; return it as float64."""
    if vector is None:
        return None
    v = np.asarray(vector, dtype=np.float64)
    if v.shape != (d,):
        raise ValueError(
            f"{name} needs RoundContext.{what} of shape ({d},); got {v.shape}: pass the flat "
            "vector of the same model"
        )
    return v


def require_weight(name: str, weights: np.ndarray) -> float:
    """Return the weights' total; raise if it is not positive."""
    total = float(weights.sum())
    if not total > 0:
        raise ValueError(
            f"{name} needs a positive total weight; got {total}: leave clients with no "
            "examples out of the cohort"
        )
    return total


def too_few(name: str, condition: str, n: int, f: int) -> ValueError:
    """Return the error for a rule whose precondition on n and f fails."""
    return ValueError(f"{name} needs {condition} updates; got n={n}, f={f}: {FIX_F}")


def require_majority(name: str, n: int, params) -> int:
    """Return f for n rows of a rule that needs an honest majority; raise unless n > 2f."""
    f = resolve_f(params.f, params.fraction, n)
    if n <= 2 * f:
        raise too_few(name, "n > 2f", n, f)
    return f


def row_blocks(n: int, d: int) -> Iterator[slice]:
    """Yield row slices of at most BLOCK_VALUES values each."""
    step = max(1, BLOCK_VALUES // max(d, 1))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def column_blocks(n: int, d: int) -> Iterator[slice]:
    """Yield column slices of at most BLOCK_VALUES values each."""
    step = max(1, BLOCK_VALUES // max(n, 1))
    for start in range(0, d, step):
        yield slice(start, min(start + step, d))


def row_norms(updates: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """Return (n,) float64 Euclidean norms of the rows, or of the rows minus `centre`."""
    n, d = updates.shape
    out = np.empty(n, dtype=np.float64)
    for rows in row_blocks(n, d):
        block = updates[rows].astype(np.float64)
        if centre is not None:
            block -= centre
        out[rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def combine(coefficients: np.ndarray, updates: np.ndarray) -> np.ndarray:
    """Return sum_i c_i u_i as (d,) float64, accumulated block by block in float64."""
    n, d = updates.shape
    out = np.zeros(d, dtype=np.float64)
    for rows in row_blocks(n, d):
        out += coefficients[rows] @ updates[rows].astype(np.float64)
    return out
