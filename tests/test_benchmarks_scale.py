"""benchmarks/scale.py's cost curves: drawn from the cells it keeps, and --replot refuses to
run without them."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "scale.py"


def _load():
    spec = importlib.util.spec_from_file_location("benchmarks_scale", BENCH)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CELLS = [
    {"population": p, "cohort": c, "seconds_per_round": 0.1 + c * 2e-4}
    for p in (10_000, 1_000_000)
    for c in (100, 1_000, 10_000)
]


def test_plot_draws_both_curves_from_the_cells(tmp_path):
    out = tmp_path / "scale.png"

    _load().plot(CELLS, out)

    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_replot_reads_an_earlier_runs_cells_and_refuses_without_them(tmp_path):
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps(CELLS))
    run = [sys.executable, str(BENCH), "--replot", "--plot", str(tmp_path / "s.png")]

    assert subprocess.run([*run, "--json", str(cells)], capture_output=True).returncode == 0
    assert (tmp_path / "s.png").exists()
    missing = subprocess.run([*run, "--json", str(tmp_path / "none.json")], capture_output=True)
    assert missing.returncode == 2 and b"--replot draws" in missing.stderr
