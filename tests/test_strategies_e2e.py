"""Every strategy and defense through the engine: the wiring, not the math (that is unit-tested)."""

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

STRATEGIES = [
    {"name": "fedavgm", "momentum": 0.5},
    {"name": "fedprox", "mu": 0.1},
    {"name": "fedadam", "server_lr": 0.05},
    {"name": "fedyogi", "server_lr": 0.05},
    {"name": "fedadagrad", "server_lr": 0.05},
    {"name": "fednova"},
    {"name": "qffl", "q": 1.0},
    {"name": "scaffold"},
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s["name"])
def test_strategy_runs_and_learns(tmp_path, strategy, warm):
    result = fedray.run(
        tiny(rounds=3, strategy=strategy, evaluation={"federated_clients": 0}),
        out=tmp_path / "run",
        warm=warm,
    )

    loss = result.history.column("test_loss").to_pylist()
    assert np.isfinite(result.params).all()
    assert loss[-1] < loss[0]  # three rounds of it lower the test loss


@pytest.mark.parametrize(
    "defense",
    [
        {"type": "krum", "f": 1},
        {"type": "median", "bucketing": 2},
        {"type": "fltrust", "root_size": 50},
        {"type": "centered_clipping"},
    ],
)
def test_defense_runs_inside_fedadam(tmp_path, defense, warm):
    scenario = tiny(
        rounds=2,
        strategy={"name": "fedadam", "server_lr": 0.05},
        defense=defense,
        evaluation={"federated_clients": 0},
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    assert np.isfinite(result.params).all()
    if defense["type"] == "krum":  # Krum keeps exactly one update a round, and says whose
        assert result.history.column("defense_kept").to_pylist() == [1, 1]
        kept = pq.read_table(result.out_dir / "clients.parquet").column("kept").to_pylist()
        assert kept.count(True) == 2 and kept.count(False) == 10


def test_scaffold_is_bitwise_reproducible_across_workers_and_resume(tmp_path, warm):
    base = tiny(rounds=4, strategy={"name": "scaffold"}, evaluation={"federated_clients": 0})
    # Two workers first, on the module's warm pool of two; one worker starts last.
    two = fedray.run(
        {**base, "resources": {"num_workers": 2, "num_cpus": 1}}, out=tmp_path / "two", warm=warm
    )
    # The checkpoint holds the client variates; rounds 1's is pruned once round 2's commits.
    keep_one = {"checkpoint_every": 1, "keep_checkpoints": 1}
    fedray.run({**base, "rounds": 2, "output": keep_one}, out=tmp_path / "part", warm=warm)
    resumed = fedray.run(None, ["rounds=4"], resume=tmp_path / "part", warm=warm)

    one = fedray.run(
        {**base, "resources": {"num_workers": 1, "num_cpus": 1}}, out=tmp_path / "one", warm=warm
    )

    assert one.params.tobytes() == two.params.tobytes() == resumed.params.tobytes()
    # The variates live on disk beside the run, and each checkpoint links its own copy; the
    # resumed run kept only its newest checkpoint (round 2's went once round 3's committed).
    saved = tmp_path / "part" / "checkpoints" / "round_0000004.clients"
    assert (saved / "index.npz").exists() and list(saved.glob("seg_*.npy"))
    assert list((tmp_path / "part" / "client_state").glob("seg_*.npy"))
    assert sorted(p.name for p in saved.parent.iterdir()) == [
        "round_0000004.clients",
        "round_0000004.npz",
        "round_0000004.sha256",
    ]
