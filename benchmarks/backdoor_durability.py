"""How long a backdoor outlives its attacker: backdoor success by round, mean over seeds.

    python benchmarks/backdoor_durability.py OUT.png STRESS_DIR

Reads every finished run of a `fedray stress` matrix whose attacks set `stop_round`
(e.g. Neurotoxin against the plain backdoor, both stopping at round 15), draws each cell's
backdoor success by round (mean over seeds, shaded min to max) with the stop marked, and
prints the success at the stop and 5, 10 and 25 rounds after it.
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


def success(run: Path) -> dict[int, float]:
    """{round: backdoor success} over the rounds that measured it."""
    rows = pq.read_table(run / "metrics.parquet", columns=["round", "backdoor_success"])
    return {
        r["round"]: r["backdoor_success"]
        for r in rows.to_pylist()
        if r["backdoor_success"] is not None and r["backdoor_success"] == r["backdoor_success"]
    }


def cells(root: Path) -> dict[str, tuple[int, list[dict[int, float]]]]:
    """cell name -> (the attack's stop round, per seed {round: success})."""
    out: dict = {}
    for summary in sorted(root.glob("runs/*/seed=*/summary.json")):
        run = summary.parent
        scenario = (run / "scenario.yaml").read_text()
        line = next(x for x in scenario.splitlines() if x.strip().startswith("stop_round:"))
        stop = int(line.split(":")[1])
        out.setdefault(run.parent.name, (stop, []))[1].append(success(run))
    return out


def main(figure: Path, root: Path) -> None:
    found = cells(root)
    names = short_labels([n.removeprefix("attack=") for n in found])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    print("| attack | seeds | at the stop | +5 rounds | +10 rounds | +25 rounds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (stop, seeds) in zip(names, found.values(), strict=True):
        rounds = sorted(set.intersection(*(set(s) for s in seeds)))
        values = np.array([[s[r] for r in rounds] for s in seeds])
        mean = values.mean(0)
        ax.plot(rounds, mean, label=name)
        ax.fill_between(rounds, values.min(0), values.max(0), alpha=0.2)
        at = dict(zip(rounds, mean, strict=True))
        cols = [at.get(stop + k) for k in (0, 5, 10, 25)]
        shown = ["-" if v is None else f"{v:.3f}" for v in cols]
        print(f"| {name} | {len(seeds)} | " + " | ".join(shown) + " |")
    ax.axvline(stop, color="grey", linestyle="--", linewidth=1)
    ax.text(stop + 0.5, 0.95, "attack stops", fontsize=8, va="top")
    ax.set_xlabel("round")
    ax.set_ylabel("backdoor success")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
