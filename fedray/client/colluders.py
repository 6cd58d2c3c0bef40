"""Model poisoning under secure aggregation: the colluders craft their rows before masking.

The server never sees an individual update, so the adversary cannot act on the server's
side as in plaintext. Instead, in each attacked round:

1. every malicious client trains honestly on its own data; its worker holds that update
   back (`Colluders.hold`) instead of opening its secure-aggregation session;
2. the coordinator, a step of the round run by the orchestration layer on behalf of the
   colluders (`coordinate`), collects only those held rows (`Worker.collude_rows`), crafts
   the attack from their statistics (`fedray.attacks.collusion.craft_by_id`) and sends each
   worker its clients' crafted rows;
3. the workers open the malicious clients' sessions with the crafted rows
   (`Worker.secagg_collude`): from there on they are masked like any other client's, and
   their public keys join the honest ones' in the protocol's first stage.

Honest rows reach the coordinator only in an omniscient run, which validation accepts under
secure aggregation only with `attack.allow_omniscient` (an upper bound).
"""

from __future__ import annotations

import numpy as np

from fedray.attacks import collusion, runtime
from fedray.client.pool import answered


def attacking(scenario, round_: int) -> bool:
    """Whether the colluders craft a model attack under secure aggregation this round."""
    return (
        scenario.secure_aggregation.protocol != "none"
        and collusion.is_model_attack(scenario)
        and runtime.active(scenario, round_)
    )


class Colluders:
    """A worker's share of the adversary in one round: the updates it holds back until the
    coordinator returns their crafted rows."""

    def __init__(self, scenario, malicious: set[int]):
        self.scenario, self.malicious = scenario, malicious
        self.round = 0
        self.own: dict[int, tuple[np.ndarray, int]] = {}  # malicious: (update, num_examples)
        self.honest: dict[int, np.ndarray] = {}  # honest copies, omniscient upper bound only

    def hold(self, round_: int, client_id: int, delta: np.ndarray, num_examples: int) -> bool:
        """Keep a malicious client's update for the coordinator; True when it is held (its
        session opens later, with the crafted row). An honest update is never held; under
        an omniscient upper bound a copy is kept for the coordinator."""
        if round_ != self.round:
            self.round, self.own, self.honest = round_, {}, {}
        if not attacking(self.scenario, round_):
            return False
        if client_id in self.malicious:
            self.own[client_id] = (delta, num_examples)
            return True
        if collusion.upper_bound(self.scenario):
            self.honest[client_id] = delta.copy()
        return False

    def rows(self, round_: int) -> dict:
        """What goes to the coordinator: {"own": {id: row}, "honest": {id: row} (upper bound)}."""
        if round_ != self.round:
            return {"own": {}, "honest": {}}
        own = {c: d for c, (d, _) in self.own.items()}
        honest, self.honest = self.honest, {}
        return {"own": own, "honest": honest}

    def release(self, round_: int, crafted: dict) -> list[tuple[int, np.ndarray, int]]:
        """(client id, crafted row, num_examples) of each held client, in id order; a client
        the coordinator sent nothing for keeps its own update."""
        if round_ != self.round:
            return []
        out = [(c, crafted.get(c, d), n) for c, (d, n) in sorted(self.own.items())]
        self.own = {}
        return out


def coordinate(h, round_: int, holders: list) -> tuple[list, dict]:
    """The colluders' step of a secure round: pool the malicious clients' own updates,
    craft, hand the rows back. Returns (refs to the malicious clients' public keys, one
    list per worker as `WorkerPool.call` wraps them, and the attack's metrics)."""
    s = h.scenario
    if not attacking(s, round_):
        return [], {}
    timeout = s.resources.call_timeout
    own, honest = {}, {}
    for part in answered(h.pool.call(holders, "collude_rows", round_), timeout):
        own.update(part["own"])
        honest.update(part["honest"])
    crafted, metrics = collusion.craft_by_id(
        s, round_, own, honest, needs_reference=s.attack.type in runtime.OMNISCIENT
    )
    mine = [(w, ids) for w, ids in holders if any(c in crafted for c in ids)]
    messages = [{c: crafted[c] for c in ids if c in crafted} for _, ids in mine]
    metrics["malicious_clients"] = len(crafted)
    if crafted:  # what the colluders send, before each client's boost and clip
        norms = [float(np.linalg.norm(r.astype(np.float64))) for r in crafted.values()]
        metrics["malicious_norm_mean"] = float(np.mean(norms)) * s.attack.boost
    return h.pool.call(mine, "secagg_collude", round_, messages), metrics
