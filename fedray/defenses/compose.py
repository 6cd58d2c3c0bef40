"""Chain pre-aggregators in front of a rule: `defense.pre: [...]` then `defense.type`.

Each stage sees the rows the previous one produced. The assumed malicious count f flows
through: a stage whose own f and fraction are unset uses the rule's f (at the cohort's
size), and after bucketing f becomes min(f, buckets), since one bad row spoils only its
own bucket. The rule then runs with that f on the last stage's rows. Its `selected` rows
are translated back to the cohort's rows through every stage's `members`.

Under secure aggregation the server sees B bucket means, not clients: the stages run over
those B rows like any others (NNM, ARC and clipping need no client identity).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from fedray.defenses.common import Aggregated, RoundContext, resolve_f
from fedray.defenses.pre import PRE_AGGREGATORS, PRE_REQUIREMENTS
from fedray.registry import lookup

Rule = Callable[[np.ndarray, np.ndarray, object, RoundContext], Aggregated]
Stage = tuple[str, object]  # (pre-aggregator name or module:attr, its params)


def has_f(params: object) -> bool:
    """Whether a parameter dataclass carries the assumed malicious count (f, fraction)."""
    if not dataclasses.is_dataclass(params):
        return False
    return {"f", "fraction"} <= {spec.name for spec in dataclasses.fields(params)}


def rule_f(params: object, n: int) -> int | None:
    """The rule's f for n rows, or None if the rule assumes none."""
    return resolve_f(params.f, params.fraction, n) if has_f(params) else None


def stage_params(name: str, params: object, f: int | None, index: int) -> object:
    """The stage's params with an unset f filled from the flowing f; raise if there is none."""
    if not has_f(params) or params.f is not None or params.fraction is not None:
        return params
    if f is None:
        raise ValueError(
            f"defense.pre[{index}] ({name}) needs f, the assumed malicious count: set its f "
            "or fraction, or use a rule that takes one (krum, trimmed_mean, ...)"
        )
    return dataclasses.replace(params, f=f)


def _flowing_f(name: str, params: object, f: int | None, rows_before: int, rows: int) -> int | None:
    """The f the next stage sees: a stage's own f does not replace the rule's."""
    if f is None or rows == rows_before:
        return f
    return min(f, rows)


def require(stages: Sequence[Stage], n: int, params: object) -> tuple[int, object]:
    """Check every stage's needs from the row count alone; return (rows, params) the rule sees.

    Raises the first stage's ValueError, naming the stage.
    """
    f = rule_f(params, n)
    rows = n
    for i, (name, p) in enumerate(stages):
        p = stage_params(name, p, f, i)
        need = PRE_REQUIREMENTS.get(name)
        if need is not None:
            try:
                need(rows, p)
            except ValueError as exc:
                raise ValueError(f"defense.pre[{i}]: {exc}") from exc
        if name == "bucketing":
            after = -(-rows // p.s)
            f, rows = _flowing_f(name, p, f, rows, after), after
    inner = dataclasses.replace(params, f=f, fraction=None) if f is not None else params
    return rows, inner


def compose(stages: Sequence[Stage], rule: Rule) -> Rule:
    """Return `rule` run after the pre-aggregators `stages`, in order.

    The result has the rule's signature, so it stands wherever a rule does. Stats of the
    stages are kept with their name as prefix ("nnm_...", "arc_arc_norm" shortened to
    "arc_norm"); the rule's own stats keep their names.
    """
    entries = [(name, lookup(PRE_AGGREGATORS, name).fn, p) for name, p in stages]

    def composed(
        updates: np.ndarray, weights: np.ndarray, params: object, ctx: RoundContext
    ) -> Aggregated:
        n = len(updates)
        f = rule_f(params, n)
        members = None
        stats: dict = {}
        for i, (name, fn, p) in enumerate(entries):
            before = len(updates)
            out = fn(updates, weights, stage_params(name, p, f, i), ctx)
            updates, weights = out.updates, np.asarray(out.weights, dtype=np.float64)
            f = _flowing_f(name, p, f, before, len(updates))
            members = _chain(members, out.members)
            stats.update({_stat(name, k): float(v) for k, v in out.stats.items()})
        inner = dataclasses.replace(params, f=f, fraction=None) if f is not None else params
        try:
            result = rule(updates, weights, inner, ctx)
        except ValueError as exc:
            names = ", ".join(name for name, _ in stages)
            raise ValueError(
                f"after defense.pre [{names}], {n} updates became {len(updates)} rows: {exc}"
            ) from exc
        selected = result.selected
        if selected is not None and members is not None:
            selected = np.sort(np.concatenate([members[i] for i in selected])).astype(np.int64)
        return Aggregated(result.vector, selected, {**stats, **result.stats}, result.state)

    composed.__name__ = composed.__qualname__ = "_then_".join(
        [name for name, _ in stages] + [getattr(rule, "__name__", "rule")]
    )
    composed.__doc__ = "Run the pre-aggregators, then the rule (fedray.defenses.compose)."
    return composed


def _chain(members: list | None, step: list | None) -> list | None:
    """Compose two row maps: output row -> input rows of the stage -> cohort rows."""
    if step is None:
        return members
    if members is None:
        return step
    return [np.sort(np.concatenate([members[j] for j in rows])).astype(np.int64) for rows in step]


def _stat(name: str, key: str) -> str:
    return key if key.startswith(name) else f"{name}_{key}"
