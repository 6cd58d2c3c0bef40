"""The system model end to end: the clock decides who trains; FedBuff reproduces, resumes,
and with buffer = cohort and no staleness is synchronous FedAvg."""

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from fedray.actors import WarmActors
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

SYNC = {
    "mode": "sync",
    "devices": {"speed": {"median": 20.0, "sigma": 0.8}},
    "over_commit": 0.5,
    "deadline": 6.0,
    "accept_partial": True,
    "availability": {"type": "bernoulli", "probability": 0.7},
    "dropout": {"before": 0.1, "after": 0.1},
    "accountant": "max_participation",
}
CENTRAL = {"mode": "central", "noise_multiplier": 1.0}
ASYNC = {
    "mode": "async",
    "devices": {"speed": {"median": 20.0, "sigma": 0.8}},
    "availability": {"type": "bernoulli", "probability": 0.8},
    "fedbuff": {"concurrency": 8, "buffer": 4},
}


def clients(result):
    return pq.read_table(result.out_dir / "clients.parquet").to_pylist()


@pytest.fixture(scope="module")
def warm():
    """One pool for the module's runs (they differ in scenario, not in shape)."""
    actors = WarmActors()
    yield actors
    actors.close()


@pytest.fixture(scope="module")
def sync_runs(tmp_path_factory, warm):
    tmp = tmp_path_factory.mktemp("sync")
    full = fedray.run(tiny(rounds=4, system=SYNC, privacy=CENTRAL), out=tmp / "full", warm=warm)
    # checkpoints at rounds 2 and 3
    fedray.run(tiny(rounds=3, system=SYNC, privacy=CENTRAL), out=tmp / "part", warm=warm)
    resumed = fedray.run(None, ["rounds=4"], resume=tmp / "part", warm=warm)
    return full, resumed


@pytest.fixture(scope="module")
def async_runs(tmp_path_factory, warm):
    """Two workers straight to step 5; one worker to step 3, then resumed to step 5."""
    tmp = tmp_path_factory.mktemp("async")
    two = fedray.run(tiny(rounds=5, system=ASYNC), out=tmp / "two", warm=warm)
    one = tiny(rounds=3, system=ASYNC, resources__num_workers=1)
    fedray.run(one, out=tmp / "one", warm=warm)
    resumed = fedray.run(None, ["rounds=5"], resume=tmp / "one", warm=warm)
    return two, resumed


def test_over_commitment_trains_exactly_the_first_k_finishers(sync_runs):
    rows = clients(sync_runs[0])
    k = tiny()["federation"]["clients_per_round"]

    for r in range(1, 5):
        mine = [c for c in rows if c["round"] == r]
        trained = [c for c in mine if c["status"] == "trained"]
        surplus = [c for c in mine if c["status"] == "surplus"]
        assert len(mine) == 9  # ceil(1.5 x 6) asked, each recorded once
        assert len({c["client_id"] for c in mine}) == len(mine)
        if surplus:
            assert len(trained) == k
            last = max((c["sim_finish"], c["client_id"]) for c in trained)
            assert all((c["sim_finish"], c["client_id"]) > last for c in surplus)
        assert all(c["sim_finish"] <= c["sim_start"] + 6.0 + 1e-9 for c in trained)


def test_clients_kept_out_by_the_clock_are_never_trained(sync_runs):
    rows = clients(sync_runs[0])
    out = [c for c in rows if c["sim_reason"] not in ("", None)]

    assert {c["sim_reason"] for c in out} >= {"unavailable", "dropped"}
    assert all(c["status"] == c["sim_reason"] and c["num_examples"] is None for c in out)
    assert all(c["local_steps"] == 0 for c in out)


def test_metrics_carry_virtual_and_wall_time(sync_runs):
    history = sync_runs[0].history.to_pylist()

    virtual = [r["virtual_seconds"] for r in history]
    assert virtual == sorted(virtual) and virtual[0] > 0
    assert all(r["wall_seconds"] > 0 for r in history)
    for r in history:
        assert (
            r["clients_trained"]
            + r["clients_unavailable"]
            + r["clients_dropped"]
            + r["clients_deadline"]
            + r["clients_surplus"]
            + r["clients_empty"]
            == r["clients_sampled"]
        )
    assert (sync_runs[0].out_dir / "tensorboard" / "virtual_clock").is_dir()


def test_participation_is_counted_and_bounds_epsilon_when_asked(sync_runs):
    history = sync_runs[0].history.to_pylist()
    rows = clients(sync_runs[0])
    counts: dict[int, int] = {}
    for c in rows:
        if c["status"] == "trained":
            counts[c["client_id"]] = counts.get(c["client_id"], 0) + 1
            assert c["participation"] == counts[c["client_id"]]

    assert history[-1]["participation_max"] == max(counts.values())
    for r in history:
        assert r["privacy_epsilon"] == r["privacy_epsilon_participation"]
        assert r["privacy_epsilon_poisson"] < r["privacy_epsilon"]


def test_sync_resume_continues_the_clock_to_the_same_bits(sync_runs):
    full, resumed = sync_runs

    assert resumed.summary["params_sha256"] == full.summary["params_sha256"]
    assert resumed.history.column("virtual_seconds").to_pylist() == (
        full.history.column("virtual_seconds").to_pylist()
    )
    assert [c["participation"] for c in clients(resumed)] == [
        c["participation"] for c in clients(full)
    ]


def test_async_is_bitwise_identical_with_one_or_two_workers_and_after_resume(async_runs):
    two, one_resumed = async_runs
    wall = ["wall_seconds", "elapsed_seconds"]

    assert one_resumed.params.tobytes() == two.params.tobytes()
    a, b = (r.history.drop_columns(wall).to_pydict() for r in (one_resumed, two))
    assert sorted(a) == sorted(b)
    # Federated evaluation also ran at round 3, the stopped run's last: not a difference.
    assert {k: v for k, v in a.items() if v != b[k] and not k.startswith("fed_")} == {}
    assert [c["staleness"] for c in clients(one_resumed)] == [c["staleness"] for c in clients(two)]
    staleness = [c["staleness"] for c in clients(two) if c["status"] == "trained"]
    assert max(staleness) > 0 and len(staleness) == 5 * 4
    assert (two.out_dir / "checkpoints" / "fedbuff_0000004.npz").exists()  # versions in flight


def test_fedbuff_with_buffer_equal_to_the_cohort_and_no_staleness_is_fedavg(tmp_path, warm):
    # iid digits: every client holds 57 or 58 training examples, one step of batch 64, so
    # with equal devices every client of a fill reports at the same instant.
    base = dict(rounds=3, data__partition={"type": "iid"}, client__batch_size=64)
    system = {
        "mode": "async",
        "fedbuff": {"concurrency": 6, "buffer": 6, "staleness": "constant"},
    }
    sync = fedray.run(tiny(**base), out=tmp_path / "sync", warm=warm)
    buffered = fedray.run(tiny(**base, system=system), out=tmp_path / "async", warm=warm)

    assert buffered.params.tobytes() == sync.params.tobytes()
    assert set(c["staleness"] for c in clients(buffered) if c["status"] == "trained") == {0}
    np.testing.assert_array_equal(
        buffered.history.column("test_accuracy"), sync.history.column("test_accuracy")
    )


SECURE = {"protocol": "secagg_plus", "bits": 24}


@pytest.fixture(scope="module")
def secure_async_runs(tmp_path_factory, warm):
    """FedBuff under SecAgg+ (a session per buffer): two workers straight to step 5; one
    worker to step 3, then resumed."""
    tmp = tmp_path_factory.mktemp("secure_async")
    two = fedray.run(
        tiny(rounds=5, system=ASYNC, secure_aggregation=SECURE), out=tmp / "two", warm=warm
    )
    one = tiny(rounds=3, system=ASYNC, secure_aggregation=SECURE, resources__num_workers=1)
    fedray.run(one, out=tmp / "one", warm=warm)
    resumed = fedray.run(None, ["rounds=5"], resume=tmp / "one", warm=warm)
    return two, resumed


def test_fedbuff_under_secure_aggregation_sums_each_buffer(secure_async_runs, async_runs):
    secure, plain = secure_async_runs[0], async_runs[0]
    history = secure.history.to_pylist()

    # One session per server step among the buffer's members, every one of them unmasked:
    # the server's step is the plaintext one up to the fixed-point rounding of the sum.
    assert [r["secagg_survivors"] for r in history] == [4] * 5
    assert all(r["secagg_bytes_up_mean"] > 4 * len(secure.params) for r in history)
    np.testing.assert_allclose(secure.params, plain.params, atol=1e-4)
    assert secure.params.tobytes() != plain.params.tobytes()  # it did go through the field
    rows = [c for c in clients(secure) if c["status"] == "trained"]
    assert [c["staleness"] for c in rows] == [
        c["staleness"] for c in clients(plain) if c["status"] == "trained"
    ]
    assert all(c["secagg_dropped_at"] == "" and c["secagg_bytes_up"] > 0 for c in rows)


def test_fedbuff_under_secure_aggregation_reproduces_with_one_or_two_workers(
    secure_async_runs,
):
    two, one_resumed = secure_async_runs

    assert one_resumed.params.tobytes() == two.params.tobytes()
    assert one_resumed.history.column("test_accuracy") == two.history.column("test_accuracy")
