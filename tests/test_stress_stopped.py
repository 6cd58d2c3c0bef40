"""`fedray stress` tables: a run stopped early (privacy budget) says at which round."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from fedray.stress import Cell, _run_dir, collect
from fedray.stress_tables import markdown, summarize

AXIS = "privacy.on_budget"


def fake_run(out, cell, seed, rounds, stopped_at=None):
    run_dir = _run_dir(out, cell, seed)
    run_dir.mkdir(parents=True)
    summary = {"rounds": rounds, "final_test_accuracy": 0.5, "best_test_accuracy": 0.5}
    if stopped_at is not None:  # as fedray.engine reports a run the budget stopped
        summary |= {"stopped_at_round": stopped_at, "stop_reason": "privacy budget: ..."}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    pq.write_table(pa.Table.from_pylist([{"round": rounds}]), run_dir / "metrics.parquet")


def test_stopped_at_round_is_in_the_run_and_cell_tables(tmp_path):
    stop, warn = Cell(((AXIS, "stop"),)), Cell(((AXIS, "warn"),))
    fake_run(tmp_path, stop, 0, 4, stopped_at=4)
    fake_run(tmp_path, stop, 1, 6, stopped_at=6)
    fake_run(tmp_path, warn, 0, 10)
    fake_run(tmp_path, warn, 1, 10)

    runs = collect(tmp_path, [stop, warn], [0, 1])
    table = summarize(runs, [AXIS]).to_pylist()

    assert [r["stopped_at_round"] for r in runs] == [4, 6, None, None]
    assert table[0]["stopped_at_round_mean"] == 5.0 and table[0]["stopped_at_round_std"] == 1.0
    assert table[1]["stopped_at_round_mean"] is None  # every run went to its last round
    text = markdown(summarize(runs, [AXIS]), [AXIS])
    assert "### stopped_at_round" in text and "| stop | 5.000 ± 1.000 |" in text
    assert "| warn | - |" in text
