"""What the model-poisoning adversary knows, and the one function that crafts its rows.

`attack.knowledge`:

- `omniscient`: the adversary reads every honest update of the round (ALIE, IPM and
  Min-Max's full-knowledge setting). Only a plaintext simulation can grant this; under
  secure aggregation nobody sees an honest update, so it is an upper bound there.
- `colluding`: the malicious clients pool their own updates, each trained honestly on its
  own data, and estimate the benign statistics from them alone (the partial-knowledge
  settings of Baruch et al. 2019, section 4, and Shejwalkar and Houmansadr 2021, the
  "agnostic" threat model). This is what a real adversary can do under secure aggregation.
- `auto` (default): omniscient in plaintext, colluding under secure aggregation.

`craft` is shared by the plaintext path (the Aggregator, `runtime.attack_batch`) and the
colluders' coordinator under secure aggregation (`fedray.client.colluders`), so both give
the same rows from the same inputs. Pure numpy; nothing here knows about Ray.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from fedray import seeding
from fedray.attacks import MODEL_ATTACKS, frontier
from fedray.attacks.alie import alie_z
from fedray.attacks.common import honest_mean, honest_std
from fedray.defenses.krum import pairwise_sq_distances
from fedray.registry import is_plugin, lookup


def knowledge(scenario) -> str:
    """Resolve `attack.knowledge`: auto is colluding under secure aggregation, else omniscient."""
    k = scenario.attack.knowledge
    if k != "auto":
        return k
    return "omniscient" if scenario.secure_aggregation.protocol == "none" else "colluding"


def is_model_attack(scenario) -> bool:
    t = scenario.attack.type
    return t != "none" and (t in MODEL_ATTACKS or is_plugin(t))


def upper_bound(scenario) -> bool:
    """An omniscient adversary under secure aggregation: a bound, not a mountable attack."""
    return (
        is_model_attack(scenario)
        and scenario.secure_aggregation.protocol != "none"
        and knowledge(scenario) == "omniscient"
    )


def statistics(rows: np.ndarray) -> dict[str, np.ndarray | float]:
    """The benign statistics the attacks use, from (r, d) rows: mean and coordinate std
    (d,) float64 (ALIE, IPM, Min-Max's std direction) and the largest pairwise squared
    distance, Min-Max's benign spread (0.0 for one row)."""
    return {
        "mean": honest_mean(rows),
        "std": honest_std(rows),
        "spread": float(pairwise_sq_distances(rows).max()) if len(rows) else 0.0,
    }


def craft(
    scenario,
    round_: int,
    reference: np.ndarray,
    malicious: np.ndarray,
    *,
    needs_reference: bool,
    view=None,
) -> tuple[np.ndarray, dict]:
    """Return the malicious rows under the scenario's model attack, and metrics.

    Args:
        scenario: its `attack` section names the attack and its parameters.
        round_: seeds the attack's own draws (`seeding.ATTACK`, client 0: one per round).
        reference: (r, d) float32 rows the statistics come from: the honest updates of the
            round (omniscient) or the colluders' own (colluding); non-finite rows are left out.
        malicious: (m, d) float32 the malicious clients' own updates, in client-id order.
        needs_reference: the attack is computed from benign statistics (`runtime.OMNISCIENT`:
            ALIE, IPM, Min-Max, Min-Sum), so without a reference row it cannot act.

    Returns:
        ((m, d) float32 rows before `attack.boost`, metrics). When the statistics cannot be
        formed (no finite reference row) the rows come back unchanged; when the attack
        refuses them (ALIE's z with a malicious majority) too, with `attack_skipped` set.
    """
    a = scenario.attack
    reference = reference[np.isfinite(reference).all(axis=1)]
    metrics = {"attack_reference_rows": len(reference)}
    if upper_bound(scenario):
        metrics["attack_upper_bound"] = 1.0
    if len(malicious) == 0 or (needs_reference and len(reference) == 0):
        return malicious.astype(np.float32, copy=True), metrics
    params = a.params
    if a.type == "alie" and params.z is None and knowledge(scenario) == "colluding":
        # Colluders do not count the honest clients; they know the cohort size, n (FedBuff:
        # the buffer's).
        async_ = scenario.system.mode == "async"
        cohort = scenario.system.fedbuff.buffer if async_ else scenario.federation.clients_per_round
        n = max(cohort, len(malicious))
        try:
            params = dataclasses.replace(params, z=alie_z(n, len(malicious)))
        except ValueError as exc:
            return malicious.astype(np.float32, copy=True), {
                **metrics,
                "attack_skipped": 1.0,
                "attack_error": str(exc),
            }
    if params is not a.params:
        scenario = dataclasses.replace(scenario, attack=dataclasses.replace(a, params=params))
    rng = seeding.rng(scenario.seed, round_, 0, seeding.ATTACK)
    try:
        fn = lookup(MODEL_ATTACKS, a.type).fn
        if a.type == "fang":  # the paper's partial knowledge is the colluders' estimate
            fn = functools.partial(fn, partial=knowledge(scenario) == "colluding")
        # `view`: what the newer attacks read (the defense in place, the model's history).
        rows, more = frontier.craft(scenario, reference, malicious, rng, view, fn)
    except ValueError as exc:  # e.g. ALIE's z is undefined with a malicious majority
        return malicious.astype(np.float32, copy=True), {
            **metrics,
            "attack_skipped": 1.0,
            "attack_error": str(exc),
        }
    return np.asarray(rows, np.float32), {**metrics, **more}


def craft_by_id(
    scenario,
    round_: int,
    own: dict[int, np.ndarray],
    honest: dict[int, np.ndarray],
    *,
    needs_reference: bool,
) -> tuple[dict[int, np.ndarray], dict]:
    """The colluders' coordinator: crafted rows by client id from their own updates.

    `own` holds the malicious clients' own updates (client id -> (d,) float32); `honest` is
    empty unless the run is an omniscient upper bound, when it holds the honest ones. Rows
    go in by ascending client id, as the plaintext path orders them, so both craft alike.
    """
    ids = sorted(own)
    dim = len(next(iter(own.values()))) if own else 0
    mine = np.stack([own[c] for c in ids]) if ids else np.zeros((0, dim), np.float32)
    if knowledge(scenario) == "omniscient":
        reference = np.stack([honest[c] for c in sorted(honest)]) if honest else mine[:0]
    else:
        reference = mine
    rows, metrics = craft(scenario, round_, reference, mine, needs_reference=needs_reference)
    return {c: rows[i] for i, c in enumerate(ids)}, metrics
