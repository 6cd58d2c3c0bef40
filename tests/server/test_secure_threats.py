"""The server attacks through the actor glue (SecureRound and SecureClients in one process):
what the run reports as leaked under semi-honest, and as caught under malicious."""

import numpy as np
import pytest

from fedray.scenario import load_scenario
from fedray.server.secure import caught_metrics, session_params
from tests.factories import tiny
from tests.server.test_secure import run_round

SECAGG = {"protocol": "secagg_plus", "clip": 1.0, "bits": 20, "modulus_bits": 48}
# 12 clients, k = 6, 2 colluders: semi-honest t = 3 (2t <= k + 1), malicious t = 4 (default)
SEMI = {**SECAGG, "neighbors": 6, "threshold": 3, "allow_insecure": True}
MALICIOUS = {**SECAGG, "neighbors": 6, "threat_model": "malicious", "allow_insecure": True}


def scenario(secure: dict, attack: str):
    return load_scenario(
        tiny(
            federation={"population": 40, "clients_per_round": 12},
            secure_aggregation={**secure, "server_attack": attack, "assumed_corrupt": 0.2},
        )
    )


def attacked(secure: dict, attack: str):
    s = scenario(secure, attack)
    rng = np.random.default_rng(0)
    deltas = {c: rng.uniform(-0.5, 0.5, 20).astype(np.float32) for c in range(12)}
    return run_round(s, deltas, dict.fromkeys(deltas, 10))


def test_malicious_takes_a_threshold_above_half_the_holders_by_default():
    p = session_params(scenario(MALICIOUS, "none").secure_aggregation, 12)
    assert (p.neighbors, p.threshold, p.malicious) == (6, 4, True)


@pytest.mark.parametrize("attack", ["split_views", "drop_honest", "mitm", "replay_keys"])
def test_semi_honest_runs_report_the_clients_whose_inputs_leaked(attack):
    (_, metrics, _), clients = attacked(SEMI, attack)

    assert metrics["secagg_leaked_clients"] > 0
    ids = [int(c) for c in metrics["secagg_leaked_ids"].split(",")]
    assert len(ids) == metrics["secagg_leaked_clients"] and set(ids) <= set(range(12))
    assert caught_metrics(clients.finish(1)) == {"secagg_caught_clients": 0}


@pytest.mark.parametrize(
    "attack, reason",
    [
        ("split_views", "signed a different survivor set"),
        ("drop_honest", "fewer than t=4"),
        ("mitm", "not signed by that client's registered identity key"),
        ("replay_keys", "replayed from another instance"),
    ],
)
def test_malicious_runs_abort_with_the_reason_the_clients_caught(attack, reason):
    (batch, metrics, _), clients = attacked(MALICIOUS, attack)

    caught = caught_metrics(clients.finish(1))
    assert len(batch.client_ids) == 0 and metrics["secagg_buckets_aborted"] == 1
    assert metrics["secagg_leaked_clients"] == 0
    assert caught["secagg_caught_clients"] > 0 and reason in caught["secagg_caught"]


@pytest.mark.parametrize("attack", ["split_views", "mitm", "replay_keys"])
def test_semi_honest_attacks_hand_on_the_exact_sum_so_nothing_looks_wrong(attack):
    (honest, _, _), _ = attacked(SEMI, "none")
    (lied, metrics, _), _ = attacked(SEMI, attack)

    assert metrics["secagg_leaked_clients"] > 0
    np.testing.assert_array_equal(lied.deltas, honest.deltas)


def test_an_honest_malicious_model_round_sums_as_the_semi_honest_one():
    (semi, _, _), _ = attacked({**SECAGG, "neighbors": 6, "threshold": 4}, "none")
    (mal, metrics, _), _ = attacked(MALICIOUS, "none")

    np.testing.assert_array_equal(semi.deltas, mal.deltas)
    assert "secagg_leaked_clients" not in metrics
