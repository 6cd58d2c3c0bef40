"""Server state and the pure server half of a round: screen the updates, run the strategy
with the defense's aggregation rule inside it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fedray import seeding
from fedray.defenses import build_rule
from fedray.defenses.common import RoundContext
from fedray.registry import lookup
from fedray.server import privacy, secure_dp
from fedray.strategies import STRATEGIES
from fedray.strategies.context import ServerContext
from fedray.types import UpdateBatch


@dataclass(frozen=True)
class ServerState:
    round: int  # last completed round; 0 before the first
    params: np.ndarray  # (d,) float32
    strategy_state: dict = field(default_factory=dict)  # optimizer moments, SCAFFOLD's c
    defense_state: dict = field(default_factory=dict)  # the previous aggregate (centered clipping)
    client_states: tuple | None = None  # (ids, (k, d)) persisted client variates, in checkpoints
    privacy_state: dict = field(default_factory=dict)  # the privacy ledger (server/privacy.py)
    attack_state: dict = field(default_factory=dict)  # a stateful attack's memory (PoisonedFL)


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
    for values in batch.extras.values():  # a NaN control variate would poison the server's c
        finite &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    has_data = batch.num_examples > 0
    keep = finite & has_data
    return keep, {
        "rejected_shape": 0,
        "rejected_nonfinite": int((~finite).sum()),
        "rejected_empty": int((finite & ~has_data).sum()),
    }


def make_aggregate(defense, ctx: RoundContext):
    """Return (aggregate(rows, weights) -> (d,), log): the defense's rule, after its
    pre-aggregators (`defense.pre`, bucketing).

    `log` receives the last call's vector, the rows it selected (indices into `rows`), its
    statistics and the state it keeps for the next round.
    """
    rule = build_rule(defense)
    log: dict = {}

    def aggregate(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        out = rule(rows, weights, defense.params, ctx)
        vector = np.asarray(out.vector, dtype=np.float32)
        log.update(vector=vector, selected=out.selected, stats=dict(out.stats), state=out.state)
        return vector

    return aggregate, log


def server_round(
    state: ServerState,
    batch: UpdateBatch,
    scenario,
    reference=None,
    survivors=None,
    unclipped=None,
    history=None,
):
    """Apply one round's updates: screen them, then the strategy with the defense inside,
    then the privacy ledger.

    Returns (new state, metrics). With no acceptable update the parameters stay as they
    were. `reference` is the server's own update on its root set (FLTrust). `survivors`:
    under secure aggregation, how many clients' inputs are in the sum (distributed DP's
    noise). `unclipped`: adaptive clipping's count decoded from the secure sum. `history`:
    (n, d) the batch's clients' stored histories, row for row (FoolsGold).
    """
    new, metrics = _apply(state, batch, scenario, reference, history)
    released = metrics["updates_aggregated"] > 0 and not metrics.get("defense_skipped")
    if scenario.privacy.mode in privacy.USER_LEVEL and not released:
        metrics["privacy_epsilon"] = privacy.user_epsilon(scenario, state.privacy_state)
    elif scenario.privacy.mode in privacy.USER_LEVEL:  # a noised mean left the server
        rng = privacy.noise_rng(scenario, new.round, 1)
        clip = privacy.clip_bound(scenario, state.privacy_state)
        curve = None
        if survivors is not None:
            curve = secure_dp.ledger_curve(scenario, len(state.params), clip, survivors)
        ledger, more = privacy.after_round(
            scenario,
            state.privacy_state,
            survivors=survivors,
            unclipped=metrics.get("privacy_unclipped", unclipped),
            rng=rng,
            curve=curve,
            count_noised=unclipped is not None and scenario.privacy.mode == "distributed",
        )
        new, metrics = replace(new, privacy_state=ledger), {**metrics, **more}
    return new, metrics


def _apply(state: ServerState, batch: UpdateBatch, scenario, reference=None, history=None):
    keep, counts = screen(batch, len(state.params))
    metrics = {
        "updates_received": len(batch.client_ids),
        "updates_aggregated": int(keep.sum()),
        **counts,
        "rejected_ids": batch.client_ids[~keep].tolist(),
    }
    if not keep.any():
        return replace(state, round=state.round + 1), metrics
    kept = batch.rows(keep)
    round_ = state.round + 1
    rng = seeding.rng(scenario.seed, round_, 0, seeding.DEFENSE)
    previous = state.defense_state.get("previous")
    history = None if history is None else history[keep]
    rule_ctx = RoundContext(rng, previous, reference, dict(state.defense_state), history)
    aggregate, log = make_aggregate(scenario.defense, rule_ctx)
    secure = scenario.secure_aggregation.protocol != "none"
    if scenario.privacy.mode == "central" and not secure:
        noise = privacy.noise_rng(scenario, round_)
        aggregate = privacy.central_aggregate(scenario, state.privacy_state, noise, log)
    ctx = ServerContext(aggregate, round_, scenario.federation.population, scenario.client.lr)
    strategy = scenario.strategy
    fn = lookup(STRATEGIES, strategy.name).fn
    try:
        params, strategy_state, extra = fn(
            state.params, kept, dict(state.strategy_state), strategy.params, ctx
        )
    except ValueError as exc:
        if len(kept.client_ids) >= scenario.federation.clients_per_round:
            raise  # validation checked a full cohort: this is not a short-round precondition
        # Lost, empty or rejected clients left too few rows for the defense's precondition
        # (Krum's n > 2f + 2, ...): the round applies nothing rather than ending the run.
        return replace(state, round=round_), {
            **metrics,
            "defense_skipped": 1.0,
            "defense_error": str(exc),
        }
    params = _check_result(strategy.name, params, strategy_state, state.params.shape)
    defense_state = dict(state.defense_state)
    if "vector" in log:
        defense_state = {"previous": log["vector"], **(log["state"] or {})}
    if log.get("selected") is not None:
        metrics["defense_selected_ids"] = kept.client_ids[log["selected"]].tolist()
    metrics.update({f"defense_{k}": float(v) for k, v in log.get("stats", {}).items()})
    if "unclipped" in log:
        metrics["privacy_unclipped"] = log["unclipped"]
        metrics["privacy_clipped"] = log["clipped"]
        metrics["privacy_update_norm_mean"] = log["mean_norm"]
    new = ServerState(round_, params, strategy_state, defense_state, None, state.privacy_state)
    return new, {**metrics, **extra}


def _check_result(name: str, params, strategy_state, shape) -> np.ndarray:
    if not isinstance(strategy_state, dict) or not all(
        isinstance(v, (np.ndarray, np.generic, int, float)) for v in strategy_state.values()
    ):
        raise ValueError(
            f"strategy {name!r} must return its state as a dict of numpy arrays "
            f"(it is checkpointed); got {type(strategy_state).__name__}"
        )
    params = np.asarray(params, dtype=np.float32)
    if params.shape != shape or not np.isfinite(params).all():
        raise ValueError(
            f"strategy {name!r} returned parameters of shape {params.shape} "
            f"(finite: {bool(np.isfinite(params).all())}); expected finite {shape}"
        )
    return params
