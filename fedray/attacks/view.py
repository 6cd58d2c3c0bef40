"""What a model attack may know beyond the round's updates: the model, history, defense.

The omniscient adversary of the papers knows the global model it starts from, what the
server applied last round, and the aggregation rule in place. `AttackView` carries these
to the attacks that use them (Fang, Opt-ALIE / Opt-IPM, PoisonedFL, the adaptive hook);
the Aggregator builds it each round. `state` is the attack's own memory across rounds
(PoisonedFL's scale and history): numpy arrays only, so checkpoints keep it bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Defense = Callable[..., np.ndarray]  # defense(rows (n, d), weights (n,) | None) -> (d,) float32


@dataclass(frozen=True)
class AttackView:
    """The round as the adversary sees it.

    Attributes:
        round: the 1-based round being attacked.
        seed: the scenario's seed (for draws fixed over the whole run).
        params: (d,) float32 global model the round started from; None outside a run.
        previous: (d,) float32 aggregate the server applied last round; None in round 1.
        defense: the defense in place, bound to its parameters and round context:
            `defense(rows (n, d), weights (n,) or None for equal) -> (d,) float32`.
        state: the attack's memory from earlier rounds, name -> numpy array.
    """

    round: int = 1
    seed: int = 0
    params: np.ndarray | None = None
    previous: np.ndarray | None = None
    defense: Defense | None = None
    state: dict = field(default_factory=dict)


def require_defense(name: str, view: AttackView | None) -> Defense:
    """Return the view's defense function, or raise saying the attack needs one."""
    if view is None or view.defense is None:
        raise ValueError(
            f"{name} optimises against the defense in place and got none: pass "
            "view=AttackView(defense=...) (a run passes the scenario's defense)"
        )
    return view.defense


def mean_defense(rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The plain (weighted) mean as a defense function, for trials and tests."""
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, np.float64)
    return (w @ rows.astype(np.float64) / w.sum()).astype(np.float32)
