"""The round. This is the only module that knows the order of what happens in one.

sample cohort (seeded) -> train on the workers (one call per worker) -> updates go
to the Aggregator by reference -> aggregate -> evaluate (central every k rounds,
federated on sampled clients) -> record -> checkpoint
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import ray

from fedray import seeding


@dataclass
class Handles:
    """What the round needs: the scenario, the live actors, and client sizes for balancing."""

    scenario: object
    pool: object  # client.pool.WorkerPool
    aggregator: object  # Ray handle to server.aggregator.Aggregator
    sizes: Callable[[np.ndarray], np.ndarray]
    store: object = None  # Ray handle to server.client_state.ClientStateStore (SCAFFOLD)
    malicious: frozenset = frozenset()  # the adversary's client ids, fixed for the run


def sample_clients(seed: int, round_: int, population: int, count: int, purpose: int) -> np.ndarray:
    """Return `count` distinct client ids drawn uniformly, ascending (int64)."""
    rng = seeding.rng(seed, round_, 0, purpose)
    return np.sort(rng.choice(population, size=count, replace=False)).astype(np.int64)


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
        s.seed, round_, s.federation.population, s.federation.clients_per_round, seeding.SAMPLE
    )
    server = h.aggregator.server_message.remote() if h.store is not None else None
    update_refs, records, failed = h.pool.train(
        params_ref, round_, cohort, h.sizes(cohort), server, h.store
    )
    server = ray.get(h.aggregator.step.remote(round_, *update_refs))
    params_ref = h.aggregator.params.remote()
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
        "clients_sampled": len(cohort),
        "clients_trained": len(trained),
        "clients_failed": len(failed),
        "clients_empty": sum(r["status"] == "empty" for r in records),
        **server,
    }
    ev = s.evaluation
    if round_ % ev.every == 0 or round_ == s.rounds:
        row.update(ray.get(h.aggregator.evaluate.remote()))
    histograms = {"clients/update_norm": [r["update_norm"] for r in trained]}
    if ev.federated_clients and (round_ % ev.federated_every == 0 or round_ == s.rounds):
        ids = sample_clients(
            s.seed, round_, s.federation.population, ev.federated_clients, seeding.EVAL_SAMPLE
        )
        summary, accuracies = summarize_federated_eval(h.pool.evaluate(params_ref, ids))
        row.update(summary)
        histograms["federated_eval/client_accuracy"] = accuracies
    row["wall_seconds"] = time.perf_counter() - start
    return row, records, histograms, params_ref


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


def run_rounds(h: Handles, output, first_round: int, params_ref, progress) -> None:
    """Play rounds `first_round..scenario.rounds`, recording and checkpointing as they finish."""
    s = h.scenario
    every = s.output.checkpoint_every
    for round_ in range(first_round, s.rounds + 1):
        row, records, histograms, params_ref = play_round(h, round_, params_ref)
        output.record(row, records, histograms)
        if (every and round_ % every == 0) or round_ == s.rounds:
            output.checkpoint(ray.get(h.aggregator.server_state.remote()))
        progress.update(row)
