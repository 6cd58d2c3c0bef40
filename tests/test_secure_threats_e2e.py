"""Secure aggregation's guarantees through the engine: a run below the security target
reports it, and local DP's per-client accounting stays on the driver."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from fedray import checkpoint
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


@pytest.fixture(scope="module")
def insecure_local_dp(tmp_path_factory, warm):
    scenario = tiny(
        rounds=2,
        federation={"population": 20, "clients_per_round": 8},
        secure_aggregation={"protocol": "secagg", "threshold": 2, "allow_insecure": True},
        privacy={"mode": "local", "noise_multiplier": 1.0, "clip": 1.0},
        evaluation={"federated_clients": 0},
    )
    return fedray.run(scenario, out=tmp_path_factory.mktemp("insecure") / "run", warm=warm)


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


def attacked_run(tmp_path_factory, warm, name: str, **secure):
    scenario = tiny(
        rounds=2,
        federation={"population": 20, "clients_per_round": 8},
        secure_aggregation={"protocol": "secagg", "assumed_corrupt": 0.25, **secure},
        evaluation={"federated_clients": 0},
    )
    return fedray.run(scenario, out=tmp_path_factory.mktemp(name) / "run", warm=warm)


@pytest.fixture(scope="module")
def mitm_semi_honest(tmp_path_factory, warm):
    return attacked_run(tmp_path_factory, warm, "mitm_semi", server_attack="mitm")


@pytest.fixture(scope="module")
def mitm_malicious(tmp_path_factory, warm):
    return attacked_run(
        tmp_path_factory, warm, "mitm_mal", server_attack="mitm", threat_model="malicious"
    )


def test_a_man_in_the_middle_is_invisible_to_semi_honest_clients_yet_reads_every_input(
    mitm_semi_honest,
):
    # (that the sums it hands on are exact is checked round by round in
    # tests/server/test_secure_threats.py, without Ray)
    rows = mitm_semi_honest.history.to_pylist()
    summary = json.loads((mitm_semi_honest.out_dir / "summary.json").read_text())

    assert all(r["secagg_buckets_aborted"] == 0 for r in rows)
    assert [r["secagg_leaked_clients"] for r in rows] == [8, 8]
    assert summary["secagg_leaked_clients"] == 16 and summary["secagg_caught"] is None


def test_malicious_clients_catch_the_man_in_the_middle_and_nothing_is_applied(
    mitm_semi_honest, mitm_malicious
):
    rows = mitm_malicious.history.to_pylist()
    summary = json.loads((mitm_malicious.out_dir / "summary.json").read_text())
    clients = pq.read_table(mitm_malicious.out_dir / "clients.parquet").to_pylist()

    assert all(r["secagg_buckets_aborted"] == 1 and r["secagg_leaked_clients"] == 0 for r in rows)
    assert all(r["secagg_caught_clients"] == 8 for r in rows)
    assert "not signed by that client's registered identity key" in summary["secagg_caught"]
    assert all("caught the server" in c["secagg_dropped_at"] for c in clients)
    assert not np.array_equal(mitm_malicious.params, mitm_semi_honest.params)  # nothing applied
