"""Secure aggregation through the engine: the protocol across worker actors and the
Aggregator, dropouts, aborts, buckets, and what the server gets to see."""

import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

FAST = {"federated_clients": 0}
SECAGG = {"protocol": "secagg", "clip": 1.0, "bits": 20, "modulus_bits": 40, "max_weight": 1000}
LOW_T = {"allow_insecure": True}  # thresholds below the security target, to exercise dropouts


@pytest.mark.parametrize("protocol", ["secagg", "secagg_plus"])
def test_secure_fedavg_matches_plain_fedavg_up_to_quantization(tmp_path, protocol, warm):
    plain = fedray.run(tiny(rounds=2, evaluation=FAST), out=tmp_path / "plain", warm=warm)
    secure = fedray.run(
        tiny(
            rounds=2,
            evaluation=FAST,
            secure_aggregation={**SECAGG, "protocol": protocol, "neighbors": 4},
        ),
        out=tmp_path / "secure",
        warm=warm,
    )

    # Every client weighs min(n, 1000) = n, as in FedAvg; updates are within the clip range,
    # so the only difference is 20-bit stochastic rounding: ~1e-6 per coordinate.
    assert np.abs(secure.params - plain.params).max() < 1e-4
    row = secure.history.to_pylist()[-1]
    assert row["secagg_survivors"] == 6 and row["secagg_buckets_aborted"] == 0
    assert row["secagg_bytes_up_mean"] > 0 and row["secagg_server_seconds"] > 0


def test_dropouts_at_every_stage_are_recovered(tmp_path, warm):
    scenario = tiny(
        rounds=3,
        federation={"population": 20, "clients_per_round": 12},
        secure_aggregation={
            **SECAGG,
            "threshold": 3,
            **LOW_T,
            "dropout": {"advertise": 0.1, "share": 0.1, "masked_input": 0.2, "unmask": 0.1},
        },
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    h = result.history.to_pydict()
    assert sum(h["secagg_dropped_after_sharing"]) > 0  # their masks were removed
    assert sum(h["secagg_buckets_aborted"]) == 0
    assert np.isfinite(result.params).all()
    clients = pq.read_table(result.out_dir / "clients.parquet").to_pylist()
    stages = {c["secagg_dropped_at"] for c in clients if c["status"] == "trained"}
    assert "masked_input" in stages and "" in stages


def test_too_few_survivors_fail_the_round_and_change_nothing(tmp_path, warm):
    scenario = tiny(
        rounds=2,
        secure_aggregation={**SECAGG, **LOW_T, "threshold": 6, "dropout": {"masked_input": 0.9}},
        evaluation=FAST,
    )
    start = fedray.run(
        {
            **scenario,
            "rounds": 1,
            "secure_aggregation": {**scenario["secure_aggregation"], "dropout": {"advertise": 1.0}},
        },
        out=tmp_path / "none",
        warm=warm,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    h = result.history.to_pydict()
    assert h["secagg_buckets_aborted"] == [1, 1]
    assert "survived" in h["secagg_abort"][0]
    assert h["updates_aggregated"] == [0, 0]
    np.testing.assert_array_equal(result.params, start.params)  # never moved


def test_buckets_run_a_robust_rule_over_bucket_means(tmp_path, warm):
    scenario = tiny(
        rounds=2,
        federation={"population": 20, "clients_per_round": 12},
        defense={"type": "median"},
        secure_aggregation={**SECAGG, "buckets": 4},
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    h = result.history.to_pydict()
    assert h["secagg_buckets"] == [4, 4]
    assert h["updates_received"] == [4, 4]  # the rule saw four bucket means, not 12 updates
    assert np.isfinite(result.params).all()


def test_secure_runs_are_reproducible_bit_for_bit(tmp_path, warm):
    scenario = tiny(
        rounds=2,
        evaluation=FAST,
        secure_aggregation={
            **SECAGG,
            "protocol": "secagg_plus",
            "neighbors": 4,
            "dropout": {"masked_input": 0.2},
        },
    )

    a = fedray.run(scenario, out=tmp_path / "a", warm=warm)
    b = fedray.run(scenario, out=tmp_path / "b", warm=warm)

    np.testing.assert_array_equal(a.params, b.params)  # fresh keys, same sums


def test_the_aggregator_never_receives_an_unmasked_update(monkeypatch):
    """Drive one round through a Worker and the Aggregator (plain objects, same code as the
    actors) and record everything that reaches the server's side of the protocol."""
    import ray

    from fedray import seeding
    from fedray.api import prepare
    from fedray.client.worker import Worker
    from fedray.engine import sample_clients
    from fedray.scenario import load_scenario
    from fedray.scenario.convert import to_plain
    from fedray.secagg.messages import EncryptedShare, PublicKeys, UnmaskResponse
    from fedray.server import secure
    from fedray.server.aggregator import Aggregator
    from fedray.server.state import ServerState

    scenario = load_scenario(tiny(secure_aggregation={**SECAGG, "dropout": {"masked_input": 0.2}}))
    plain = to_plain(scenario)
    received = []
    for stage in ("keys", "shares", "masked", "finish"):
        original = getattr(secure.SecureRound, stage)

        def spy(self, messages, _original=original):
            received.append(messages)
            return _original(self, messages)

        monkeypatch.setattr(secure.SecureRound, stage, spy)
    params = prepare(scenario).initial_params
    worker, aggregator = Worker(plain), Aggregator(plain, ServerState(0, params))
    cohort = sample_clients(scenario.seed, 1, 20, 6, seeding.SAMPLE)
    ids = cohort.tolist()

    keys, _ = worker.train(params, 1, ids)
    aggregator.secagg_begin(1, cohort)
    to_share = aggregator.secagg_keys([ids], [ray.put(keys)])
    routed = aggregator.secagg_shares([ids], [ray.put(worker.secagg_share(1, to_share))])
    inputs = dict(worker.secure.inputs)  # the encoded updates, just before they are masked
    masked = worker.secagg_mask(1, routed)
    survivors = aggregator.secagg_masked([ids], [ray.put(masked)])
    metrics = aggregator.secagg_step(1, [ray.put(worker.secagg_unmask(1, survivors))])

    kinds = (PublicKeys, EncryptedShare, UnmaskResponse)
    adverts, shares, vectors, responses = received
    assert all(isinstance(m, kinds) for part in (adverts, shares, responses) for m in part)
    assert set(vectors) <= set(inputs) and len(vectors) >= 3
    for cid, y in vectors.items():
        x = inputs[cid]
        assert y.dtype == np.uint64 and y.shape == x.shape
        assert np.mean(y == x) < 1e-3  # no coordinate goes out as it is
        assert abs(np.corrcoef(y.astype(np.float64), x.astype(np.float64))[0, 1]) < 0.2
    assert metrics["secagg_survivors"] == len(vectors)
    assert not hasattr(aggregator, "deltas")


def test_a_worker_lost_mid_protocol_takes_its_clients_with_it(tmp_path, monkeypatch, warm):
    import ray

    from fedray.client.pool import WorkerPool

    original, lost = WorkerPool.call, []

    def call(self, holders, method, round_, messages=None):
        if method == "secagg_mask" and round_ == 2 and not lost:
            w, ids = holders[0]
            ray.get(messages[0])  # the server has routed everyone's shares: the worker's shared
            pid = ray.get(self.actors[w].info.remote())["pid"]
            ray.kill(self.actors[w], no_restart=False)  # then it is preempted
            # ray.kill is asynchronous: a call sent before the process is gone may still be
            # answered by it, and then nothing was lost. Wait until it is gone.
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            lost.extend(ids)
        return original(self, holders, method, round_, messages)

    monkeypatch.setattr(WorkerPool, "call", call)
    scenario = tiny(
        rounds=3,
        federation={"population": 20, "clients_per_round": 12},
        secure_aggregation={**SECAGG, **LOW_T, "threshold": 3},
        resources={"num_workers": 2},
        evaluation=FAST,
    )

    # On a warm pool created for a plain run: Ray restarts the killed worker with that run's
    # scenario, and the pool must see it and re-initialise it before round 3.
    fedray.run(tiny(rounds=1, evaluation=FAST), out=tmp_path / "plain", warm=warm)
    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    h = result.history.to_pydict()
    assert 0 < len(lost) < 12
    assert h["secagg_dropped_after_sharing"] == [0, len(lost), 0]  # their masks were removed
    assert h["secagg_survivors"] == [12, 12 - len(lost), 12]  # the next round has them again
    assert h["secagg_buckets_aborted"] == [0, 0, 0]
    clients = pq.read_table(result.out_dir / "clients.parquet").to_pylist()
    gone = {c["client_id"] for c in clients if c["round"] == 2 and c["secagg_dropped_at"]}
    assert gone == set(lost)


def test_a_non_finite_update_is_refused_before_it_is_encoded(tmp_path, warm):
    scenario = tiny(
        rounds=1,
        client={"lr": 1e38, "epochs": 3},
        evaluation=FAST,
        secure_aggregation={**SECAGG, "modulus_bits": 64, "bits": 20, "threshold": 2, **LOW_T},
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    row = result.history.to_pylist()[0]
    clients = pq.read_table(result.out_dir / "clients.parquet").to_pylist()
    rejected = [c for c in clients if c["status"] == "rejected"]
    assert len(rejected) >= 3 and row["rejected_nonfinite"] == len(rejected)
    assert all(c["secagg_dropped_at"].startswith("rejected") for c in rejected)
    assert row["secagg_survivors"] <= 6 - len(rejected)  # only finite updates were masked
    assert np.isfinite(result.params).all() and np.abs(result.params).max() < 10
