"""Compression through the engine: bytes as encoded in clients.parquet and metrics.parquet,
bitwise reproducibility with 1 or 2 workers and after a resume with residuals and copies."""

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from fedray import compression
from fedray.scenario import load_scenario
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

D = 650  # logreg on digits: 64 x 10 weights + 10 biases
BASE = tiny(
    rounds=4,
    compression={
        "type": "topk",
        "fraction": 0.05,
        "error_feedback": True,
        "downlink": {"type": "qsgd", "bits": 4, "bucket": 128},
    },
    evaluation={"federated_clients": 0},
    federation={"population": 12, "clients_per_round": 6},
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, warm):
    tmp = tmp_path_factory.mktemp("compression")
    one = fedray.run({**BASE, "resources": {"num_workers": 1}}, out=tmp / "one", warm=warm)
    # Two workers for two rounds, then a resume that must find the residuals and copies.
    fedray.run({**BASE, "rounds": 2, "resources": {"num_workers": 2}}, out=tmp / "part", warm=warm)
    resumed = fedray.run(None, ["rounds=4"], resume=tmp / "part", warm=warm)
    return one, resumed


def test_bitwise_with_one_or_two_workers_and_after_resume(runs):
    one, resumed = runs
    assert one.params.tobytes() == resumed.params.tobytes()
    for column in ("bytes_up_total", "bytes_down_total", "test_accuracy", "train_loss"):
        assert one.history.column(column).to_pylist() == resumed.history.column(column).to_pylist()
    # The checkpoint linked the residuals and the copies beside SCAFFOLD's main table.
    saved = resumed.out_dir / "checkpoints" / "round_0000002.clients"
    assert list((saved / "residual").glob("seg_*.npy")) and list((saved / "copy").glob("seg_*.npy"))


def test_bytes_are_those_of_the_encoding_per_client_and_per_round(runs):
    one = runs[0]
    section = load_scenario(BASE).compression
    clients = pq.read_table(one.out_dir / "clients.parquet").to_pylist()
    trained = [r for r in clients if r["status"] == "trained"]
    assert trained and all(
        r["bytes_up"] == compression.payload_bytes(section, D, "up") for r in trained
    )
    # The first time a client is seen it downloads the whole model, later only the delta.
    seen, down = set(), compression.payload_bytes(section, D, "down")
    for r in sorted(trained, key=lambda r: (r["round"], r["client_id"])):
        first = r["client_id"] not in seen
        assert r["bytes_down"] == (compression.payload_bytes(None, D, "down") if first else down)
        seen.add(r["client_id"])
    rows = one.history.to_pylist()
    for row in rows:
        mine = [r for r in trained if r["round"] == row["round"]]
        assert row["bytes_up_total"] == sum(r["bytes_up"] for r in mine)
        assert row["bytes_down_mean"] == pytest.approx(np.mean([r["bytes_down"] for r in mine]))
    assert rows[-1]["bytes_up_cumulative"] == sum(r["bytes_up"] for r in trained)


def test_random_k_with_a_shared_seed_is_summed_securely_on_its_coordinates(tmp_path, warm):
    from fedray.compression.clients import shared_indices
    from fedray.prepare import prepare

    scenario = tiny(
        rounds=1,
        compression={"type": "randomk", "fraction": 0.1, "shared": True},
        secure_aggregation={"protocol": "secagg", "clip": 1.0, "max_weight": 40},
        evaluation={"federated_clients": 0},
    )
    result = fedray.run(scenario, out=tmp_path / "secure", warm=warm)

    s = load_scenario(scenario)
    moved = np.flatnonzero(result.params != prepare(s).initial_params)
    shared = shared_indices(s, 1, D)  # 65 of the 650 coordinates
    # Only those moved (not all of them: digits' border pixels are always 0, so their
    # weights get no gradient).
    assert set(moved.tolist()) <= set(shared.tolist()) and len(moved) > len(shared) // 2
    clients = pq.read_table(result.out_dir / "clients.parquet").to_pylist()
    masked = [c["secagg_bytes_up"] for c in clients if c["status"] == "trained"]
    # Masked, each client's input is 66 integers (65 coordinates and its weight), not 651.
    assert masked and all(c["bytes_up"] is None for c in clients)
    assert max(masked) < 4 * 651
