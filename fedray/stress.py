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
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from fedray.scenario import ScenarioError, load_scenario
from fedray.scenario.load import parse_yaml, yaml_problem

# Figures carried from each run's summary / last round into the tables, when present.
FIGURES = (
    "final_test_accuracy",
    "best_test_accuracy",
    "final_backdoor_success",
    "final_target_accuracy",
    "final_epsilon",
    "final_membership_auc",
    "stopped_at_round",  # the last round of a run stopped early (privacy budget); none: all ran
)

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
    return cells, seed_list


def _done(scenario_path, overrides, out: Path, cell: Cell, seed: int) -> bool:
    """A run counts as done if it finished with exactly the scenario it would run now; a run
    left by another --set or an edited scenario file is redone, never reused."""
    from fedray.scenario import to_yaml

    run_dir = _run_dir(out, cell, seed)
    if not (run_dir / "summary.json").exists():
        return False
    now = to_yaml(load_scenario(scenario_path, [*overrides, *_sets(cell, seed)]))
    return (run_dir / "scenario.yaml").read_text() == now


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


def summarize(runs: list[dict], axes: list[str]) -> pa.Table:
    """One row per grid cell: mean and standard deviation of each figure over seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(r[a] for a in axes), []).append(r)
    rows = []
    for key, members in groups.items():
        row = dict(zip(axes, key))
        row["seeds"] = len(members)
        for fig in FIGURES:
            values = [m[fig] for m in members if m[fig] is not None and not _nan(m[fig])]
            row[f"{fig}_mean"] = float(np.mean(values)) if values else None
            row[f"{fig}_std"] = float(np.std(values)) if values else None
        rows.append(row)
    return pa.Table.from_pylist(rows)


def _nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def write_outputs(out: Path, runs: list[dict], table: pa.Table, axes: list[str]) -> None:
    pq.write_table(pa.Table.from_pylist(runs), out / "stress_runs.parquet")
    pq.write_table(table, out / "stress.parquet")
    (out / "stress.md").write_text(markdown(table, axes))
    heatmap(table, axes, out / "heatmap.png")
    hparams(out, runs, axes)


def _fmt(mean, std) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f}" if not std else f"{mean:.3f} ± {std:.3f}"


def markdown(table: pa.Table, axes: list[str]) -> str:
    """Rows: the first axis; columns: the second (if any); cells: accuracy (and attack success)."""
    rows = table.to_pylist()
    present = [f for f in FIGURES if any(r[f"{f}_mean"] is not None for r in rows)]
    lines = []
    for fig in [f for f in present if f != "best_test_accuracy"]:
        lines.append(f"### {fig} (mean ± std over seeds)\n")
        if len(axes) >= 2:
            rest = axes[2:]
            for sub in sorted({tuple(r[a] for a in rest) for r in rows}):
                if rest:
                    lines.append(", ".join(f"{a}={v}" for a, v in zip(rest, sub)) + "\n")
                cols = list(dict.fromkeys(r[axes[1]] for r in rows))
                lines.append(f"| {axes[0]} \\ {axes[1]} | " + " | ".join(cols) + " |")
                lines.append("|---|" + "---:|" * len(cols))
                for first in dict.fromkeys(r[axes[0]] for r in rows):
                    cells = []
                    for col in cols:
                        match = [
                            r
                            for r in rows
                            if r[axes[0]] == first
                            and r[axes[1]] == col
                            and tuple(r[a] for a in rest) == sub
                        ]
                        cells.append(
                            _fmt(match[0][f"{fig}_mean"], match[0][f"{fig}_std"]) if match else "-"
                        )
                    lines.append(f"| {first} | " + " | ".join(cells) + " |")
                lines.append("")
        else:
            lines.append(f"| {axes[0]} | {fig} |\n|---|---:|")
            lines += [f"| {r[axes[0]]} | {_fmt(r[f'{fig}_mean'], r[f'{fig}_std'])} |" for r in rows]
            lines.append("")
    return "\n".join(lines) + "\n"


def heatmap(table: pa.Table, axes: list[str], path: Path) -> None:
    """First axis down, second across; one panel per figure (and per value of further axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table.to_pylist()
    figs = [
        f
        for f in FIGURES
        if f != "best_test_accuracy" and any(r[f"{f}_mean"] is not None for r in rows)
    ]
    first = list(dict.fromkeys(r[axes[0]] for r in rows))
    second = list(dict.fromkeys(r[axes[1]] for r in rows)) if len(axes) > 1 else ["-"]
    rest = sorted({tuple(r[a] for a in axes[2:]) for r in rows})
    panels = [(f, sub) for f in figs for sub in rest]
    fig, grid = plt.subplots(
        1,
        len(panels),
        figsize=(1.2 + 1.1 * len(second) * len(panels), 0.9 + 0.5 * len(first)),
        squeeze=False,
    )
    for ax, (name, sub) in zip(grid[0], panels):
        values = np.full((len(first), len(second)), np.nan)
        for r in rows:
            if tuple(r[a] for a in axes[2:]) != sub or r[f"{name}_mean"] is None:
                continue
            col = second.index(r[axes[1]]) if len(axes) > 1 else 0
            values[first.index(r[axes[0]]), col] = r[f"{name}_mean"]
        # Rates share one 0..1 scale; epsilon is unbounded, so its panel scales to its values.
        finite = values[np.isfinite(values)]
        unbounded = name in ("final_epsilon", "stopped_at_round")
        top = 1.0 if not unbounded or not len(finite) else max(finite.max(), 1e-9)
        image = ax.imshow(
            values, vmin=0, vmax=top, cmap="viridis" if "accuracy" in name else "magma"
        )
        for (i, j), v in np.ndenumerate(values):
            if not np.isnan(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    color="white" if v < 0.6 * top else "black",
                    fontsize=8,
                )
        ax.set_xticks(range(len(second)), second, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(first)), first, fontsize=8)
        ax.set_xlabel(axes[1] if len(axes) > 1 else "")
        ax.set_ylabel(axes[0])
        title = name + (
            "" if not sub else " | " + ", ".join(f"{a}={v}" for a, v in zip(axes[2:], sub))
        )
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def hparams(out: Path, runs: list[dict], axes: list[str]) -> None:
    """One TensorBoard hparams entry per run, so the matrix can be filtered and sorted."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tensorboard"))
    for r in runs:
        metrics = {f"hparam/{f}": r[f] for f in FIGURES if r[f] is not None and not _nan(r[f])}
        writer.add_hparams(
            {**{a: r[a] for a in axes}, "seed": r["seed"]},
            metrics,
            run_name=Path(r["run_dir"]).name + "-" + Path(r["run_dir"]).parent.name,
        )
    writer.close()
