"""Tables and a heatmap from the finished runs of one or more `fedray stress` directories.

`fedray stress` writes its tables when the whole matrix is done; this reads whatever runs
have finished (each run's summary.json), so an interrupted matrix still gives its figures:

    python benchmarks/frontier_tables.py OUT.png STRESS_DIR [STRESS_DIR ...]
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


def cells(dirs: list[Path]) -> dict:
    """(attack, defense) -> (final accuracy, final backdoor success) for every finished run."""
    out = {}
    for root in dirs:
        for summary in sorted(root.glob("runs/*/seed=*/summary.json")):
            name = summary.parent.parent.name
            match = re.match(r"attack=(.*),defense=(.*)$", name)
            data = json.loads(summary.read_text())
            out[match.group(1), match.group(2)] = (
                data["final_test_accuracy"],
                data.get("final_backdoor_success"),
            )
    return out


ORDER = ("none", "median", "trimmed_mean", "krum")


def axes(found: dict) -> tuple[list, list]:
    """Attacks in the order first seen (none first); defenses none, median, trimmed mean, Krum."""
    attacks = sorted(dict.fromkeys(a for a, _ in found), key=lambda a: a != "none")
    defenses = sorted(
        dict.fromkeys(d for _, d in found),
        key=lambda d: next((i for i, o in enumerate(ORDER) if d.startswith(o)), len(ORDER)),
    )
    return attacks, defenses


def table(found: dict, index: int) -> str:
    attacks, defenses = axes(found)
    lines = ["| attack \\ defense | " + " | ".join(defenses) + " |"]
    lines.append("|---|" + "---:|" * len(defenses))
    for a in attacks:
        values = [found.get((a, d), (None, None))[index] for d in defenses]
        if all(v is None for v in values):
            continue
        shown = ["-" if v is None else f"{v:.3f}" for v in values]
        lines.append(f"| {a} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def heatmap(found: dict, path: Path) -> None:
    attacks, defenses = axes(found)
    grid = np.full((len(attacks), len(defenses)), np.nan)
    for (a, d), (acc, _) in found.items():
        grid[attacks.index(a), defenses.index(d)] = acc
    fig, ax = plt.subplots(figsize=(1.6 * len(defenses) + 4, 0.5 * len(attacks) + 1.5))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn")
    ax.set_xticks(range(len(defenses)), defenses, rotation=20, ha="right")
    ax.set_yticks(range(len(attacks)), attacks)
    for i, j in np.ndindex(grid.shape):
        if np.isfinite(grid[i, j]):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_title("final test accuracy (digits, 20% malicious)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    found = cells([Path(p) for p in sys.argv[2:]])
    heatmap(found, Path(sys.argv[1]))
    print(table(found, 0))
    print()
    print(table(found, 1))
