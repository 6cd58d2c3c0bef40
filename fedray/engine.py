"""The round. This is the only module that knows the order of what happens in one.

sample cohort (seeded) -> train on the workers (one call per worker) -> updates go
to the Aggregator by reference -> aggregate -> evaluate (central every k rounds,
federated on sampled clients) -> record -> checkpoint
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fedray import calls, checkpoint, seeding
from fedray.attacks import frontier
from fedray.client.colluders import coordinate
from fedray.client.pool import answered
from fedray.client.secure import NONFINITE
from fedray.compression.clients import traffic
from fedray.privacy.local import planned_steps
from fedray.seeding import sample_clients
from fedray.server.privacy import worst_noise_multiplier
from fedray.server.secure import caught_metrics
from fedray.server.secure_dp import carries_count
from fedray.system.rounds import SystemRounds

log = logging.getLogger("fedray")


@dataclass
class Handles:
    """What the round needs: the scenario, the live actors, and client sizes for balancing."""

    scenario: object
    pool: object  # client.pool.WorkerPool
    aggregator: object  # Ray handle to server.aggregator.Aggregator
    sizes: Callable[[np.ndarray], np.ndarray]
    store: object = None  # Ray handle to server.client_state.ClientStateStore (SCAFFOLD)
    malicious: frozenset = frozenset()  # the adversary's client ids, fixed for the run
    local_z: float = 0.0  # local DP-SGD's noise multiplier (privacy.mode: local)
    ledger: object = None  # server.driver_ledger.DriverLedger: local DP under secure aggregation
    system: SystemRounds | None = None  # the virtual clock; set by run_rounds


def summarize_federated_eval(results: list[dict]) -> tuple[dict, np.ndarray]:
    """Per-client accuracy distribution: mean, std and 10th percentile (the fairness view)."""
    acc = np.array([r["accuracy"] for r in results if r["num_examples"] > 0], dtype=np.float64)
    if len(acc) == 0:
        return {"fed_clients": 0}, acc
    return {
        "fed_clients": len(acc),
        "fed_accuracy_mean": float(acc.mean()),
        "fed_accuracy_std": float(acc.std()),
        "fed_accuracy_p10": float(np.percentile(acc, 10)),
    }, acc


def play_round(h: Handles, round_: int, params_ref) -> tuple[dict, list[dict], dict, object]:
    """Run round `round_` from the global parameters in `params_ref`.

    Returns (metrics row, client rows, histograms, reference to the new parameters).
    """
    s = h.scenario
    start = time.perf_counter()
    cohort = sample_clients(
        s.seed, round_, s.federation.population, h.system.cohort_size(), seeding.SAMPLE
    )
    # The virtual clock decides first: who reports, and after how many local steps.
    # A client's size is a draw of its own stream: at 10,000 a round, 0.1-0.2 s to redo.
    sizes = h.sizes(cohort)
    plan = h.system.plan(round_, cohort, sizes)
    trains, steps = (cohort, None) if plan is None else (plan.trains(), plan.partial())
    if plan is not None:
        order = np.argsort(cohort, kind="stable")
        sizes = sizes[order[np.searchsorted(cohort, trains, sorter=order)]]
    # SCAFFOLD's variate; adaptive clipping's current S under secure aggregation; Neurotoxin's mask
    message = h.store is not None or carries_count(s) or frontier.masks_steps(s)
    server = h.aggregator.server_message.remote() if message else None
    update_refs, records, failed, holders = h.pool.train(
        params_ref, round_, trains, sizes, server, h.store, steps
    )
    if s.secure_aggregation.protocol == "none":
        server = _ask(h, h.aggregator.step.remote(round_, *update_refs), "step")
    else:  # a model attack's colluders craft their rows first, from their own updates only
        keys, attack = coordinate(h, round_, holders)
        keys = [ref for wrapped in keys for ref in wrapped]
        server = {**secure_step(h, round_, cohort, update_refs + keys, holders, records), **attack}
    params_ref = h.aggregator.params.remote()
    row, histograms = round_row(h, round_, server, records, failed, params_ref, len(cohort))
    if s.privacy.mode == "local":
        row.update(account_local(h, [r for r in records if r["status"] in ("trained", "rejected")]))
    row.update(h.pool.take_faults())
    h.system.finish(plan, round_, records, row)
    row["wall_seconds"] = time.perf_counter() - start
    return row, records, histograms, params_ref


def round_row(
    h: Handles, round_: int, server: dict, records: list[dict], failed: list, params_ref, sampled
) -> tuple[dict, dict]:
    """After the server step: mark the records with what the server did, and build the
    round's row (training summary, server metrics, evaluation when due) and histograms.

    Shared by synchronous rounds and FedBuff's server steps (`fedray.asynchronous`).
    """
    s = h.scenario
    rejected = set(server.pop("rejected_ids", []))
    selected = server.pop("defense_selected_ids", None)
    server.pop("malicious_ids", None)
    if selected is not None:  # a selecting defense (Krum, Bulyan): who made it into the aggregate
        server["defense_kept"] = len(selected)
    for rec in records:
        if rec["client_id"] in rejected:
            rec["status"] = "rejected"
        if selected is not None:
            rec["kept"] = rec["client_id"] in set(selected)
        if h.scenario.attack.type != "none":
            rec["malicious"] = rec["client_id"] in h.malicious
    records += [{"client_id": c, "round": round_, "status": "failed"} for c in failed]
    trained = [r for r in records if r["status"] in ("trained", "rejected")]
    row = {
        "round": round_,
        **_train_summary(trained),
        "clients_sampled": sampled,
        "clients_trained": len(trained),
        "clients_failed": len(failed),
        "clients_empty": sum(r["status"] == "empty" for r in records),
        **traffic(trained),
        **server,
    }
    ev = s.evaluation
    if round_ % ev.every == 0 or round_ == s.rounds:
        row.update(_ask(h, h.aggregator.evaluate.remote(), "evaluate"))
    histograms = {"clients/update_norm": [r["update_norm"] for r in trained]}
    if ev.federated_clients and (round_ % ev.federated_every == 0 or round_ == s.rounds):
        ids = sample_clients(
            s.seed, round_, s.federation.population, ev.federated_clients, seeding.EVAL_SAMPLE
        )
        summary, accuracies = summarize_federated_eval(h.pool.evaluate(params_ref, ids))
        row.update(summary)
        histograms["federated_eval/client_accuracy"] = accuracies
    return row, histograms


def _ask(h: Handles, ref, method: str, stages: int = 1):
    """The Aggregator's answer to `method`; NoAnswer if it hangs past the call timeout."""
    timeout = h.scenario.resources.call_timeout * stages
    return calls.get(ref, timeout, f"the aggregator (its {method} call)")


def account_local(h: Handles, trained: list[dict]) -> dict:
    """Local DP's ledger for the round: on the driver under secure aggregation (the sample
    rates reveal dataset sizes), else on the Aggregator."""
    if h.ledger is not None:
        return h.ledger.record(*_local_steps(trained))
    return _ask(h, h.aggregator.account_local.remote(*_local_steps(trained)), "account_local")


def _local_steps(trained: list[dict]) -> tuple[list, list, list, list]:
    """(ids, z, q, steps) of the clients that ran DP-SGD this round."""
    rows = [r for r in trained if "dp_steps" in r]
    return tuple(
        [r[k] for r in rows]
        for k in ("client_id", "dp_noise_multiplier", "dp_sample_rate", "dp_steps")
    )


def _budget(p) -> float:
    """The epsilon a run may spend: `budget`, else `target_epsilon`, else no limit."""
    budget = p.budget if p.budget is not None else p.target_epsilon
    return budget if budget is not None else float("inf")


def budget_exceeded(h: Handles, round_: int) -> float | None:
    """The epsilon round `round_` would bring the run to, when that is over the budget."""
    p = h.scenario.privacy
    budget = _budget(p)
    if p.mode == "none" or budget == float("inf"):
        return None
    planned = None
    if p.mode == "local":
        s = h.scenario
        cohort = sample_clients(
            s.seed, round_, s.federation.population, s.federation.clients_per_round, seeding.SAMPLE
        )
        q, steps = zip(*(planned_steps(s.client, int(n)) for n in h.sizes(cohort)))
        planned = (cohort.tolist(), [h.local_z] * len(q), list(q), list(steps))
    # The max_participation accountant bounds what the run reports, so also what it spends.
    bound = None if p.mode == "local" else h.system.projection(worst_noise_multiplier(h.scenario))
    if h.ledger is not None:
        projected = h.ledger.projection(*planned)
    elif bound is not None:
        projected = bound
    else:
        projection = h.aggregator.privacy_projection.remote(planned)
        projected = _ask(h, projection, "privacy_projection")
    return projected if projected > budget * (1 + 1e-9) else None


def secure_step(h: Handles, round_: int, cohort, advert_refs, holders, records) -> dict:
    """Run the secure-aggregation protocol for a trained cohort, then apply the round.

    Stages (Bonawitz et al. 2017): public keys -> encrypted key shares -> masked inputs ->
    unmasking shares. Each stage is one call per worker that holds clients, whose replies
    go to the Aggregator by reference; what the Aggregator sends back is split per worker.
    A worker lost mid-protocol takes its clients with it: they count as dropouts.
    """
    agg = h.aggregator
    groups = [ids for _, ids in holders]
    _ask(h, agg.secagg_begin.remote(round_, cohort), "secagg_begin")
    replies = [[ref] for ref in advert_refs]
    stages = [("secagg_keys", "secagg_share"), ("secagg_shares", "secagg_mask")]
    if h.scenario.secure_aggregation.threat_model == "malicious":  # + the consistency round
        stages += [("secagg_masked", "secagg_sign"), ("secagg_signatures", "secagg_unmask")]
    else:
        stages += [("secagg_masked", "secagg_unmask")]
    for stage, worker_call in stages:
        out = getattr(agg, stage).options(num_returns=max(len(groups), 1)).remote(groups, *replies)
        messages = [out] if len(groups) <= 1 else out
        replies = h.pool.call(holders, worker_call, round_, messages)
    # Each of the Aggregator's four stages may wait call_timeout for the workers' replies.
    server = _ask(h, agg.secagg_step.remote(round_, *replies), "secagg_step", len(stages) + 2)
    stats = {}
    finished = h.pool.call(holders, "secagg_finish", round_)
    for part in answered(finished, timeout=h.scenario.resources.call_timeout):
        stats.update(part)
    server.update(caught_metrics(stats))
    for rec in records:
        if rec["status"] == "trained":  # no stats: its worker was lost mid-protocol
            rec.update(stats.get(rec["client_id"], {"secagg_dropped_at": "worker lost"}))
            if rec["secagg_dropped_at"] == NONFINITE:
                rec["status"] = "rejected"
    server["rejected_nonfinite"] = sum(r["status"] == "rejected" for r in records)
    trained = [
        stats[r["client_id"]] for r in records if "secagg_seconds" in stats.get(r["client_id"], {})
    ]
    for key in ("secagg_bytes_up", "secagg_bytes_down", "secagg_seconds"):
        if trained:
            server[f"{key}_mean"] = float(np.mean([t[key] for t in trained]))
    return server


def _train_summary(trained: list[dict]) -> dict:
    if not trained:
        return {"train_loss": None, "examples": 0}
    n = np.array([r["num_examples"] for r in trained], dtype=np.float64)
    loss = np.array([r["train_loss"] for r in trained], dtype=np.float64)
    norms = np.array([r["update_norm"] for r in trained], dtype=np.float64)
    ok = np.isfinite(loss)
    return {
        "train_loss": float((loss[ok] * n[ok]).sum() / n[ok].sum())
        if ok.any() and n[ok].sum() > 0
        else None,
        "examples": int(n.sum()),
        "update_norm_mean": float(norms[np.isfinite(norms)].mean())
        if np.isfinite(norms).any()
        else None,
        "update_norm_max": float(norms[np.isfinite(norms)].max())
        if np.isfinite(norms).any()
        else None,
    }


def run_rounds(
    h: Handles, output, first_round: int, params_ref, progress, play=None, on_checkpoint=None
) -> dict:
    """Play rounds `first_round..scenario.rounds`, recording and checkpointing as they finish.

    `play(h, round_, params_ref)` plays one round (default `play_round`; FedBuff passes its
    server step); `on_checkpoint(round_)` runs just before a checkpoint commits.

    With a privacy budget, each round is checked before it is played; when the next round
    would exceed it and `on_budget` is stop, the round just played is evaluated and
    checkpointed as the last. Returns {} or, when the budget stopped the run, where and why.
    """
    s = h.scenario
    every = s.output.checkpoint_every
    if h.system is None:
        h.system = start_system(h, output, params_ref)
    over = budget_exceeded(h, first_round)
    warned = False
    for round_ in range(first_round, s.rounds + 1):
        if over is not None and s.privacy.on_budget == "stop":
            log.warning("privacy budget: round %d would reach epsilon %.3f; stopping", round_, over)
            return _stopped(round_, over)
        if over is not None and not warned:
            log.warning(
                "privacy budget: round %d reaches epsilon %.3f; going on (on_budget: warn)",
                round_,
                over,
            )
            warned = True
        row, records, histograms, params_ref = (play or play_round)(h, round_, params_ref)
        spent = row.get("privacy_epsilon")
        if over is not None or (spent is not None and spent > _budget(s.privacy)):
            row["privacy_budget_exceeded"] = 1.0
        over = budget_exceeded(h, round_ + 1) if round_ < s.rounds else None
        last = round_ == s.rounds or (over is not None and s.privacy.on_budget == "stop")
        if last and "test_accuracy" not in row:  # the run ends here: evaluate what it leaves
            row.update(_ask(h, h.aggregator.evaluate.remote(), "evaluate"))
        output.record(row, records, histograms)
        if (every and round_ % every == 0) or last:
            if on_checkpoint is not None:
                on_checkpoint(round_)
            if h.store is not None:  # before the server state, which commits the checkpoint
                dest = checkpoint.clients_dir(output.out, round_).resolve()
                timeout = s.resources.call_timeout
                calls.get(h.store.save.remote(str(dest)), timeout, "the client state store")
            state = _ask(h, h.aggregator.server_state.remote(), "server_state")
            output.checkpoint(h.ledger.merged(state) if h.ledger is not None else state)
        progress.update(row)
    return {}


def start_system(h: Handles, output, params_ref) -> SystemRounds:
    """The virtual clock and participation counts where the run's history leaves them."""
    dim = len(calls.get(params_ref, h.scenario.resources.call_timeout, "the global parameters"))
    return SystemRounds.resume(h.scenario, dim, output.out, output.history.rows)


def _stopped(round_: int, epsilon: float) -> dict:
    return {
        "stopped_at_round": round_ - 1,
        "stop_reason": f"privacy budget: round {round_} would reach epsilon {epsilon:.4g}",
    }
