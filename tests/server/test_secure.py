"""The server's secure-aggregation plan and the worker's client sessions, in one process:
buckets, t and k, dropout schedules, and bucket means equal to the plain weighted means."""

import numpy as np
import pytest

from fedray.client.secure import SecureClients, drop_stage
from fedray.engine import sample_clients
from fedray.scenario import load_scenario
from fedray.secagg.encoding import error_bound
from fedray.server.secure import (
    SecureRound,
    bucket_sizes,
    colluders,
    round_plan,
    session_params,
)
from tests.factories import tiny

SECAGG = {"protocol": "secagg", "clip": 1.0, "bits": 20, "modulus_bits": 48, "max_weight": 50}


def scenario(**secure):
    return load_scenario(
        tiny(
            federation={"population": 40, "clients_per_round": 12},
            secure_aggregation={**SECAGG, **secure},
        )
    )


@pytest.mark.parametrize("n, b, sizes", [(12, 0, [12]), (12, 1, [12]), (12, 5, [3, 3, 2, 2, 2])])
def test_bucket_sizes_are_as_equal_as_possible(n, b, sizes):
    assert bucket_sizes(n, b) == sizes


def test_round_plan_is_a_seeded_partition_of_the_cohort():
    s = scenario(buckets=3)
    cohort = np.arange(0, 24, 2)

    plan = round_plan(s, 4, cohort)

    assert sorted(np.concatenate([plan.members(b) for b in range(3)]).tolist()) == cohort.tolist()
    assert [len(plan.members(b)) for b in range(3)] == [4, 4, 4]
    assert np.array_equal(plan.bucket, round_plan(s, 4, cohort).bucket)
    assert not np.array_equal(plan.bucket, round_plan(s, 5, cohort).bucket)


def test_secagg_defaults_to_a_majority_threshold_over_everyone():
    p = session_params(scenario().secure_aggregation, 12)
    assert (p.neighbors, p.threshold) == (11, 7)


def test_secagg_plus_with_given_k_takes_a_majority_of_its_holders():
    p = session_params(
        scenario(protocol="secagg_plus", neighbors=6, allow_insecure=True).secure_aggregation, 40
    )
    assert (p.neighbors, p.threshold) == (6, 4)


def test_drop_stage_is_seeded_and_follows_the_rates():
    s = scenario(dropout={"advertise": 0.0, "share": 0.5, "masked_input": 0.0, "unmask": 0.0})
    stages = [drop_stage(0, 1, c, s.secure_aggregation.dropout) for c in range(2000)]

    assert set(stages) == {None, "share"}
    assert stages.count("share") / 2000 == pytest.approx(0.5, abs=0.05)
    assert stages == [drop_stage(0, 1, c, s.secure_aggregation.dropout) for c in range(2000)]


def run_round(s, deltas: dict, sizes: dict, round_=1):
    """One round of the protocol with both halves in this process; return the bucket rows."""
    cohort = np.array(sorted(deltas), np.int64)
    server = SecureRound(s, round_, round_plan(s, round_, cohort))
    clients = SecureClients(s)
    clients._reset(round_)
    clients._plan = server.plan  # the cohort here is not the sampled one
    clients._colluders = colluders(s, round_, server.plan)
    adverts = [a for c in cohort for a in clients.start(round_, c, deltas[c], sizes[c])]
    keys = server.keys(adverts)
    routed = server.shares(clients.share(round_, keys))
    views = server.masked(clients.mask(round_, routed))
    if s.secure_aggregation.threat_model == "malicious":  # the consistency round
        views = server.signatures(clients.sign(round_, views))
    return server.finish(clients.unmask(round_, views)), clients


def test_bucket_rows_are_the_weighted_means_of_their_members():
    s = scenario(buckets=2)
    rng = np.random.default_rng(0)
    deltas = {c: rng.uniform(-0.5, 0.5, 30).astype(np.float32) for c in range(12)}
    sizes = {c: int(rng.integers(1, 80)) for c in range(12)}

    (batch, metrics, members), _ = run_round(s, deltas, sizes)

    assert metrics["secagg_survivors"] == 12 and batch.client_ids.tolist() == [0, 1]
    for b, row, weight in zip(batch.client_ids, batch.deltas, batch.num_examples):
        w = np.array([min(sizes[c], 50) for c in members[b]], np.float64)
        expected = (w[:, None] * np.stack([deltas[c] for c in members[b]])).sum(0) / w.sum()
        assert weight == w.sum()
        bound = error_bound(clients=len(w), clip=1.0, bits=20) * 50 / w.sum()
        assert np.abs(row - expected).max() <= bound + 1e-6


def test_dropped_clients_are_left_out_of_the_mean_and_recorded():
    s = scenario(threshold=3, allow_insecure=True, dropout={"masked_input": 0.4})
    deltas = {c: np.full(10, c / 20, np.float32) for c in range(12)}

    (batch, metrics, members), clients = run_round(s, deltas, dict.fromkeys(deltas, 10))

    kept = members[0]
    assert 3 <= len(kept) < 12 and metrics["secagg_dropped_after_sharing"] == 12 - len(kept)
    np.testing.assert_allclose(batch.deltas[0], np.mean([c / 20 for c in kept]), atol=1e-5)
    records = clients.finish(1)
    assert {c for c, r in records.items() if r["secagg_dropped_at"] == "masked_input"} == set(
        range(12)
    ) - set(kept)


def test_a_bucket_below_threshold_is_aborted_and_yields_no_row():
    s = scenario(threshold=12, dropout={"unmask": 0.5})
    deltas = {c: np.zeros(4, np.float32) for c in range(12)}

    (batch, metrics, _), _ = run_round(s, deltas, dict.fromkeys(deltas, 5))

    assert len(batch.client_ids) == 0
    assert metrics["secagg_buckets_aborted"] == 1 and "threshold" in metrics["secagg_abort"]


def test_workers_derive_the_same_plan_as_the_server():
    s = scenario(buckets=3)
    cohort = sample_clients(s.seed, 2, 40, 12, 1)
    clients = SecureClients(s)
    clients._reset(2)
    assert np.array_equal(clients._plan.bucket, round_plan(s, 2, cohort).bucket)


def test_the_bucketed_robust_path_is_the_rule_over_bucket_means():
    from fedray.server.state import ServerState, server_round

    s = load_scenario(
        tiny(
            federation={"population": 40, "clients_per_round": 12},
            defense={"type": "median"},
            secure_aggregation={**SECAGG, "buckets": 4, "weighting": "uniform"},
        )
    )
    rng = np.random.default_rng(3)
    deltas = {c: rng.uniform(-0.5, 0.5, 8).astype(np.float32) for c in range(12)}
    (batch, _, members), _ = run_round(s, deltas, dict.fromkeys(deltas, 10))

    state, metrics = server_round(ServerState(0, np.zeros(8, np.float32)), batch, s)

    means = np.stack([np.mean([deltas[c] for c in members[b]], axis=0) for b in range(4)])
    bound = error_bound(clients=3, clip=1.0, bits=20) / 3
    np.testing.assert_allclose(state.params, np.median(means, axis=0), atol=bound + 1e-6)
    assert metrics["updates_received"] == 4
