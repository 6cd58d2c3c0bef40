"""Backdoor success and test accuracy by round, one line per finished `fedray run` directory.

    python benchmarks/neurotoxin_curves.py OUT.png RUN_DIR [RUN_DIR ...]

Each line is named after its directory; the README's Neurotoxin figure compares the attack
under SecAgg+, without it, through top-k and with no mask (`top_fraction: 0`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def curves(run: Path) -> dict:
    """{column: (rounds, values)} for the evaluated rounds of one run."""
    rows = pq.read_table(run / "metrics.parquet").to_pylist()
    out = {}
    for key in ("backdoor_success", "test_accuracy"):
        kept = [r for r in rows if r.get(key) is not None and r[key] == r[key]]
        out[key] = ([r["round"] for r in kept], [r[key] for r in kept])
    return out


def main(out: str, runs: list[str]) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for run in map(Path, runs):
        for ax, (key, (x, y)) in zip(axes, curves(run).items(), strict=True):
            ax.plot(x, y, marker="o", label=run.name)
            ax.set_title(key.replace("_", " "))
            ax.set_xlabel("round")
            ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
