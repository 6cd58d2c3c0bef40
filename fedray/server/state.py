"""Server state and the pure server half of a round: screen the updates, run the strategy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fedray.registry import lookup
from fedray.strategies import STRATEGIES
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class ServerState:
    round: int  # last completed round; 0 before the first
    params: np.ndarray  # (d,) float32
    strategy_state: dict = field(default_factory=dict)


def screen(batch: UpdateBatch, dim: int) -> tuple[np.ndarray, dict]:
    """Return a keep mask over the batch's rows and counts of what was rejected and why.

    A row is rejected if its delta has the wrong width or holds NaN / Inf, or if it claims
    no examples: such an update is never averaged in.
    """
    n = len(batch.client_ids)
    if batch.deltas.ndim != 2 or batch.deltas.shape[1] != dim:
        return np.zeros(n, bool), {
            "rejected_shape": n,
            "rejected_nonfinite": 0,
            "rejected_empty": 0,
        }
    finite = np.isfinite(batch.deltas).all(axis=1)
    has_data = batch.num_examples > 0
    keep = finite & has_data
    return keep, {
        "rejected_shape": 0,
        "rejected_nonfinite": int((~finite).sum()),
        "rejected_empty": int((finite & ~has_data).sum()),
    }


def server_round(state: ServerState, batch: UpdateBatch, strategy) -> tuple[ServerState, dict]:
    """Apply one round's updates to the state with the scenario's strategy section.

    With no acceptable update the parameters stay as they were.
    """
    keep, counts = screen(batch, len(state.params))
    metrics = {
        "updates_received": len(batch.client_ids),
        "updates_aggregated": int(keep.sum()),
        **counts,
        "rejected_ids": batch.client_ids[~keep].tolist(),
    }
    if not keep.any():
        return replace(state, round=state.round + 1), metrics
    fn = lookup(STRATEGIES, strategy.name).fn
    params, strategy_state, extra = fn(
        state.params,
        batch.deltas[keep],
        batch.num_examples[keep],
        dict(state.strategy_state),
        strategy.params,
    )
    if not isinstance(strategy_state, dict) or not all(
        isinstance(v, (np.ndarray, np.generic, int, float)) for v in strategy_state.values()
    ):
        raise ValueError(
            f"strategy {strategy.name!r} must return its state as a dict of numpy arrays "
            f"(it is checkpointed); got {type(strategy_state).__name__}"
        )
    params = np.asarray(params, dtype=np.float32)
    if params.shape != state.params.shape or not np.isfinite(params).all():
        raise ValueError(
            f"strategy {strategy.name!r} returned parameters of shape {params.shape} "
            f"(finite: {bool(np.isfinite(params).all())}); expected finite {state.params.shape}"
        )
    return ServerState(state.round + 1, params, strategy_state), {**metrics, **extra}
