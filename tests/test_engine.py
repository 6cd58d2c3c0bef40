"""End-to-end runs through the Python API on the shared Ray cluster."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import fedray
from fedray.scenario import ScenarioError
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


def test_run_writes_every_output_and_learns(tmp_path, warm):
    result = fedray.run(tiny(rounds=4), out=tmp_path / "run", warm=warm)

    out = result.out_dir
    for name in (
        "scenario.yaml",
        "metrics.parquet",
        "clients.parquet",
        "summary.json",
        "partition.parquet",
    ):
        assert (out / name).exists(), name
    assert list((out / "tensorboard" / "federated").glob("events.out.tfevents.*"))
    assert list((out / "checkpoints").glob("round_*.npz"))
    history = result.history.to_pylist()
    assert [r["round"] for r in history] == [1, 2, 3, 4]
    for col in ("test_accuracy", "test_loss", "train_loss", "wall_seconds"):
        assert all(r[col] is not None for r in history), col
    assert history[-1]["test_accuracy"] > history[0]["test_accuracy"]
    assert (
        history[1]["fed_clients"] == 5
        and history[1]["fed_accuracy_p10"] <= history[1]["fed_accuracy_mean"]
    )
    clients = pq.read_table(out / "clients.parquet").to_pylist()
    assert len(clients) == 4 * 6
    assert all(sum(c["label_histogram"]) == c["num_examples"] for c in clients)
    # Uncompressed, each trained client still reports its bytes: 650 float32 and a header.
    sent = [c["bytes_up"] for c in clients if c["status"] == "trained"]
    assert sent and set(sent) == {6 + 4 * 650} == {
        c["bytes_down"] for c in clients if c["bytes_down"]
    }
    assert sum(r["bytes_up_total"] for r in history) == sum(sent)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == 4
    assert summary["final_test_accuracy"] == history[-1]["test_accuracy"]
    import hashlib

    assert summary["params_sha256"] == hashlib.sha256(result.params.tobytes()).hexdigest()


def test_partition_table_covers_the_training_set(tmp_path, warm):
    result = fedray.run(tiny(rounds=1), out=tmp_path / "run", warm=warm)

    partition = pq.read_table(result.out_dir / "partition.parquet")
    assert partition.num_rows == 20
    assert sum(partition.column("num_examples").to_pylist()) == 1437  # 80% of 1,797 digits


def test_resume_continues_to_the_same_bits(tmp_path, warm):
    full = fedray.run(tiny(rounds=4), out=tmp_path / "full", warm=warm)
    fedray.run(tiny(rounds=3), out=tmp_path / "part", warm=warm)  # checkpoints at rounds 2 and 3
    # A crash after round 3 was recorded and before its checkpoint: round 3 is played again.
    (tmp_path / "part" / "checkpoints" / "round_0000003.npz").unlink()

    resumed = fedray.run(None, ["rounds=4"], resume=tmp_path / "part", warm=warm)

    assert resumed.params.tobytes() == full.params.tobytes()
    assert resumed.history.column("round").to_pylist() == [1, 2, 3, 4]
    assert (
        resumed.history.column("test_accuracy").to_pylist()
        == full.history.column("test_accuracy").to_pylist()
    )
    assert pq.read_table(tmp_path / "part" / "clients.parquet").num_rows == 4 * 6
    events = EventAccumulator(str(tmp_path / "part" / "tensorboard" / "federated")).Reload()
    assert [e.step for e in events.Scalars("test/accuracy")] == [1, 2, 3, 4]
    # Round 3 was the last, with federated eval, before the crash; replayed, it is not.
    assert [e.step for e in events.Scalars("federated_eval/accuracy_p10")] == [2, 4]


def test_nonfinite_updates_are_rejected_and_counted(tmp_path, warm):
    result = fedray.run(
        tiny(rounds=2, client={"lr": 1e38, "epochs": 3}), out=tmp_path / "nan", warm=warm
    )

    history = result.history.to_pylist()
    assert sum(r["rejected_nonfinite"] for r in history) > 0
    assert all(
        r["updates_aggregated"] + r["rejected_nonfinite"] == r["updates_received"] for r in history
    )
    assert np.isfinite(result.params).all()
    statuses = pq.read_table(result.out_dir / "clients.parquet").column("status").to_pylist()
    assert "rejected" in statuses


def test_synthetic_population_of_a_million_costs_only_the_cohort(tmp_path, warm):
    scenario = tiny(
        rounds=2,
        federation={"population": 1_000_000, "clients_per_round": 5},
        data={
            "dataset": "synthetic",
            "alpha": 1.0,
            "beta": 1.0,
            "test_clients": 20,
            "max_samples": 200,
        },
        evaluation={"federated_clients": 5, "federated_every": 1},
    )

    result = fedray.run(scenario, out=tmp_path / "million", warm=warm)

    assert result.summary["rounds"] == 2
    assert result.history.column("clients_trained").to_pylist() == [5, 5]


def test_existing_output_dir_is_not_overwritten(tmp_path, warm):
    fedray.run(tiny(rounds=1), out=tmp_path / "run", warm=warm)

    with pytest.raises(ScenarioError, match="already holds a run"):
        fedray.run(tiny(rounds=1), out=tmp_path / "run", warm=warm)


def test_model_output_mismatch_is_a_scenario_error(tmp_path, warm):
    with pytest.raises(ScenarioError, match="expected \\(2, 10\\)"):
        fedray.run(
            tiny(model={"type": "tests.engine_plugins:five_class_model"}),
            out=tmp_path / "bad",
            warm=warm,
        )


def test_user_strategy_plugin_runs_in_the_aggregator(tmp_path, warm):
    scenario = tiny(rounds=2, strategy={"name": "tests.engine_plugins:frozen_strategy"})

    result = fedray.run(scenario, out=tmp_path / "plug", warm=warm)

    accuracy = result.history.column("test_accuracy").to_pylist()
    assert accuracy[0] == accuracy[1]
    assert result.history.column("frozen").to_pylist() == [1.0, 1.0]


def test_parquet_with_natural_partition_runs_end_to_end(tmp_path, warm):
    """A user's own table: a tensor column, string labels, and its own client ids."""
    import pyarrow as pa
    from sklearn.datasets import load_digits

    digits = load_digits()
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    table = pa.table(
        {
            "pixels": pa.array(
                (digits.data / 16.0).astype(np.float32).tolist(), pa.list_(pa.float32())
            ),
            "label": names[digits.target],
            "writer": np.arange(len(digits.target)) % 12,
        }
    )
    path = tmp_path / "digits.parquet"
    pq.write_table(table, path)
    data = {
        "dataset": "parquet",
        "path": str(path),
        "tensor_column": "pixels",
        "shape": [1, 8, 8],
        "client_column": "writer",
        "partition": {"type": "natural"},
    }

    result = fedray.run(
        tiny(
            rounds=2,
            data=data,
            federation={"population": 12, "clients_per_round": 4},
            model={"type": "cnn"},
            evaluation={"federated_clients": 0},
        ),
        out=tmp_path / "run",
        warm=warm,
    )

    partition = pq.read_table(result.out_dir / "partition.parquet")
    assert partition.num_rows == 12
    assert result.history.column("clients_trained").to_pylist() == [4, 4]
    assert 0.0 <= result.summary["final_test_accuracy"] <= 1.0


def test_population_that_does_not_match_the_natural_ids_is_a_scenario_error(tmp_path, warm):
    import pyarrow as pa

    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {"x": [0.0, 1.0, 2.0, 3.0, 4.0], "label": [0, 1, 0, 1, 0], "cid": [1, 1, 2, 2, 3]}
        ),
        path,
    )
    data = {
        "dataset": "parquet",
        "path": str(path),
        "client_column": "cid",
        "test_fraction": 0.4,
        "partition": {"type": "natural"},
    }

    with pytest.raises(ScenarioError, match="set federation.population to"):
        fedray.run(
            tiny(
                data=data,
                federation={"population": 7, "clients_per_round": 2},
                evaluation={"federated_clients": 0},
            ),
            out=tmp_path / "run",
            warm=warm,
        )


def test_resume_refuses_to_change_the_experiment(tmp_path, warm):
    fedray.run(tiny(rounds=2), out=tmp_path / "run", warm=warm)

    with pytest.raises(ScenarioError) as info:
        fedray.run(None, ["seed=9", "rounds=1"], resume=tmp_path / "run", warm=warm)

    text = str(info.value)
    assert "--set seed: a resumed run keeps its experiment" in text
    assert "rounds: the run is checkpointed at round 2 (got 1; expected >= 2)" in text


# Pools of other shapes last: the runs above share the module's warm pool of two workers.
def test_one_and_two_workers_give_identical_bits(tmp_path, warm):
    # Two first: the module's warm pool of two workers runs it (then one worker starts).
    two = fedray.run(tiny(resources__num_workers=2), out=tmp_path / "two", warm=warm)
    one = fedray.run(tiny(resources__num_workers=1), out=tmp_path / "one", warm=warm)

    assert one.summary["num_workers"] == 1 and two.summary["num_workers"] == 2
    assert one.params.tobytes() == two.params.tobytes()
    drop = {"wall_seconds", "elapsed_seconds"}
    rows = [
        [{k: v for k, v in r.items() if k not in drop} for r in x.history.to_pylist()]
        for x in (one, two)
    ]
    assert rows[0] == rows[1]


def test_cross_silo_gives_each_client_its_actor(tmp_path, warm):
    scenario = tiny(
        federation={"population": 4, "clients_per_round": 2},
        resources={"num_cpus": 0.5},
        evaluation={"federated_clients": 0},
    )

    result = fedray.run(scenario, out=tmp_path / "silo", warm=warm)

    assert result.summary["mode"] == "cross-silo" and result.summary["num_workers"] == 4
    assert np.isfinite(result.params).all()
