"""The run-time side of the newer attacks: what the Aggregator and Worker call beyond `runtime`.

- model attacks that read the round's view (`VIEWED`: Opt-ALIE, Opt-IPM, PoisonedFL) and
  plugins (the adaptive hook) are crafted by `craft`; PoisonedFL's memory advances every
  round in `observe` and records its crafted row in `craft`;
- Neurotoxin's mask: the last global model it remembers (`observe`), the keep mask it sends
  to the workers with the round's message (`client_message`), and under FedBuff only, the
  projection of the finished malicious rows (`project_rows`);
- DBA's per-client trigger part and the edge-case tail (`poison`), fixed for the run;
- their backdoor success rates (`metrics`) and their start-up checks (`check`).
"""

from __future__ import annotations

import functools

import numpy as np

from fedray.attacks import adaptive, dba, edge_case, neurotoxin, poisonedfl
from fedray.attacks.adversary import malicious_clients
from fedray.attacks.backdoor import apply_trigger
from fedray.attacks.view import AttackView
from fedray.data import build_federation
from fedray.data.federation import ClientData
from fedray.registry import is_plugin, load_plugin

VIEWED = {"opt_alie", "opt_ipm", "poisonedfl"}  # take `view=`
HONEST_NEEDED = {"mimic", "opt_alie", "opt_ipm"}  # nothing to craft from without honest rows
POISONERS = {"dba", "edge_case"}  # need more than the client's own data
BACKDOORS = {"neurotoxin", "dba", "edge_case"}

_EDGES: dict = {}  # (seed, data section, params) -> EdgeSet: fitted once per process
BEFORE = "neurotoxin_before"  # attack state: the global model the last round started from
KEEP = "neurotoxin_keep"  # server message: the round's (d,) bool keep mask


def masks_steps(scenario) -> bool:
    """Whether Neurotoxin's malicious clients mask every local step (all but FedBuff, whose
    clients train from stale models; there the finished rows are projected)."""
    return scenario.attack.type == "neurotoxin" and scenario.system.mode != "async"


def observe(scenario, state: dict, params_now: np.ndarray, round_: int) -> dict:
    """Return the attack's state after seeing the global model round `round_` starts from."""
    a = scenario.attack
    if masks_steps(scenario):  # every round, attacked or not: the global models are public
        return {**state, BEFORE: np.array(params_now, np.float32)}
    if a.type != "poisonedfl":
        return state
    return poisonedfl.observe(state, params_now, round_, a.params, scenario.seed)


def client_message(scenario, attack_state: dict, params: np.ndarray) -> dict:
    """What the workers receive for Neurotoxin this round: {KEEP: (d,) bool}, the mask of
    w_r - w_{r-1} (`params` minus the remembered model); {} when it would mask nothing (round
    1, a round after one that applied nothing) or for other attacks, so those rounds train
    exactly as unmasked.

    Computed once per round from the two global models every client is sent; where the
    simulation computes it changes nothing a malicious client could not compute itself.
    """
    if not masks_steps(scenario):
        return {}
    g = neurotoxin.previous_update(params, attack_state.get(BEFORE))
    keep = neurotoxin.keep_mask(g, len(params), scenario.attack.params.top_fraction)
    return {} if keep.all() else {KEEP: keep}


def craft(scenario, honest, malicious, rng, view: AttackView | None, fn) -> tuple[np.ndarray, dict]:
    """Return (the malicious rows, metrics) for model attack `fn` of the scenario's type.

    Metrics may hold `attack_state`, the stateful attack's memory for the next round.
    """
    a = scenario.attack
    if is_plugin(a.type):
        defense = view.defense if view is not None else None
        rows = adaptive.run_plugin(a.type, fn, honest, malicious, a.params, rng, defense)
        return rows, {}
    if a.type not in VIEWED:
        return fn(honest, malicious, a.params, rng), {}
    rows = fn(honest, malicious, a.params, rng, view=view)
    if a.type == "poisonedfl" and view is not None and "history" in view.state and len(rows):
        return rows, {"attack_state": {**view.state, "last_malicious": rows[0].astype(np.float64)}}
    return rows, {}


def project_rows(scenario, rows: np.ndarray, view: AttackView | None) -> np.ndarray:
    """Neurotoxin's projection of the finished malicious rows under FedBuff only (elsewhere
    they were masked at every step, see `masks_steps`); other attacks leave them."""
    a = scenario.attack
    if a.type != "neurotoxin" or masks_steps(scenario):
        return rows
    previous = view.previous if view is not None else None
    return neurotoxin.project(rows, previous, a.params.top_fraction)


def edge_set(scenario) -> edge_case.EdgeSet:
    """The run's edge-case tail, fitted on the federation's pooled training data."""
    a = scenario.attack
    key = (scenario.seed, repr(scenario.data), repr(a.params))
    if key not in _EDGES:
        x, y = build_federation(scenario).pooled_train()
        _EDGES.clear()  # one run per process at a time: keep one fit
        _EDGES[key] = edge_case.fit(x, y, a.params)
    return _EDGES[key]


@functools.lru_cache(maxsize=4)
def _malicious(seed: int, population: int, share) -> np.ndarray:
    return malicious_clients(seed, population, share)


def dba_part(scenario, client_id: int) -> int:
    """The trigger part of a malicious client: its rank among the sorted malicious ids."""
    a = scenario.attack
    share = a.count if a.count is not None else a.fraction
    ids = _malicious(scenario.seed, scenario.federation.population, share)
    return int(np.searchsorted(ids, client_id))


def poison(scenario, data: ClientData, client_id: int, rng, num_classes: int, input_shape):
    """A malicious client's training data under DBA or the edge-case backdoor."""
    a = scenario.attack
    if a.type == "dba":
        part = dba_part(scenario, client_id)
        x, y = dba.dba(
            data.x_train,
            data.y_train,
            a.params,
            rng,
            input_shape,
            part=part,
            num_classes=num_classes,
        )
    else:
        x, y = edge_case.edge_case(
            data.x_train,
            data.y_train,
            a.params,
            rng,
            input_shape,
            edge=edge_set(scenario),
            num_classes=num_classes,
        )
    return ClientData(x, y, data.x_test, data.y_test)


def metrics(scenario, predict, x_test: np.ndarray, y_test: np.ndarray, input_shape) -> dict:
    """Backdoor success: the share of non-target test rows that the model, given the full
    trigger (DBA) or the backdoor's trigger (Neurotoxin), labels `target`; for the edge case,
    the share of the edge-case test set labelled `target` (NaN when the set is empty)."""
    a = scenario.attack
    if a.type == "edge_case":
        rows = edge_case.edge_test_mask(edge_set(scenario), x_test, y_test, a.params)
        hit = predict(x_test[rows]) == a.params.target if rows.any() else np.array([np.nan])
        return {"backdoor_success": float(np.mean(hit)), "edge_test_examples": int(rows.sum())}
    keep = y_test != a.params.target
    if a.type == "dba":
        triggered = dba.stamp(x_test[keep], input_shape, a.params, None)
    else:
        triggered = apply_trigger(x_test[keep], input_shape, a.params)
    return {"backdoor_success": float((predict(triggered) == a.params.target).mean())}


def check(scenario, num_classes: int, input_shape) -> None:
    """Try the newer attacks once so bad parameters fail before any actor starts."""
    a = scenario.attack
    if is_plugin(a.type):
        adaptive.trial(a.type, load_plugin(a.type), a.params)
    elif a.type == "dba":
        dba.dba(
            np.zeros((2, *input_shape), np.float32),
            np.arange(2) % num_classes,
            a.params,
            np.random.default_rng(0),
            input_shape,
            num_classes=num_classes,
        )
    elif a.type == "edge_case":
        edge_case.check_classes(a.params, num_classes)
        edge_set(scenario)
