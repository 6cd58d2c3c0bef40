"""benchmarks/compression.py and compression_curves.py at toy sizes: the numbers they print
are the codecs' own sizes, and the curves' table reads runs as the engine writes them."""

import importlib.util
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from fedray import compression

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCH / f"{name}.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_rows_report_the_codecs_exact_sizes():
    bench = load("compression")
    rows = bench.measure(5000, repeat=1)

    assert [r["codec"] for r in rows] == [label for label, _ in bench.CODECS]
    for (_, spec), row in zip(bench.CODECS, rows):
        name, params = spec if spec else ("none", None)
        assert row["bytes"] == compression.size(name, params, 5000)
    # 50 values and their 13-bit indices behind a 10-byte header: 10 + 82 + 200.
    assert "| topk 1% | 292 |" in bench.markdown(rows, 5000)


def test_curves_find_the_bytes_at_equal_accuracy(tmp_path):
    curves = load("compression_curves")
    for cell, compression_, accs, per in (
        ("none", {"type": "none"}, [0.5, 0.85, 0.9], 1000),
        ("topk", {"type": "topk", "fraction": 0.01, "error_feedback": True}, [0.3, 0.6, 0.82], 50),
    ):
        run = tmp_path / "runs" / cell / "seed=0"
        run.mkdir(parents=True)
        (run / "scenario.yaml").write_text(yaml.safe_dump({"compression": compression_}))
        rows = [
            {
                "round": i + 1,
                "test_accuracy": a,
                "bytes_up_mean": per / 10,
                "bytes_up_cumulative": per * (i + 1),
                "bytes_down_cumulative": 0,
            }
            for i, a in enumerate(accs)
        ]
        pq.write_table(pa.Table.from_pylist(rows), run / "metrics.parquet")

    table = {r["label"]: r for r in curves.table(curves.load(tmp_path), 0.8)}

    assert table["none"]["bytes_at_target"] == 2000 and table["none"]["round_at_target"] == 2
    assert table["topk 1% + EF"]["bytes_at_target"] == 150
    assert table["topk 1% + EF"]["factor"] == 2000 / 150
