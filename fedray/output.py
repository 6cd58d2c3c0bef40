"""A run's output directory: what is written, when, and how a resumed run picks it up.

DIR/scenario.yaml      the resolved scenario (every default spelled out)
DIR/partition.parquet  client id, examples, label histogram (materialised datasets)
DIR/metrics.parquet    one row per round (at the end; `metrics.parts/` holds them meanwhile)
DIR/clients.parquet    one row per client per round
DIR/summary.json       final figures and the SHA-256 of the final parameters
DIR/checkpoints/       server state every `output.checkpoint_every` rounds
DIR/tensorboard/       event files: the run `federated`, and `baseline` when asked for
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from fedray import checkpoint
from fedray.data.arrow import int64_array, int64_rows
from fedray.files import write_durably
from fedray.metrics import dashboard
from fedray.metrics.tables import ClientLog, History, write_atomic
from fedray.metrics.tensorboard import TensorBoardSink
from fedray.metrics.virtual_clock import VirtualClockSink
from fedray.scenario import to_yaml


def params_sha256(params: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(params, dtype=np.float32).tobytes()).hexdigest()


def _last(rows: list[dict], key: str):
    """The last non-null value of `key` over the round rows, or None."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return values[-1] if values else None


def _total(rows: list[dict], key: str):
    """The sum of `key` over the round rows, or None when no row has it."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return sum(values) if values else None


def fresh_dir(base: Path) -> Path:
    """`base`, or `base.1`, `base.2`, ... : the first that holds no run yet."""
    candidate, n = base, 0
    while (candidate / "scenario.yaml").exists():
        n += 1
        candidate = base.with_name(f"{base.name}.{n}")
    return candidate


class RunOutput:
    def __init__(self, out: Path, scenario, resume_from: int | None = None):
        """Open `out` for a fresh run, or, with `resume_from` (last checkpointed round, 0 if
        none), for one that continues: rows past that round are dropped, not duplicated."""
        self.out = out
        self.scenario = scenario
        out.mkdir(parents=True, exist_ok=True)
        done = resume_from or 0
        self.history = History.load(out, done) if resume_from is not None else History(out)
        self.clients = ClientLog(out)
        if resume_from is not None:
            self.clients.discard_after(done)
        # A resumed run may have been extended (--set rounds=N): record what runs now.
        write_durably(out / "scenario.yaml", to_yaml(scenario).encode())
        self.last_flushed = done
        self.tb = self.clock_tb = None
        if scenario.output.tensorboard and scenario.system.mode != "none":
            rows = self.history.rows
            since = (
                rows[-1].get("virtual_seconds", 0.0) if resume_from is not None and rows else None
            )
            self.clock_tb = VirtualClockSink(out, since if resume_from is not None else None)
        if scenario.output.tensorboard:
            purge = done + 1 if resume_from is not None else None
            self.tb = TensorBoardSink(
                str(out / "tensorboard" / "federated"),
                purge_step=purge,
                hide=dashboard.hidden_groups(scenario),
            )
            # Step 0, once: a resumed run keeps the scenario text and the charts it began with.
            if resume_from is None:
                self.tb.text("scenario", "```yaml\n" + to_yaml(scenario) + "\n```")
                self.tb.layout(dashboard.layout(scenario))

    def write_partition(self, histograms: np.ndarray) -> None:
        table = pa.table(
            {
                "client_id": int64_array(np.arange(len(histograms))),
                "num_examples": int64_array(histograms.sum(axis=1)),
                "label_histogram": int64_rows(histograms),
            }
        )
        write_atomic(table, self.out / "partition.parquet")

    def record(self, row: dict, client_rows: list[dict], histograms: dict) -> None:
        row["elapsed_seconds"] = row["wall_seconds"] + (
            self.history.rows[-1]["elapsed_seconds"] if self.history.rows else 0.0
        )
        for key in ("bytes_up", "bytes_down"):  # what the run has sent so far, for x axes
            before = (
                self.history.rows[-1].get(f"{key}_cumulative") if self.history.rows else 0
            ) or 0
            row[f"{key}_cumulative"] = before + (row.get(f"{key}_total") or 0)
        self.history.append(row)
        self.clients.extend(client_rows)
        if self.tb:
            self.tb.write(row["round"], row, histograms)
        if self.clock_tb:
            self.clock_tb.write(row)

    def checkpoint(self, state) -> None:
        """Write the tables first, the checkpoint last: the checkpoint is the commit point,
        so a crash in between resumes from the previous one with nothing missing."""
        self.clients.flush(self.last_flushed + 1, state.round)
        self.history.save()
        checkpoint.save(self.out, state)
        self.last_flushed = state.round
        keep = self.scenario.output.keep_checkpoints
        if keep != "all":
            checkpoint.prune(self.out, keep)

    def close(self) -> None:
        if self.tb:
            self.tb.close()
            self.tb = None
        if self.clock_tb:
            self.clock_tb.close()
            self.clock_tb = None

    def add_baseline(self, curve: list[dict]) -> None:
        """Merge the centralized baseline into the round rows and into TensorBoard.

        In TensorBoard it is a sibling run (`tensorboard/baseline`) under the same tags, so
        its curve is drawn on the federated one.
        """
        by_round = {b["round"]: b for b in curve}
        for row in self.history.rows:
            row.pop("baseline_test_accuracy", None)  # a resumed run recomputes the whole curve
            row.pop("baseline_test_loss", None)
            row.update({k: v for k, v in by_round.get(row["round"], {}).items() if k != "round"})
        if self.scenario.output.tensorboard:
            sink = TensorBoardSink(str(self.out / "tensorboard" / "baseline"), purge_step=1)
            for b in curve:
                sink.write(
                    b["round"],
                    {
                        "test_accuracy": b["baseline_test_accuracy"],
                        "test_loss": b["baseline_test_loss"],
                    },
                )
            sink.close()

    def finish(self, params: np.ndarray, extra: dict) -> tuple[pa.Table, dict]:
        """Write the tables and summary.json; return (history, summary)."""
        self.history.finish()
        self.clients.finish()
        history = self.history.table()
        summary = self._summary(params, extra)
        write_durably(self.out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
        return history, summary

    def _summary(self, params: np.ndarray, extra: dict) -> dict:
        rows = self.history.rows
        accs = [r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None]
        last = rows[-1] if rows else {}
        return {
            "name": self.scenario.name,
            "rounds": last.get("round", 0),
            "final_test_accuracy": accs[-1] if accs else None,
            "best_test_accuracy": max(accs) if accs else None,
            "final_test_loss": last.get("test_loss"),
            "final_backdoor_success": _last(rows, "backdoor_success"),
            "final_target_accuracy": _last(rows, "target_accuracy"),
            "final_epsilon": _last(rows, "privacy_epsilon"),
            "final_epsilon_median": _last(rows, "privacy_epsilon_median"),
            "final_membership_auc": _last(rows, "audit_membership_auc"),
            # allow_insecure: the chance some client's secrets were poolable by the corrupt
            "secagg_insecure_probability": _last(rows, "secagg_insecure_probability"),
            # a simulated dishonest server: inputs it recovered, and what the clients caught
            "secagg_leaked_clients": _total(rows, "secagg_leaked_clients"),
            "secagg_caught": _last(rows, "secagg_caught"),
            "final_train_loss": last.get("train_loss"),
            "baseline_test_accuracy": last.get("baseline_test_accuracy"),
            "elapsed_seconds": last.get("elapsed_seconds"),
            "virtual_seconds": _last(rows, "virtual_seconds"),  # the system model's clock
            "participation_max": _last(rows, "participation_max"),
            "num_params": int(params.size),
            "params_sha256": params_sha256(params),
            **extra,
        }
