"""Accuracy against virtual time: deadlines with and without over-commitment, and FedBuff
against synchronous FedAvg at equal client compute. Writes the README's figures.

    PYTHONPATH=. python benchmarks/system_curves.py --out /tmp/system_curves

Runs scenarios/system_stragglers.yaml four ways and scenarios/system_fedbuff.yaml three
ways, each with seeds 0..N-1, on one local Ray (warm actors shared between runs), then
draws docs/system_deadlines.png and docs/system_fedbuff.png (the mean over seeds of the
accuracy of the latest model at each virtual second) and prints Markdown tables (medians
over seeds).
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import ray  # noqa: E402

import fedray  # noqa: E402
from fedray.actors import WarmActors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEADLINES = {
    "no deadline (wait for all 10)": ["system.deadline=null", "system.over_commit=0"],
    "deadline 10 s": ["system.over_commit=0"],
    "deadline 10 s + partial work": ["system.over_commit=0", "system.accept_partial=true"],
    "deadline 10 s + over-commit 1.3x": [],
}
FEDBUFF = {
    "sync FedAvg (10 per round)": ["system.mode=sync"],
    "FedBuff (20 in flight, buffer 10)": [],
    "FedBuff (10 in flight, buffer 10)": ["system.fedbuff.concurrency=10"],
}
TARGET = 0.8


def run_all(scenario: str, variants: dict, out: Path, warm, seeds: int) -> dict:
    """{label: [result per seed]}."""
    results = {}
    for label, overrides in variants.items():
        name = "".join(c if c.isalnum() else "_" for c in label)
        results[label] = [
            fedray.run(
                ROOT / "scenarios" / scenario,
                [*overrides, f"seed={seed}"],
                out=out / f"{name}_seed{seed}",
                warm=warm,
            )
            for seed in range(seeds)
        ]
    return results


def curve(result):
    rows = [r for r in result.history.to_pylist() if r.get("test_accuracy") is not None]
    return [r["virtual_seconds"] for r in rows], [r["test_accuracy"] for r in rows]


def time_to(result, target: float):
    for t, acc in zip(*curve(result)):
        if acc >= target:
            return t
    return None


def mean_curve(runs: list) -> tuple[np.ndarray, np.ndarray]:
    """The mean over runs of the latest evaluated accuracy at each virtual second, up to
    the shortest run's end."""
    end = min(curve(r)[0][-1] for r in runs)
    grid = np.linspace(0, end, 400)
    stacked = []
    for r in runs:
        t, acc = (np.asarray(v) for v in curve(r))
        at = np.searchsorted(t, grid, side="right") - 1
        stacked.append(np.where(at >= 0, acc[np.maximum(at, 0)], np.nan))
    return grid, np.nanmean(np.stack(stacked), axis=0)


def draw(results: dict, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, runs in results.items():
        ax.plot(*mean_curve(runs), label=label)
    ax.set_xlabel("virtual seconds")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(results: dict) -> str:
    lines = [
        f"| run | virtual s to {TARGET:.0%} | virtual s, all rounds | final accuracy | "
        "client updates applied | mean staleness |",
        "|---|---|---|---|---|---|",
    ]
    for label, runs in results.items():
        hits = [time_to(r, TARGET) for r in runs]
        reached = [h for h in hits if h is not None]
        hit = (
            f"{statistics.median(reached):.0f}"
            if len(reached) == len(runs)
            else (f"{len(reached)} of {len(runs)} seeds")
        )
        rows = [r.history.to_pylist() for r in runs]
        ends = statistics.median(x[-1]["virtual_seconds"] for x in rows)
        final = statistics.median(r.summary["final_test_accuracy"] for r in runs)
        applied = statistics.median(sum(y["updates_aggregated"] for y in x) for x in rows)
        stale = _mean([y for x in rows for y in x], "staleness_mean")
        lines.append(f"| {label} | {hit} | {ends:.0f} | {final:.3f} | {applied:.0f} | {stale} |")
    return "\n".join(lines)


def _mean(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    return f"{sum(values) / len(values):.2f}" if values else "-"


def draw_diurnal(result, path: Path) -> None:
    """Reports per round and accuracy against the hour of the virtual day."""
    rows = result.history.to_pylist()
    hours = [r["virtual_seconds"] / 3600 for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.bar(
        hours,
        [r["clients_trained"] for r in rows],
        width=0.25,
        color="tab:gray",
        label="clients reporting in the round (of 10 wanted)",
    )
    ax.set_xlabel("virtual hours since midnight")
    ax.set_ylabel("clients reporting")
    right = ax.twinx()
    right.plot(hours, [r["test_accuracy"] for r in rows], color="tab:red", label="test accuracy")
    right.set_ylabel("test accuracy")
    right.set_ylim(0, 1)
    ax.set_title("diurnal availability from the shipped trace")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.88), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/system_curves"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", choices=["all", "diurnal"], default="all")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    warm = WarmActors()
    docs = ROOT / "docs"
    try:
        diurnal = fedray.run(
            ROOT / "scenarios" / "system_diurnal_trace.yaml", out=args.out / "diurnal", warm=warm
        )
        draw_diurnal(diurnal, docs / "system_diurnal.png")
        if args.only == "diurnal":
            return
        deadlines = run_all("system_stragglers.yaml", DEADLINES, args.out, warm, args.seeds)
        fedbuff = run_all("system_fedbuff.yaml", FEDBUFF, args.out, warm, args.seeds)
    finally:
        warm.close()
        ray.shutdown()
    draw(deadlines, "stragglers: deadline and over-commitment", docs / "system_deadlines.png")
    draw(fedbuff, "FedBuff against synchronous FedAvg, 400 updates", docs / "system_fedbuff.png")
    print(f"medians over {args.seeds} seeds")
    print(table(deadlines))
    print()
    print(table(fedbuff))


if __name__ == "__main__":
    main()
