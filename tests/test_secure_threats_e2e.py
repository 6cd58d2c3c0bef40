"""Secure aggregation's guarantees through the engine: a run below the security target
reports it, and local DP's per-client accounting stays on the driver."""

import json

import numpy as np
import pytest

import fedray
from fedray import checkpoint
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


@pytest.fixture(scope="module")
def insecure_local_dp(tmp_path_factory):
    scenario = tiny(
        rounds=2,
        federation={"population": 20, "clients_per_round": 8},
        secure_aggregation={"protocol": "secagg", "threshold": 2, "allow_insecure": True},
        privacy={"mode": "local", "noise_multiplier": 1.0, "clip": 1.0},
        evaluation={"federated_clients": 0},
    )
    return fedray.run(scenario, out=tmp_path_factory.mktemp("insecure") / "run")


def test_allow_insecure_is_reported_in_metrics_and_summary(insecure_local_dp):
    rows = insecure_local_dp.history.to_pylist()
    summary = json.loads((insecure_local_dp.out_dir / "summary.json").read_text())

    # 8 clients, 2 corrupt, t = 2: the corrupt pool every secret, certainly
    assert [r["secagg_insecure_probability"] for r in rows] == [1.0, 1.0]
    assert summary["secagg_insecure_probability"] == 1.0


def test_local_dp_under_secagg_is_accounted_and_checkpointed_by_the_driver(insecure_local_dp):
    rows = insecure_local_dp.history.to_pylist()
    state = checkpoint.load_latest(insecure_local_dp.out_dir)

    assert all(r["privacy_epsilon"] > 0 for r in rows)
    assert rows[1]["privacy_epsilon"] >= rows[0]["privacy_epsilon"]
    assert np.isclose(state.privacy_state["local_eps"].max(), rows[-1]["privacy_epsilon"])
