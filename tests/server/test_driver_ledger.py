"""Local DP under secure aggregation: the driver keeps the per-client ledger, and the
Aggregator is never asked to account (or project) with clients' sample rates."""

import numpy as np
import pytest

from fedray.engine import Handles, account_local, budget_exceeded
from fedray.scenario import load_scenario
from fedray.server import driver_ledger, privacy
from fedray.server.state import ServerState
from tests.factories import tiny

LOCAL = {"mode": "local", "noise_multiplier": 1.0, "clip": 1.0, "budget": 50.0}


class Recorder:
    """A stand-in Aggregator handle that records every method the engine calls on it."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        recorder = self

        class Method:
            def remote(self, *args):
                recorder.calls.append((name, args))
                return 0.0

        return Method()


def handles(secure: str) -> Handles:
    s = load_scenario(tiny(secure_aggregation={"protocol": secure}, privacy=LOCAL))
    ledger = driver_ledger.DriverLedger(s) if driver_ledger.kept_by_driver(s) else None
    sizes = lambda ids: np.full(len(ids), 40)  # noqa: E731
    return Handles(s, None, Recorder(), sizes, local_z=1.0, ledger=ledger)


TRAINED = [
    {"client_id": c, "dp_noise_multiplier": 1.0, "dp_sample_rate": q, "dp_steps": 3}
    for c, q in ((2, 0.4), (5, 0.1))
]


def test_under_secure_aggregation_the_aggregator_receives_no_accounting_input():
    h = handles("secagg")

    metrics = account_local(h, TRAINED)
    budget_exceeded(h, 2)

    assert h.aggregator.calls == []  # neither account_local nor privacy_projection
    expected = privacy.local_epsilons(h.scenario, [1.0, 1.0], [0.4, 0.1], [3, 3])
    assert metrics["privacy_epsilon"] == pytest.approx(expected.max())
    assert h.ledger.state["local_ids"].tolist() == [2, 5]


def test_without_secure_aggregation_the_aggregator_keeps_the_ledger(monkeypatch):
    monkeypatch.setattr("fedray.engine._ask", lambda h, ref, method, stages=1: {})
    h = handles("none")

    account_local(h, TRAINED)

    assert [name for name, _ in h.aggregator.calls] == ["account_local"]


def test_split_keeps_the_ledger_off_the_aggregator_and_merged_restores_it():
    s = load_scenario(tiny(secure_aggregation={"protocol": "secagg"}, privacy=LOCAL))
    ledger = driver_ledger.DriverLedger(s)
    ledger.record([1, 4], [1.0, 1.0], [0.2, 0.2], [5, 5])
    saved = ledger.merged(ServerState(3, np.zeros(2, np.float32), privacy_state={"other": 1}))

    to_aggregator, resumed = driver_ledger.split(s, saved)

    assert set(to_aggregator.privacy_state) == {"other"}
    assert resumed.state["local_steps"].tolist() == [5, 5]
    assert driver_ledger.split(load_scenario(tiny(privacy=LOCAL)), saved)[1] is None
