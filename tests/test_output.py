"""A run killed after writing its tables but before the checkpoint that commits them."""

import numpy as np
import pyarrow.parquet as pq

from fedray import checkpoint
from fedray.output import RunOutput
from fedray.scenario import load_scenario
from fedray.server.state import ServerState
from tests.factories import tiny


def play(output: RunOutput, rounds) -> None:
    for r in rounds:
        row = {"round": r, "wall_seconds": 0.1, "test_accuracy": r / 10}
        clients = [{"round": r, "client_id": c, "status": "trained"} for c in (1, 2)]
        output.record(row, clients, {})


def test_tables_written_past_the_last_checkpoint_are_dropped_on_resume(tmp_path):
    scenario = load_scenario(tiny(rounds=6, output={"tensorboard": False}))
    first = RunOutput(tmp_path, scenario)
    play(first, [1, 2])
    first.checkpoint(ServerState(2, np.zeros(3, np.float32)))
    play(first, [3, 4])
    first.clients.flush(3, 4)  # what `checkpoint` writes before the checkpoint itself ...
    first.history.save()  # ... and then the process is killed

    second = RunOutput(tmp_path, scenario, resume_from=checkpoint.load_latest(tmp_path).round)
    play(second, [3, 4, 5, 6])
    second.checkpoint(ServerState(6, np.zeros(3, np.float32)))
    second.finish(np.zeros(3, np.float32), {})

    metrics = pq.read_table(tmp_path / "metrics.parquet").column("round").to_pylist()
    clients = pq.read_table(tmp_path / "clients.parquet").select(["round", "client_id"])
    assert metrics == [1, 2, 3, 4, 5, 6]
    assert clients.to_pylist() == [
        {"round": r, "client_id": c} for r in range(1, 7) for c in (1, 2)
    ]


def test_round_rows_go_to_one_part_per_checkpoint_and_a_run_from_before_parts_resumes(tmp_path):
    scenario = load_scenario(tiny(rounds=6, output={"tensorboard": False}))
    first = RunOutput(tmp_path, scenario)
    play(first, [1, 2])
    first.checkpoint(ServerState(2, np.zeros(3, np.float32)))
    play(first, [3, 4])
    first.checkpoint(ServerState(4, np.zeros(3, np.float32)))
    parts = sorted(p.name for p in (tmp_path / "metrics.parts").iterdir())
    assert parts == ["0000001-0000002.parquet", "0000003-0000004.parquet"]
    assert not (tmp_path / "metrics.parquet").exists()  # joined once, at the end
    # A run written before part files had only metrics.parquet: resuming keeps its rows.
    first.history.finish()
    for part in (tmp_path / "metrics.parts").iterdir():
        part.unlink()

    second = RunOutput(tmp_path, scenario, resume_from=4)
    play(second, [5, 6])
    second.checkpoint(ServerState(6, np.zeros(3, np.float32)))
    second.finish(np.zeros(3, np.float32), {})

    metrics = pq.read_table(tmp_path / "metrics.parquet").column("round").to_pylist()
    assert metrics == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in (tmp_path / "metrics.parts").iterdir()) == [
        "0000001-0000004.parquet",
        "0000005-0000006.parquet",
    ]
