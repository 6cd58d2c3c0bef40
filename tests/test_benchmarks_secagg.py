"""benchmarks/secagg.py at toy sizes: real cells check their sum, sampled cells agree with them
on everything that is not a timing, and the report renders."""

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "secagg.py"
spec = importlib.util.spec_from_file_location("benchmarks_secagg", PATH)
bench = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(bench)

TOY = {"n": [8], "d": [40], "growth": [6, 8, 10], "growth_d": 40}


@pytest.fixture(scope="module")
def cost():
    return bench.UnitCosts(np.random.default_rng(0))


@pytest.mark.parametrize("protocol", ["SecAgg", "SecAgg+"])
def test_sampled_cell_reports_the_real_cells_counts(protocol, cost):
    common = dict(seed=0, budget=1e9, sample=4, cost=cost)

    real = bench.measure(protocol, 24, 300, 0.25, mode="real", **common)
    sampled = bench.measure(protocol, 24, 300, 0.25, mode="sampled", **common)

    assert real.checked and not sampled.checked
    assert (real.clients, real.server) == ("real", "real")
    assert (sampled.clients, sampled.server, sampled.sampled) == ("sampled", "standin", 4)
    fields = ["k", "t", "client_up", "client_down", "server_bytes", "survivors", "recovered"]
    assert [getattr(sampled, f) for f in fields] == [getattr(real, f) for f in fields]
    assert real.survivors == 18 and real.recovered == 6


def test_extrapolated_server_adds_the_missing_bytes(cost):
    params = bench.protocol_params("SecAgg", 12, 0.25)
    real = bench.measure("SecAgg", 12, 500, 0.25, seed=1, budget=1e9, sample=3, cost=cost)
    cell = bench.Cell("SecAgg", 12, 500, 0.25)
    dropped = set(range(3))

    bench.run_sampled(
        cell, params, dropped, np.random.default_rng(2), sample=3, server_d=100, cost=cost
    )

    assert cell.server == "extrapolated" and cell.server_seconds > 0
    assert cell.server_bytes == real.server_bytes


def test_a_wrong_sum_stops_the_benchmark():
    inputs = [np.arange(5, dtype=np.uint64), np.ones(5, np.uint64)]

    with pytest.raises(SystemExit, match="differs from the plain sum"):
        bench.check_sum(bench.Cell("SecAgg", 2, 5, 0.0), np.zeros(5, np.uint64), inputs)


def test_report_renders_every_table(cost):
    args = argparse.Namespace(quick=True, sample=3, budget=1e9, growth_budget=1e9, seed=0)
    cells = bench.run_all(args, TOY, cost)

    text = bench.report(args, TOY, cells, cost, wall=1.0, load=(0.0, 0.0))

    rows = [line for line in text.splitlines() if line.startswith("| 8 | 4e1 |")]
    assert len(rows) == 9  # 3 protocols x 3 dropouts
    assert "✓" in text and "exponent, measured rows" in text and "Where the time goes" in text
