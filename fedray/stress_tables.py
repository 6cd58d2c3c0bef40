"""`fedray stress`'s tables: per-cell means and standard deviations over seeds, and what is
written from them (`stress_runs.parquet`, `stress.parquet`, `stress.md`, `heatmap.png`,
TensorBoard hparams). Running the matrix is `fedray.stress`'s."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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


def _parts(label: str) -> tuple[str, list[str], dict[str, str]]:
    """`name(k=v,...,pre=[{'type': 'nnm'}])` -> (name, pre-stage names, {k: v})."""
    name, _, rest = label.partition("(")
    stages = re.findall(r"'type': '([A-Za-z0-9_.:]+)'", rest)
    rest = re.sub(r"pre=\[.*\]", "", rest.removesuffix(")"))
    params = dict(re.findall(r"([A-Za-z_]\w*)=([^,]+)", rest))
    return name, stages, params


def short_labels(labels: list[str]) -> list[str]:
    """Labels for a figure's axis: pre-stages lead (`trimmed_mean(fraction=0.2,pre=[{'type':
    'nnm'}])` -> `nnm + trimmed_mean`), and a parameter with one value wherever it appears
    (`fraction=0.2` everywhere) is left out unless that would make two labels coincide.
    Falls back to the labels as given if they still coincide."""
    parsed = [_parts(label) for label in labels]
    values: dict[str, set] = {}
    for _, _, params in parsed:
        for k, v in params.items():
            values.setdefault(k, set()).add(v)

    def render(dropped: set) -> list[str]:
        out = []
        for name, stages, params in parsed:
            kept = " ".join(f"{k}={v}" for k, v in params.items() if k not in dropped)
            out.append(" + ".join([*stages, name]) + (f" {kept}" if kept else ""))
        return out

    dropped: set = set()
    for k in sorted(k for k, seen in values.items() if len(seen) == 1):
        if len(set(render(dropped | {k}))) == len(labels):
            dropped.add(k)
    out = render(dropped)
    return out if len(set(out)) == len(out) else list(labels)


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
        ax.set_xticks(range(len(second)), short_labels(second), rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(first)), short_labels(first), fontsize=8)
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
