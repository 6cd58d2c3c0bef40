"""Plot and tabulate a `fedray stress` matrix of defenses with short, readable labels.

This reads a matrix's `stress.parquet` (attack x defense) and writes a heatmap of final test
accuracy with mean and +- std over seeds in each cell (`fedray stress`'s own heatmap shows
the means), and the Markdown table, labelled as `fedray.stress_tables.short_labels` does:

    python benchmarks/defenses_frontier.py runs/stress-frontier docs/stress_frontier.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from fedray.stress_tables import short_labels  # noqa: E402

ATTACKS = {"ipm": "IPM (eps 10)", "alie": "ALIE", "none": "no attack"}


def shorts(defenses: list[str]) -> list[str]:
    """Defense labels as `fedray stress`'s heatmap shortens them; `none` reads `mean`."""
    return ["mean" if d == "none" else d for d in short_labels(defenses)]


def main(argv: list[str]) -> None:
    source, figure = Path(argv[0]), Path(argv[1])
    rows = pq.read_table(source / "stress.parquet").to_pylist()
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    defenses = list(dict.fromkeys(r["defense"] for r in rows))
    cell = {(r["attack"], r["defense"]): r for r in rows}
    mean = np.array([[cell[a, d]["final_test_accuracy_mean"] for d in defenses] for a in attacks])
    std = np.array([[cell[a, d]["final_test_accuracy_std"] for d in defenses] for a in attacks])
    seeds = rows[0]["seeds"]
    fig, ax = plt.subplots(figsize=(1.1 * len(defenses) + 2, 0.8 * len(attacks) + 2))
    image = ax.imshow(mean, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i in range(len(attacks)):
        for j in range(len(defenses)):
            text = f"{mean[i, j]:.3f}" + (f"\n±{std[i, j]:.3f}" if seeds > 1 else "")
            colour = "white" if mean[i, j] < 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(defenses)), shorts(defenses), rotation=35, ha="right")
    names = [ATTACKS.get(a, a) for a in short_labels(attacks)]
    ax.set_yticks(range(len(attacks)), names)
    ax.set_title(f"final test accuracy on digits, mean ± std over {seeds} seed(s)")
    fig.colorbar(image, ax=ax, fraction=0.02)
    fig.tight_layout()
    fig.savefig(figure, dpi=120)
    print("| attack \\ defense | " + " | ".join(shorts(defenses)) + " |")
    print("|---|" + "---:|" * len(defenses))
    for i in range(len(attacks)):
        cells = [
            f"{mean[i, j]:.3f}" + (f" ± {std[i, j]:.3f}" if seeds > 1 else "")
            for j in range(len(defenses))
        ]
        print(f"| {names[i]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
