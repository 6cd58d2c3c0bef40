"""The adversary inside a run: who it is, and what it does to data, updates and metrics.

Pure functions over a scenario, called by the Worker (data poisoning), the Aggregator (the
omniscient model attack, before screening and aggregation) and its evaluation (backdoor
success rate, accuracy of the targeted class). Nothing here knows about Ray.
"""

from __future__ import annotations

import numpy as np

from fedray import seeding
from fedray.attacks import (
    DATA_ATTACKS,
    apply_trigger,
    collusion,
    frontier,
    is_active,
    malicious_clients,
)
from fedray.attacks.view import AttackView
from fedray.data.federation import ClientData
from fedray.registry import is_plugin
from fedray.types import UpdateBatch

# need the round's honest updates
OMNISCIENT = {"alie", "ipm", "min_max", "min_sum"} | frontier.HONEST_NEEDED
# the server message's key for a malicious client's per-step mask (Neurotoxin)
STEP_MASK = frontier.KEEP


def adversary(scenario) -> np.ndarray:
    """The run's malicious client ids (sorted), fixed from the seed; empty without an attack."""
    a = scenario.attack
    if a.type == "none":
        return np.zeros(0, np.int64)
    share = a.count if a.count is not None else a.fraction
    return malicious_clients(scenario.seed, scenario.federation.population, share)


def active(scenario, round_: int) -> bool:
    a = scenario.attack
    return a.type != "none" and is_active(round_, a.start_round, a.every, a.stop_round)


def poison_data(
    scenario, data: ClientData, client_id: int, round_: int, num_classes: int, input_shape
):
    """A malicious client's training data under the scenario's data attack (else unchanged)."""
    a = scenario.attack
    if a.type not in DATA_ATTACKS:
        return data
    rng = seeding.rng(scenario.seed, round_, client_id, seeding.ATTACK)
    if a.type in frontier.POISONERS:
        return frontier.poison(scenario, data, client_id, rng, num_classes, input_shape)
    if a.type == "label_flip":
        return ClientData(
            data.x_train,
            DATA_ATTACKS[a.type].fn(data.y_train, num_classes, a.params, rng),
            data.x_test,
            data.y_test,
        )
    x, y = DATA_ATTACKS[a.type].fn(
        data.x_train, data.y_train, a.params, rng, input_shape, num_classes=num_classes
    )
    return ClientData(x, y, data.x_test, data.y_test)


def attack_batch(
    scenario, batch: UpdateBatch, malicious: np.ndarray, round_: int, view: AttackView | None = None
) -> tuple[UpdateBatch, dict]:
    """Rewrite the malicious rows of a round's batch; return (batch, metrics).

    `view` is what the newer attacks read (the defense in place, the model's history, their
    own state); a stateful attack returns its next state as metrics["attack_state"].

    The model attack sees the honest rows of the round (finite ones), as in the papers, or
    with `attack.knowledge: colluding` only the malicious rows themselves; then
    every malicious row is multiplied by `attack.boost` (model replacement, Bagdasaryan et
    al. 2020). Metrics: how many malicious clients took part, honest and malicious norms.
    """
    a = scenario.attack
    bad = np.isin(batch.client_ids, malicious)
    metrics = {"malicious_ids": batch.client_ids[bad].tolist(), "malicious_clients": int(bad.sum())}
    if not bad.any() or not active(scenario, round_):
        return batch, metrics
    deltas = batch.deltas.copy()
    if collusion.is_model_attack(scenario):
        # Omniscient: the round's honest rows; colluding: only the malicious clients' own.
        omniscient = collusion.knowledge(scenario) == "omniscient"
        reference = deltas[~bad] if omniscient else deltas[bad]
        deltas[bad], info = collusion.craft(
            scenario,
            round_,
            reference,
            deltas[bad],
            needs_reference=a.type in OMNISCIENT,
            view=view,
        )
        metrics.update(info)
    deltas[bad] = frontier.project_rows(scenario, deltas[bad], view)
    deltas[bad] *= np.float32(a.boost)
    norms = np.linalg.norm(deltas.astype(np.float64), axis=1)
    metrics.update(malicious_norm_mean=float(norms[bad].mean()))
    if (~bad).any():
        metrics["honest_norm_mean"] = float(norms[~bad].mean())
    return UpdateBatch(
        batch.client_ids, deltas.astype(np.float32), batch.num_examples, batch.extras
    ), metrics


def check(scenario, num_classes: int, input_shape) -> None:
    """Try the data attack on a two-example batch so bad parameters (a target label the data
    does not have, a trigger larger than the image) fail before any actor starts."""
    a = scenario.attack
    if is_plugin(a.type) or a.type in frontier.POISONERS:
        frontier.check(scenario, num_classes, input_shape)
        return
    if a.type not in DATA_ATTACKS:
        return
    rng = np.random.default_rng(0)
    y = np.arange(2) % num_classes
    if a.type == "label_flip":
        DATA_ATTACKS[a.type].fn(y, num_classes, a.params, rng)
    else:
        x = np.zeros((2, *input_shape), np.float32)
        DATA_ATTACKS[a.type].fn(x, y, a.params, rng, input_shape, num_classes=num_classes)


def attack_metrics(scenario, predict, x_test: np.ndarray, y_test: np.ndarray, input_shape) -> dict:
    """Backdoor success rate on the triggered test set, or the targeted class's accuracy.

    `predict(x) -> labels`. Backdoor success counts the test examples whose true label is not
    the target that the model, given the trigger, assigns to the target.
    """
    a = scenario.attack
    if a.type in frontier.BACKDOORS:
        return frontier.metrics(scenario, predict, x_test, y_test, input_shape)
    if a.type == "backdoor":
        keep = y_test != a.params.target
        triggered = apply_trigger(x_test[keep], input_shape, a.params)
        return {"backdoor_success": float((predict(triggered) == a.params.target).mean())}
    if a.type == "label_flip" and a.params.source is not None:
        keep = y_test == a.params.source
        return {"target_accuracy": float((predict(x_test[keep]) == a.params.source).mean())}
    return {}
