"""Bucketing: run any rule over the means of small random buckets of updates.

Karimireddy, He and Jaggi, "Byzantine-robust learning on heterogeneous datasets via
bucketing", ICLR 2022. Averaging s random updates shrinks the spread between honest
inputs (non-IID clients) that robust rules otherwise mistake for an attack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from fedray.defenses.common import Aggregated, RoundContext, check_inputs, resolve_f

Rule = Callable[[np.ndarray, np.ndarray, object, RoundContext], Aggregated]


def bucketize(
    updates: np.ndarray, weights: np.ndarray, s: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Shuffle the rows, group them into ceil(n / s) buckets of s (the last may be short), average each.

    Args:
        updates: (n, d) float32.
        weights: (n,) non-negative; each bucket mean is weighted by them.
        s: bucket size, at least 1.
        rng: draws the shuffle.

    Returns:
        bucket_updates (ceil(n/s), d) float32; bucket_weights, each bucket's total weight;
        members, the sorted int64 original rows of every bucket.
    """
    w = check_inputs("bucketing", updates, weights)
    if s < 1:
        raise ValueError(f"bucketing needs s >= 1; got s={s}: use 1 for no bucketing, or more")
    n = updates.shape[0]
    order = rng.permutation(n)
    members = [np.sort(order[i : i + s]).astype(np.int64) for i in range(0, n, s)]
    totals = np.array([w[m].sum() for m in members])
    if np.any(totals <= 0):
        empty = members[int(np.argmin(totals))].tolist()
        raise ValueError(
            f"bucketing: the bucket of rows {empty} has zero total weight: drop clients with "
            "no examples from the cohort"
        )
    means = np.empty((len(members), updates.shape[1]), dtype=np.float32)
    for b, rows in enumerate(members):
        means[b] = (w[rows] / totals[b]) @ updates[rows].astype(np.float64)
    return means, totals, members


def as_buckets(n: int, s: int, params: object) -> tuple[int, object]:
    """(buckets, params) a rule sees when n updates go into buckets of s."""
    buckets = -(-n // s)
    return buckets, _malicious_rows_as_buckets(params, n, buckets)


def _malicious_rows_as_buckets(params: object, n: int, buckets: int) -> object:
    """Restate params' f for the buckets: f bad rows spoil at most min(f, buckets) buckets."""
    names = {f.name for f in dataclasses.fields(params)} if dataclasses.is_dataclass(params) else ()
    if not {"f", "fraction"} <= set(names):
        return params
    f = resolve_f(params.f, params.fraction, n)
    return dataclasses.replace(params, f=min(f, buckets), fraction=None)


def with_bucketing(rule: Rule, s: int) -> Rule:
    """Return `rule` run over bucket means of size s (Karimireddy et al. 2022).

    The rule's f (or fraction) keeps counting malicious rows of the cohort; over buckets it
    becomes min(f, number of buckets), since one bad row spoils its whole bucket. The
    result's `selected` lists the original rows of the selected buckets; stats gain
    "buckets". The shuffle draws from ctx.rng.
    """
    if s < 1:
        raise ValueError(f"bucketing needs s >= 1; got s={s}: use 1 for no bucketing, or more")

    def bucketed(
        updates: np.ndarray, weights: np.ndarray, params: object, ctx: RoundContext
    ) -> Aggregated:
        means, totals, members = bucketize(updates, weights, s, ctx.rng)
        n = len(updates)
        inner = _malicious_rows_as_buckets(params, n, len(members))
        try:
            out = rule(means, totals, inner, ctx)
        except ValueError as exc:
            raise ValueError(
                f"with bucketing s={s}, {n} updates make {len(members)} buckets: {exc}; "
                "or lower the bucket size s"
            ) from exc
        selected = out.selected
        if selected is not None:
            selected = np.sort(np.concatenate([members[i] for i in selected])).astype(np.int64)
        stats = {**out.stats, "buckets": float(len(members))}
        return Aggregated(out.vector, selected, stats, out.state)

    name = getattr(rule, "__name__", "rule")
    bucketed.__name__ = bucketed.__qualname__ = f"{name}_bucketed"
    bucketed.__doc__ = f"Run {name} over the means of random buckets of {s} updates."
    return bucketed
