"""Local DP's ledger on the driver, where the experimenter sees it, under secure aggregation.

Sample-level DP-SGD accounts each client by its own sample rate q = batch / n_k, i.e. by
its dataset size. Without secure aggregation the Aggregator keeps that ledger; with it, the
server must learn nothing but sums (DESIGN: "no per-client sizes, norms or accounting
inputs"), so the driver keeps the ledger instead and only merges it into the checkpoint it
writes itself. On resume it is split off again before the state reaches the Aggregator.
"""

from __future__ import annotations

from dataclasses import replace

from fedray.server import privacy
from fedray.server.state import ServerState

LOCAL_KEYS = ("local_ids", "local_z", "local_q", "local_steps", "local_eps")


def kept_by_driver(scenario) -> bool:
    """Whether local DP's accounting must stay off the Aggregator (secure aggregation is on)."""
    return scenario.privacy.mode == "local" and scenario.secure_aggregation.protocol != "none"


class DriverLedger:
    """Each client's (id, z, q, total steps, epsilon) for local DP-SGD, held on the driver."""

    def __init__(self, scenario, state: dict | None = None):
        self.scenario = scenario
        self.state = dict(state or {})

    def record(self, ids, zs, qs, steps) -> dict:
        """Add a round's DP-SGD steps; return the privacy metrics of the ledger so far."""
        self.state = privacy.record_local(self.scenario, self.state, ids, zs, qs, steps)
        return privacy.local_metrics(self.scenario, self.state)

    def projection(self, ids, zs, qs, steps) -> float:
        """The largest epsilon once `ids` take their planned steps (see `local_projection`)."""
        return privacy.local_projection(self.scenario, self.state, ids, zs, qs, steps)

    def merged(self, state: ServerState) -> ServerState:
        """The Aggregator's state with this ledger added: what the driver checkpoints."""
        return replace(state, privacy_state={**state.privacy_state, **self.state})


def split(scenario, state: ServerState) -> tuple[ServerState, DriverLedger | None]:
    """(state for the Aggregator, the driver's ledger or None) from a (resumed) state."""
    if not kept_by_driver(scenario):
        return state, None
    ledger = {k: v for k, v in state.privacy_state.items() if k in LOCAL_KEYS}
    rest = {k: v for k, v in state.privacy_state.items() if k not in LOCAL_KEYS}
    return replace(state, privacy_state=rest), DriverLedger(scenario, ledger)
