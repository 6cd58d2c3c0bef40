"""`fedray stress`: run a scenario over a grid of overrides and seeds, then tabulate.

    fedray stress SCENARIO --grid attack.type=none,sign_flip --grid defense.type=none,median --seeds 3

Every combination is validated before anything runs (all problems at once). Runs go one
after another in one Ray session, or side by side with `--parallel auto|K` (`fedray.slots`),
each into `DIR/runs/<cell>/seed=<s>/`; a run that already
has its `summary.json` is not redone, so an interrupted matrix resumes where it stopped.
Results: `stress_runs.parquet` (a row per run), `stress.parquet` (a row per grid cell: mean
and standard deviation over seeds), `stress.md`, `heatmap.png`, and TensorBoard hparams.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from fedray.scenario import ScenarioError, load_scenario
from fedray.scenario.load import parse_yaml, yaml_problem
from fedray.stress_tables import FIGURES, summarize, write_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cell:
    values: tuple[tuple[str, object], ...]  # (path, value) per grid axis

    @property
    def slug(self) -> str:
        return ",".join(f"{p}={label(v)}" for p, v in self.values).replace("/", "_")


def label(value) -> str:
    """A grid value as a short name: a whole section `{type: ipm, epsilon: 5}` -> `ipm(epsilon=5)`."""
    if isinstance(value, dict):
        name = str(value.get("type", value.get("name", "")))
        rest = ",".join(f"{k}={v}" for k, v in value.items() if k not in ("type", "name"))
        return f"{name}({rest})" if rest else name
    return str(value)


def split_values(text: str) -> list[str]:
    """Split on commas outside braces and brackets, so a value may be a YAML mapping."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "{[") - (ch in "}]")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [p.strip() for p in [*parts, text[start:]]]


def parse_grid(specs: list[str]) -> list[tuple[str, list]]:
    """`path=v1,v2` -> (path, [v1, v2]), each value read as YAML; a value may be a whole
    section, `defense={type: krum, f: 2},{type: median}`, which replaces that section."""
    axes = []
    for spec in specs:
        path, sep, values = spec.partition("=")
        if not sep or not path or not values:
            raise ScenarioError(
                [f"--grid {spec!r}: expected path=v1,v2,... e.g. defense.type=none,median"],
                "stress",
            )
        if path.strip() == "seed":
            raise ScenarioError(
                ["--grid seed=...: seeds come from --seeds N (seed, seed+1, ...)"], "stress"
            )
        try:
            axes.append((path.strip(), [parse_yaml(v) for v in split_values(values)]))
        except yaml.YAMLError as exc:
            raise ScenarioError(
                [f"--grid {spec[:60]!r}: a value is not valid YAML ({yaml_problem(exc)})"],
                "stress",
            ) from None
    return axes


def expand(axes: list[tuple[str, list]]) -> list[Cell]:
    return [
        Cell(tuple(zip([p for p, _ in axes], combo)))
        for combo in itertools.product(*[v for _, v in axes])
    ]


def validate(scenario_path, cells: list[Cell], seeds: list[int], overrides: list[str]) -> None:
    """Load and prepare every combination (data and model built, attack tried); raise one
    ScenarioError listing every problem found."""
    from fedray.prepare import prepare

    problems = []
    for cell in cells:
        for seed in seeds:
            try:
                prepare(load_scenario(scenario_path, [*overrides, *_sets(cell, seed)]))
            except ScenarioError as exc:
                problems += [f"[{cell.slug}, seed={seed}] {p}" for p in exc.problems]
    if problems:
        raise ScenarioError(sorted(set(problems)), str(scenario_path))


def _sets(cell: Cell, seed: int) -> list[str]:
    # default=str: a YAML date or binary value goes in as text, refused by its field's type.
    return [f"{p}={json.dumps(v, default=str)}" for p, v in cell.values] + [f"seed={seed}"]


def run_matrix(
    scenario_path,
    axes,
    *,
    seeds: int = 1,
    out: Path,
    overrides=(),
    progress=None,
    parallel: int | str = 1,
) -> pa.Table:
    """Run every cell x seed not run yet; write the tables; return the per-cell table.

    `parallel`: 1 runs one at a time, each taking over the previous run's actors when its
    pool has the same shape. "auto" (or at most K) runs as many at once as the cluster's
    free resources hold (`fedray.concurrency.share`), each on a slot of its own: a
    placement group for its workers and a warm pool for the slot's next run.
    """
    from fedray.actors import WarmActors
    from fedray.progress import Progress
    from fedray.slots import cluster_share, run_on_slots

    cells, seed_list = check_matrix(
        scenario_path, axes, seeds=seeds, overrides=overrides, parallel=parallel
    )
    out.mkdir(parents=True, exist_ok=True)
    todo = [
        (c, s) for c in cells for s in seed_list if not _done(scenario_path, overrides, out, c, s)
    ]
    total = len(cells) * len(seed_list)
    bar = Progress(total, total - len(todo), enabled=progress, unit="run")

    def done(summary: dict) -> None:
        bar.update({"round": summary["rounds"], "test_accuracy": summary["final_test_accuracy"]})

    try:
        if parallel == 1 and todo:
            warm = WarmActors()
            try:
                for job in todo:
                    done(_run_one(scenario_path, overrides, out, *job, warm=warm))
            finally:
                warm.close()
        elif todo:
            base = load_scenario(scenario_path, list(overrides))
            share = cluster_share(base, todo=len(todo), parallel=parallel)
            log.warning(
                "fedray stress: %d run(s) at once, %d worker(s) each", share.runs, share.workers
            )
            run_on_slots(
                todo,
                lambda job, slot: _run_one(scenario_path, overrides, out, *job, warm=slot),
                runs=share.runs,
                workers=share.workers,
                on_done=done,
            )
    finally:
        bar.close()
    runs = collect(out, cells, seed_list)
    table = summarize(runs, [p for p, _ in axes])
    write_outputs(out, runs, table, [p for p, _ in axes])
    return table


def check_matrix(
    scenario_path, axes, *, seeds: int, overrides=(), parallel: int | str = 1
) -> tuple[list[Cell], list[int]]:
    """Load and prepare every cell x seed; return them, or raise one ScenarioError. No Ray."""
    from fedray.concurrency import parse_parallel

    try:
        parse_parallel(parallel)
    except ValueError as exc:
        raise ScenarioError([str(exc)], "stress") from None
    base = load_scenario(scenario_path, list(overrides))
    seed_list = [base.seed + i for i in range(seeds)]
    cells = expand(axes)
    validate(scenario_path, cells, seed_list, list(overrides))
    if parallel != 1 and "local" in backends(scenario_path, cells, overrides):
        raise ScenarioError(
            [
                f"--parallel {parallel}: resources.backend: local runs in this process, one "
                "run at a time (expected --parallel 1, or resources.backend: ray to run cells "
                "side by side)"
            ],
            "stress",
        )
    return cells, seed_list


def backends(scenario_path, cells: list[Cell], overrides=()) -> set[str]:
    """The `resources.backend` values the matrix's cells run with ("ray" needs a cluster);
    cells that do not load are left to `check_matrix`, which names their problems."""
    found = set()
    for cell in cells:
        try:
            found.add(load_scenario(scenario_path, [*overrides, *_sets(cell, 0)]).resources.backend)
        except ScenarioError:
            continue
    return found


def _done(scenario_path, overrides, out: Path, cell: Cell, seed: int) -> bool:
    """A run counts as done if it finished with exactly the scenario it would run now; a run
    left by another --set or an edited scenario file is redone, never reused.

    Both are compared as this version resolves them, so a run written before a release
    added a section with defaults (which leave its experiment as it was) still counts."""
    from fedray.scenario import to_yaml

    run_dir = _run_dir(out, cell, seed)
    if not (run_dir / "summary.json").exists():
        return False
    now = to_yaml(load_scenario(scenario_path, [*overrides, *_sets(cell, seed)]))
    stored = (run_dir / "scenario.yaml").read_text()
    if stored == now:
        return True
    try:
        return to_yaml(load_scenario(run_dir / "scenario.yaml")) == now
    except ScenarioError:  # written by a version whose fields this one no longer takes
        return False


def _run_one(scenario_path, overrides, out: Path, cell: Cell, seed: int, warm=None) -> dict:
    import shutil

    import fedray

    run_dir = _run_dir(out, cell, seed)
    if run_dir.exists():  # an interrupted run: start it again from scratch
        shutil.rmtree(run_dir)
    result = fedray.run(
        scenario_path, [*overrides, *_sets(cell, seed)], out=run_dir, progress=False, warm=warm
    )
    return result.summary


def _run_dir(out: Path, cell: Cell, seed: int) -> Path:
    return out / "runs" / cell.slug / f"seed={seed}"


def collect(out: Path, cells: list[Cell], seeds: list[int]) -> list[dict]:
    rows = []
    for cell in cells:
        for seed in seeds:
            run_dir = _run_dir(out, cell, seed)
            summary = json.loads((run_dir / "summary.json").read_text())
            last = pq.read_table(run_dir / "metrics.parquet").to_pylist()[-1]
            figures = {k: summary.get(k, last.get(k.replace("final_", ""))) for k in FIGURES}
            rows.append(
                {
                    **{p: label(v) for p, v in cell.values},
                    "seed": seed,
                    **figures,
                    "run_dir": str(run_dir),
                }
            )
    return rows
