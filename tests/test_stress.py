"""`fedray stress`: a tiny matrix through the CLI, its tables, and resuming it."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fedray.cli import main
from fedray.stress import expand, parse_grid
from tests.factories import tiny
from tests.test_cli import write


def test_grid_values_are_yaml_and_the_matrix_is_their_product():
    axes = parse_grid(["defense.type=none,median", "client.lr=0.1,0.2,0.3"])

    cells = expand(axes)

    assert axes[1] == ("client.lr", [0.1, 0.2, 0.3])
    assert len(cells) == 6 and cells[0].slug == "defense.type=none,client.lr=0.1"


@pytest.mark.parametrize(
    "grid, fragment",
    [
        ("seed=0,1", "seeds come from --seeds"),
        ("defense={type: krum", "not valid YAML"),
    ],
)
def test_bad_grid_axes_are_one_line_errors(tmp_path, capsys, grid, fragment):
    path = write(tmp_path, tiny())

    code = main(["stress", str(path), "--grid", grid, "--out", str(tmp_path / "out")])

    assert code == 2 and fragment in capsys.readouterr().err


def test_every_bad_cell_is_reported_before_anything_runs(tmp_path, capsys):
    path = write(tmp_path, tiny())

    code = main(
        [
            "stress",
            str(path),
            "--grid",
            "defense.type=none,krum,bogus",
            "--grid",
            "defense.f=3",
            "--out",
            str(tmp_path / "out"),
        ]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert "defense.type=krum" in err and "krum needs n > 2f + 2" in err
    assert "defense.type=bogus" in err and "unknown name" in err
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.slow
def test_tiny_matrix_writes_its_tables_and_resumes_without_rerunning(ray_cluster, tmp_path, capsys):
    path = write(tmp_path, tiny(rounds=2, evaluation={"federated_clients": 0}))
    out = tmp_path / "out"
    args = [
        "stress",
        str(path),
        "--grid",
        "defense.type=none,median",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]

    assert main(args) == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/summary.json")}
    assert main(args) == 0  # resumed: nothing left to run

    assert len(stamps) == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/summary.json")} == stamps
    cells = pq.read_table(out / "stress.parquet").to_pylist()
    assert [(c["defense.type"], c["seeds"]) for c in cells] == [("none", 2), ("median", 2)]
    runs = pq.read_table(out / "stress_runs.parquet").to_pylist()
    none = [r["final_test_accuracy"] for r in runs if r["defense.type"] == "none"]
    assert cells[0]["final_test_accuracy_mean"] == pytest.approx(sum(none) / 2)
    assert (out / "heatmap.png").stat().st_size > 0 and "| none |" in (
        out / "stress.md"
    ).read_text()
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))

    assert main([*args, "--set", "rounds=3"]) == 0  # another experiment: every run is redone
    assert all(p.stat().st_mtime_ns != stamps[p] for p in stamps)
    assert {json.loads(p.read_text())["rounds"] for p in stamps} == {3}


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_parallel_is_auto_or_a_count(tmp_path, capsys, value):
    path = write(tmp_path, tiny())

    code = main(
        [
            "stress",
            str(path),
            "--grid",
            "client.lr=0.1,0.2",
            "--parallel",
            value,
            "--out",
            str(tmp_path),
        ]
    )

    assert (
        code == 2
        and f"expected auto or a whole number >= 1 (got '{value}')" in capsys.readouterr().err
    )


@pytest.mark.slow
def test_runs_side_by_side_give_the_bits_of_runs_one_at_a_time(ray_cluster, tmp_path):
    """num_workers: auto: one at a time, each run takes both CPUs (2 workers); with
    --parallel auto, 2 runs go at once with 1 worker each, in placement groups."""
    path = write(tmp_path, tiny(rounds=2, evaluation={"federated_clients": 0}))
    grid = ["--grid", "client.lr=0.05,0.2", "--no-progress"]

    assert main(["stress", str(path), *grid, "--out", str(tmp_path / "a")]) == 0
    assert (
        main(["stress", str(path), *grid, "--parallel", "auto", "--out", str(tmp_path / "b")]) == 0
    )

    a, b = (
        [json.loads(p.read_text()) for p in sorted((tmp_path / d).glob("runs/*/*/summary.json"))]
        for d in ("a", "b")
    )
    assert [r["num_workers"] for r in a] == [2, 2] and [r["num_workers"] for r in b] == [1, 1]
    assert [r["params_sha256"] for r in a] == [r["params_sha256"] for r in b]
    tables = [pq.read_table(tmp_path / d / "stress.parquet").drop(["seeds"]) for d in ("a", "b")]
    assert tables[0].equals(tables[1])


def test_the_issue_s_own_example_grid_validates():
    from fedray.stress import validate

    axes = parse_grid(
        [
            "attack.type=none,sign_flip,alie",
            "defense.type=none,median,krum",
            "attack.fraction=0.1,0.2",
        ]
    )

    root = Path(__file__).resolve().parent.parent
    validate(
        root / "scenarios" / "stress_digits.yaml", expand(axes), [0, 1, 2], []
    )  # raises on a problem
