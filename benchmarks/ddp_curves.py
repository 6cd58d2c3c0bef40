"""Plot runs of distributed DP side by side: accuracy, epsilon and the clip norm per round.

    python benchmarks/ddp_curves.py LABEL=RUN_DIR ... --png docs/secagg_ddp.png

Each RUN_DIR is a `fedray run --out` directory; its metrics.parquet is read as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

PANELS = (
    ("test_accuracy", "test accuracy"),
    ("privacy_epsilon", "epsilon (delta 1e-5)"),
    ("privacy_clip", "clip norm S"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--png", required=True)
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 3.6))
    for spec in args.runs:
        label, run = spec.split("=", 1)
        table = pq.read_table(Path(run) / "metrics.parquet").to_pydict()
        for ax, (column, title) in zip(axes, PANELS):
            points = [
                (r, v) for r, v in zip(table["round"], table.get(column, [])) if v is not None
            ]
            if points:
                ax.plot(
                    *zip(*points), marker="." if column == "test_accuracy" else None, label=label
                )
            ax.set_title(title)
            ax.set_xlabel("round")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
