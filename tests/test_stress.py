"""`fedray stress`: a tiny matrix through the CLI, its tables, resuming it, running it side by
side, and the warm actors its runs share (one module-scoped set of runs serves them all)."""

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fedray import actors, api
from fedray.cli import main
from fedray.scenario import load_scenario
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


GRID = ["--grid", "defense.type=none,median", "--seeds", "2", "--no-progress"]


@pytest.fixture(scope="module")
def matrices(ray_cluster, tmp_path_factory):
    """One tiny matrix (2 cells x 2 seeds) run four ways, each run's actors noted as it starts:

    - `seq`: one at a time (`num_workers: auto`: each run gets both CPUs, 2 workers), then
      the same command again, which must find every run done;
    - `par`: the same matrix with `--parallel auto`: 2 slots of 1 worker share the 4 runs;
    - `changed`: a copy of `seq` given another experiment (`--set rounds=3`) for one cell.
    """
    root = tmp_path_factory.mktemp("stress")
    path = write(root, tiny(rounds=2, evaluation={"federated_clients": 0}))
    started = []  # per run: its directory, the warm pool or slot, its workers' pids, aggregator
    real = api.start

    def noting(scenario, plan, state, sizes, out_dir, warm=None):
        pool, aggregator, store, placement, seconds = real(
            scenario, plan, state, sizes, out_dir, warm
        )
        pids = sorted(p["pid"] for p in placement)
        started.append((Path(out_dir), id(warm), pids, aggregator._actor_id.hex()))
        return pool, aggregator, store, placement, seconds

    seq, par, changed = root / "seq", root / "par", root / "changed"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api, "start", noting)
        assert main(["stress", str(path), *GRID, "--out", str(seq)]) == 0
        stamps = {p: p.stat().st_mtime_ns for p in seq.glob("runs/*/*/summary.json")}
        assert main(["stress", str(path), *GRID, "--out", str(seq)]) == 0  # nothing left to run
        untouched = {p: p.stat().st_mtime_ns for p in seq.glob("runs/*/*/summary.json")}
        assert main(["stress", str(path), *GRID, "--parallel", "auto", "--out", str(par)]) == 0
        shutil.copytree(seq, changed)
        one_cell = ["--grid", "defense.type=none", "--no-progress", "--set", "rounds=3"]
        assert main(["stress", str(path), *one_cell, "--out", str(changed)]) == 0
    return {"seq": seq, "par": par, "changed": changed}, stamps, untouched, started


def summaries(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/*/summary.json"))]


@pytest.mark.slow
def test_tiny_matrix_writes_its_tables_and_resumes_without_rerunning(matrices):
    dirs, stamps, untouched, _ = matrices
    out = dirs["seq"]

    assert len(stamps) == 4 and untouched == stamps
    cells = pq.read_table(out / "stress.parquet").to_pylist()
    assert [(c["defense.type"], c["seeds"]) for c in cells] == [("none", 2), ("median", 2)]
    runs = pq.read_table(out / "stress_runs.parquet").to_pylist()
    none = [r["final_test_accuracy"] for r in runs if r["defense.type"] == "none"]
    assert cells[0]["final_test_accuracy_mean"] == pytest.approx(sum(none) / 2)
    assert (out / "heatmap.png").stat().st_size > 0 and "| none |" in (
        out / "stress.md"
    ).read_text()
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.slow
def test_another_experiment_redoes_the_runs_it_names(matrices):
    dirs, stamps, _, _ = matrices
    out = dirs["changed"]

    after = {p: json.loads(p.read_text()) for p in out.glob("runs/*/*/summary.json")}

    redone = out / "runs" / "defense.type=none" / "seed=3" / "summary.json"
    assert after[redone]["rounds"] == 3  # the run was redone with rounds=3, not reused
    left = {(p.parent.parent.name, p.parent.name) for p, s in after.items() if s["rounds"] == 2}
    assert left == {  # the runs the command did not name were left alone
        ("defense.type=none", "seed=4"),
        ("defense.type=median", "seed=3"),
        ("defense.type=median", "seed=4"),
    }
    assert [c["defense.type"] for c in pq.read_table(out / "stress.parquet").to_pylist()] == [
        "none"
    ]


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
def test_runs_side_by_side_give_the_bits_of_runs_one_at_a_time(matrices):
    """num_workers: auto: one at a time, each run takes both CPUs (2 workers); with
    --parallel auto, 2 runs go at once with 1 worker each, in placement groups."""
    dirs, _, _, _ = matrices

    a, b = summaries(dirs["seq"]), summaries(dirs["par"])

    assert [r["num_workers"] for r in a] == [2] * 4 and [r["num_workers"] for r in b] == [1] * 4
    assert [r["params_sha256"] for r in a] == [r["params_sha256"] for r in b]
    tables = [pq.read_table(dirs[d] / "stress.parquet").drop(["seeds"]) for d in ("seq", "par")]
    assert tables[0].equals(tables[1])


@pytest.mark.slow
def test_a_slot_s_next_cells_run_on_its_warm_actors(matrices):
    """Cells of one shape (per-worker resources, pool size) never restart actors: one at a
    time, the 4 runs share one pool; side by side, each slot's runs share that slot's."""
    dirs, _, _, started = matrices

    def served(out: Path) -> dict[int, list]:
        by_pool: dict[int, list] = {}
        for run_dir, pool, pids, aggregator in started:
            if run_dir.parents[2] == out:
                by_pool.setdefault(pool, []).append((tuple(pids), aggregator))
        return by_pool

    seq, par = served(dirs["seq"]), served(dirs["par"])

    ((only,),) = [set(runs) for runs in seq.values()]  # 4 runs, one warm pool, one set of actors
    assert len(only[0]) == 2 and sum(len(r) for r in seq.values()) == 4
    assert len(par) == 2 and sum(len(r) for r in par.values()) == 4  # 2 slots ran the 4 cells
    assert max(len(r) for r in par.values()) >= 2  # a slot ran several cells ...
    assert all(len(set(runs)) == 1 for runs in par.values())  # ... on the same actors
    workers = [pid for runs in par.values() for pid in runs[0][0]]
    assert len(workers) == len(set(workers)) == 2  # and each slot had a worker of its own


@pytest.mark.slow
def test_a_slot_keeps_its_warm_actors_for_runs_of_its_shape_only(ray_cluster, monkeypatch):
    """The rule behind the test above: a slot keeps its pool and placement group for a run
    with the same per-worker resources and pool size, whatever its model, data or strategy
    (the workers rebuild those in place); another shape kills the pool and reserves anew."""
    from fedray.slots import Slot

    killed = []
    monkeypatch.setattr(actors, "_kill", lambda pool, aggregator: killed.append(pool))
    first = load_scenario(tiny())
    other_model = load_scenario(tiny(model={"type": "mlp", "hidden": [8]}, client={"lr": 0.3}))
    other_shape = load_scenario(tiny(resources={"num_cpus": 1, "num_gpus": 0.5}))
    slot = Slot(1)
    try:
        plan = slot.reserved_plan(first)
        group = slot.placement_group
        slot.give_back(plan, first.resources, "pool", None)

        assert slot.reserved_plan(other_model) == plan and slot.placement_group == group
        assert slot.take(plan, other_model.resources) == ("pool", None) and not killed
        slot.give_back(plan, other_model.resources, "pool", None)

        assert slot.reserved_plan(other_shape) == plan  # still 1 worker, but 0.5 GPU each
        assert killed == ["pool"] and not slot.holds(plan, other_shape.resources)
        assert slot.placement_group not in (None, group)
    finally:
        slot.close()
    assert slot.placement_group is None


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
