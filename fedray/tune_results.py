"""What `fedray tune` leaves: a row per trial, stopped trials' run directories closed, and
the tables (`tune_results.parquet` / `.csv`, `tune.md`, TensorBoard hparams).

No Ray Tune import here: a finished search's `ResultGrid` is read through the attributes
every `ray.tune.Result` has (`metrics`, `config`, `metrics_dataframe`, `error`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq

from fedray import checkpoint
from fedray.output import RunOutput
from fedray.scenario import load_scenario
from fedray.stress import label

STOPPED = "tune: the ASHA scheduler stopped this trial (it trailed at a rung)"


def close_stopped(run_dir: Path, reason: str = STOPPED) -> dict | None:
    """Write metrics.parquet and summary.json for a run stopped between rounds, from its
    last checkpoint (rows after it are dropped). Return its summary, or None when the run
    holds no checkpoint (it never finished a round). No Ray: the parameters come from the
    checkpoint."""
    if (run_dir / "summary.json").exists():
        return json.loads((run_dir / "summary.json").read_text())
    if not (run_dir / "scenario.yaml").exists():
        return None
    state = checkpoint.load_latest(run_dir)
    if state is None or state.round == 0:
        return None
    scenario = load_scenario(run_dir / "scenario.yaml")
    output = RunOutput(run_dir, scenario, resume_from=state.round)
    output.close()
    extra = {"seed": scenario.seed, "stopped_at_round": state.round, "stop_reason": reason}
    return output.finish(state.params, extra)[1]


def trial_row(result, search, out: Path, rounds: int) -> dict:
    """One trial: its sampled values, status, last and best reported metric, its run."""
    metrics = result.metrics or {}
    trial_id = metrics.get("trial_id")
    run_dir = out / "runs" / trial_id if trial_id else None
    summary = close_stopped(run_dir) if run_dir is not None else None
    frame = result.metrics_dataframe
    series = (
        [v for v in frame[search.metric].tolist() if not _nan(v)]
        if frame is not None and search.metric in frame
        else []
    )
    best = (max if search.mode == "max" else min)(series) if series else None
    if result.error is not None:
        status = f"error: {str(result.error).splitlines()[0][:200]}"
    elif summary is not None and summary.get("stopped_at_round") is not None:
        status = "stopped"
    else:
        status = "finished" if metrics.get("round") == rounds else "incomplete"
    return {
        "trial_id": trial_id,
        **{a.path: result.config.get(a.path) for a in search.axes},
        "status": status,
        "rounds": summary["rounds"] if summary else metrics.get("round"),
        search.metric: series[-1] if series else None,
        f"best_{search.metric}": best,
        "final_test_accuracy": summary.get("final_test_accuracy") if summary else None,
        "stopped_at_round": summary.get("stopped_at_round") if summary else None,
        "run_dir": str(run_dir) if run_dir is not None else None,
    }


def write_results(out: Path, grid, search, *, rounds: int) -> pa.Table:
    """Rows best first; the config columns as numbers, or labels for names and sections."""
    rows = [trial_row(result, search, out, rounds) for result in grid]
    key = f"best_{search.metric}"
    sign = -1 if search.mode == "max" else 1
    rows.sort(key=lambda r: (r[key] is None, sign * r[key] if r[key] is not None else 0))
    for a in search.axes:
        column = label_column([r[a.path] for r in rows])
        for r, v in zip(rows, column):
            r[a.path] = v
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, out / "tune_results.parquet")
    pyarrow.csv.write_csv(table, out / "tune_results.csv")
    (out / "tune.md").write_text(markdown(rows, search))
    hparams(out, rows, search)
    return table


def label_column(values: list) -> list:
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return [label(v) if v is not None else None for v in values]


def markdown(rows: list[dict], search) -> str:
    paths = [a.path for a in search.axes]
    cols = [*paths, "status", "rounds", search.metric, f"best_{search.metric}", "trial_id"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def hparams(out: Path, rows: list[dict], search) -> None:
    """One TensorBoard hparams entry per trial: its values and its last and best metric."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tensorboard"))
    for r in rows:
        values = {a.path: r[a.path] for a in search.axes}
        figures = {
            f"hparam/{k}": r[k]
            for k in (search.metric, f"best_{search.metric}", "final_test_accuracy")
            if not _nan(r[k])
        }
        writer.add_hparams(values, figures, run_name=str(r["trial_id"]))
    writer.close()
