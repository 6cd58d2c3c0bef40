"""Accuracy against cumulative bytes up, from the runs of a `fedray stress` matrix over the
`compression` section (README, "Compressed updates"):

    fedray stress scenarios/compression_digits.yaml --out runs/compression --grid "compression=..."
    python benchmarks/compression_curves.py runs/compression [--target 0.8] [--png FILE] [--md FILE]

For each run: its final and best test accuracy, the bytes one client sends per round, and
the cumulative bytes up (all clients) when the test accuracy first reaches `--target`; the
reduction factor divides the uncompressed run's bytes at the target by the run's. Runs that
never reach the target have no factor. Everything is read from each run's
metrics.parquet (`bytes_up_cumulative`, `bytes_up_mean`, `test_accuracy`) and scenario.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq
import yaml


def label(compression: dict) -> str:
    """`topk 1% + EF`, `qsgd 4 bits`, `none`, with `/ down: qsgd 8 bits` for the downlink."""
    kind = compression.get("type", "none")
    text = kind
    if compression.get("fraction") is not None:
        text += f" {100 * compression['fraction']:g}%"
    elif compression.get("k") is not None:
        text += f" k={compression['k']}"
    if kind == "qsgd":
        text += f" {compression.get('bits', 8)} bits"
    if compression.get("error_feedback"):
        text += " + EF"
    down = compression.get("downlink", {}) or {}
    if down.get("type", "none") != "none":
        text += f" / down: {label({k: v for k, v in down.items()})}"
    return text


def load(stress_dir: Path) -> list[dict]:
    runs = []
    for metrics in sorted(stress_dir.glob("runs/*/seed=*/metrics.parquet")):
        scenario = yaml.safe_load((metrics.parent / "scenario.yaml").read_text())
        rows = pq.read_table(metrics).to_pylist()
        runs.append({"label": label(scenario.get("compression", {})), "rows": rows})
    return runs


def first_reach(rows: list[dict], target: float, key: str = "bytes_up_cumulative"):
    for r in rows:
        if r.get("test_accuracy") is not None and r["test_accuracy"] >= target:
            return r[key], r["round"]
    return None, None


def table(runs: list[dict], target: float) -> list[dict]:
    base = next((r for r in runs if r["label"] == "none"), None)
    base_bytes = first_reach(base["rows"], target)[0] if base else None
    out = []
    for run in runs:
        rows = run["rows"]
        reached, at = first_reach(rows, target)
        accs = [r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None]
        out.append(
            {
                "label": run["label"],
                "final": accs[-1],
                "best": max(accs),
                "bytes_client_round": rows[0]["bytes_up_mean"],
                "down_total": rows[-1]["bytes_down_cumulative"],
                "bytes_at_target": reached,
                "round_at_target": at,
                "factor": base_bytes / reached if reached and base_bytes else None,
            }
        )
    return out


def markdown(rows: list[dict], target: float) -> str:
    lines = [
        f"| uplink | final acc. | best | bytes / client / round | MB up to {target:.2f} "
        "| round | x fewer bytes | MB down (run) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        at = f"{r['bytes_at_target'] / 1e6:.3f}" if r["bytes_at_target"] else "never"
        rnd = str(r["round_at_target"]) if r["round_at_target"] else "-"
        factor = f"{r['factor']:.1f}" if r["factor"] else "-"
        lines.append(
            f"| {r['label']} | {r['final']:.3f} | {r['best']:.3f} | "
            f"{r['bytes_client_round']:,.0f} | {at} | {rnd} | {factor} | "
            f"{r['down_total'] / 1e6:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    # One colour per codec; solid with error feedback, dashed without; downlink dotted.
    families = sorted({run["label"].split(" + EF")[0] for run in runs})
    colours = dict(zip(families, plt.get_cmap("tab10").colors))
    colours["none"] = "black"
    for run in runs:
        rows = [r for r in run["rows"] if r.get("test_accuracy") is not None]
        name = run["label"]
        style = ":" if "down:" in name else "-" if "EF" in name or name == "none" else "--"
        ax.plot(
            [r["bytes_up_cumulative"] for r in rows],
            [r["test_accuracy"] for r in rows],
            style,
            color=colours[name.split(" + EF")[0]],
            label=name,
            linewidth=2.2 if name == "none" else 1.4,
        )
    ax.axhline(target, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("cumulative bytes up, all clients (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title("digits, 10 of 100 clients a round: accuracy against bytes sent")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stress_dir", type=Path)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--md", type=Path)
    args = parser.parse_args(argv)
    runs = load(args.stress_dir)
    text = markdown(table(runs, args.target), args.target)
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.png:
        plot(runs, args.png, args.target)


if __name__ == "__main__":
    main()
