"""Tables and a heatmap from the finished runs of one or more `fedray stress` directories.

`fedray stress` writes its tables when the whole matrix is done; this reads whatever runs
have finished (each run's summary.json), so an interrupted matrix still gives its figures,
and it merges matrices run separately (say, a backdoor matrix beside a model-attack one):

    python benchmarks/frontier_tables.py OUT.png STRESS_DIR [STRESS_DIR ...]

Cells show the mean over the seeds found, and ± their standard deviation (ddof 0, as
`fedray stress` computes it) when more than one seed ran; a cell with fewer seeds than the
most any cell has is marked with its count, e.g. `0.912 (n=2)`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fedray.stress_tables import short_labels  # noqa: E402

FIGURES = ("final_test_accuracy", "final_backdoor_success")


def cells(dirs: list[Path]) -> dict:
    """(attack, defense) -> {figure: [value per seed]} for every finished run."""
    out: dict = {}
    for root in dirs:
        for summary in sorted(root.glob("runs/*/seed=*/summary.json")):
            name = summary.parent.parent.name
            match = re.match(r"attack=(.*),defense=(.*)$", name) or re.match(
                r"defense=(.*),attack=(.*)$", name
            )
            key = match.groups() if name.startswith("attack=") else match.groups()[::-1]
            data = json.loads(summary.read_text())
            cell = out.setdefault(key, {f: [] for f in FIGURES})
            for f in FIGURES:
                if data.get(f) is not None:
                    cell[f].append(float(data[f]))
    return out


ORDER = ("none", "median", "trimmed_mean", "krum")


def axes(found: dict) -> tuple[list, list]:
    """Attacks in the order first seen (none first); defenses none, median, trimmed mean and
    Krum first, then those with pre-aggregators, then the others by name."""

    def rank(d: str) -> tuple:
        classic = next(
            (i for i, o in enumerate(ORDER) if d == o or d.startswith(o + "(")), len(ORDER)
        )
        return ("pre=" in d, classic, d) if classic < len(ORDER) else (True, len(ORDER), d)

    attacks = sorted(dict.fromkeys(a for a, _ in found), key=lambda a: a != "none")
    defenses = sorted(dict.fromkeys(d for _, d in found), key=rank)
    return attacks, defenses


def fmt(values: list[float], most: int) -> str:
    if not values:
        return "-"
    text = f"{np.mean(values):.3f}"
    if len(values) > 1:
        text += f" ± {np.std(values):.3f}"
    return text + (f" (n={len(values)})" if len(values) < most else "")


def table(found: dict, figure: str) -> str:
    attacks, defenses = axes(found)
    most = max(len(v[figure]) for v in found.values())
    names = ["mean" if d == "none" else d for d in short_labels(defenses)]
    lines = ["| attack \\ defense | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---:|" * len(defenses))
    for a, label in zip(attacks, short_labels(attacks), strict=True):
        values = [found.get((a, d), {figure: []})[figure] for d in defenses]
        if not any(values):
            continue
        lines.append(f"| {label} | " + " | ".join(fmt(v, most) for v in values) + " |")
    return "\n".join(lines)


def heatmap(found: dict, path: Path) -> None:
    attacks, defenses = axes(found)
    grid = np.full((len(attacks), len(defenses)), np.nan)
    for (a, d), figures in found.items():
        if figures["final_test_accuracy"]:
            grid[attacks.index(a), defenses.index(d)] = np.mean(figures["final_test_accuracy"])
    fig, ax = plt.subplots(figsize=(1.1 * len(defenses) + 4, 0.5 * len(attacks) + 1.8))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    names = ["mean" if d == "none" else d for d in short_labels(defenses)]
    ax.set_xticks(range(len(defenses)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(attacks)), short_labels(attacks))
    for i, j in np.ndindex(grid.shape):
        if np.isfinite(grid[i, j]):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8)
    most = max(len(v["final_test_accuracy"]) for v in found.values())
    ax.set_title(f"final test accuracy, mean over {most} seed(s)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    found = cells([Path(p) for p in sys.argv[2:]])
    heatmap(found, Path(sys.argv[1]))
    for figure in FIGURES:
        if any(v[figure] for v in found.values()):
            print(f"{figure}:\n\n{table(found, figure)}\n")
