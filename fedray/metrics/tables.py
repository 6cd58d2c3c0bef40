"""Parquet tables: `metrics.parquet` (a row per round) and `clients.parquet` (a row per client per round).

Both are written as one part file per checkpoint interval (`metrics.parts/`,
`clients.parts/`), so a long run never rewrites what it already wrote and a resumed run
drops only the parts past its checkpoint; `finish` joins the parts into the tables.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fedray.files import write_durably

CLIENT_SCHEMA = pa.schema(
    [
        ("round", pa.int64()),
        ("client_id", pa.int64()),
        ("status", pa.string()),
        ("num_examples", pa.int64()),
        ("train_loss", pa.float64()),
        ("update_norm", pa.float64()),
        ("seconds", pa.float64()),
        ("label_histogram", pa.list_(pa.int64())),
        ("kept", pa.bool_()),  # null unless the defense selects rows (Krum, Multi-Krum, Bulyan)
        ("malicious", pa.bool_()),  # null without an attack
        # Secure aggregation (null when off): this client's protocol traffic and crypto time,
        # and the stage it went silent at ("" if it finished).
        ("secagg_bytes_up", pa.int64()),
        ("secagg_bytes_down", pa.int64()),
        ("secagg_seconds", pa.float64()),
        ("secagg_dropped_at", pa.string()),
        # Bytes of this client's messages, as encoded (fedray/compression): its update up,
        # the model (or the compressed delta to its copy) down; null if it did not train.
        ("bytes_up", pa.int64()),
        ("bytes_down", pa.int64()),
        # Local DP-SGD (null when off): this round's steps, sample rate and noise multiplier.
        ("dp_steps", pa.int64()),
        ("dp_sample_rate", pa.float64()),
        ("dp_noise_multiplier", pa.float64()),
        # The virtual clock (null with system.mode: none): when the client was asked and when
        # it reported or was lost, why it did not report ("" if it did), the stage it dropped
        # at, the local steps it trained, and its reports so far (also without a clock).
        ("sim_start", pa.float64()),
        ("sim_finish", pa.float64()),
        ("sim_reason", pa.string()),
        ("sim_dropped_at", pa.string()),
        ("local_steps", pa.int64()),
        ("participation", pa.int64()),
        # FedBuff (null in synchronous runs): the model version it trained from, and how many
        # server steps happened meanwhile when its update was applied.
        ("model_version", pa.int64()),
        ("staleness", pa.int64()),
    ]
)


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` as Parquet at `path`, whole or not at all (see `files.write_durably`)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_durably(path, sink.getvalue().to_pybytes())


class History:
    """Round rows: a part file per checkpoint interval under `metrics.parts/`, joined into
    metrics.parquet when the run finishes.

    Like the client rows, a checkpoint writes only the rows since the previous one, so a run
    of many rounds (or FedBuff's many server steps) never rewrites what it already wrote.
    """

    def __init__(self, out: Path, rows: list[dict] | None = None):
        self.path = out / "metrics.parquet"
        self.parts = out / "metrics.parts"
        self.parts.mkdir(parents=True, exist_ok=True)
        self.rows = list(rows or [])
        self._saved = len(self.rows)  # rows already in part files

    @staticmethod
    def load(out: Path, up_to_round: int) -> History:
        """The rows of rounds 1..`up_to_round` a run left in `out`; later parts are deleted."""
        history = History(out)
        parts = sorted(history.parts.glob("*.parquet"))
        if not parts and history.path.exists():  # a run from before part files
            rows = [r for r in pq.read_table(history.path).to_pylist() if r["round"] <= up_to_round]
            history.rows = rows
            history.save()
            return history
        for part in parts:
            if int(part.stem.split("-")[1]) > up_to_round:
                part.unlink()  # written after the last checkpoint: those rounds run again
            else:
                history.rows += pq.read_table(part).to_pylist()
        history._saved = len(history.rows)
        return history

    def append(self, row: dict) -> None:
        self.rows.append(row)

    def table(self, rows: list[dict] | None = None) -> pa.Table:
        rows = self.rows if rows is None else rows
        columns: dict[str, list] = {}
        for row in rows:
            for key in row:
                columns.setdefault(key, [])
        for key in columns:
            columns[key] = [row.get(key) for row in rows]
        return pa.table(columns) if columns else pa.table({"round": pa.array([], pa.int64())})

    def save(self) -> None:
        """Write the rows since the last save as one part file."""
        new = self.rows[self._saved :]
        if not new:
            return
        name = f"{new[0]['round']:07d}-{new[-1]['round']:07d}.parquet"
        write_atomic(self.table(new), self.parts / name)
        self._saved = len(self.rows)

    def finish(self) -> None:
        """Write metrics.parquet whole, from every row (the baseline merged in by then)."""
        self.save()
        write_atomic(self.table(), self.path)


class ClientLog:
    """Per-client rows, buffered until the next checkpoint writes them as one part file."""

    def __init__(self, out: Path):
        self.out = out
        self.parts = out / "clients.parts"
        self.parts.mkdir(parents=True, exist_ok=True)
        self.buffer: list[dict] = []

    def discard_after(self, round_: int) -> None:
        """Drop part files holding rounds past `round_` (a crash after the last checkpoint)."""
        for part in sorted(self.parts.glob("*.parquet")):
            if int(part.stem.split("-")[1]) > round_:
                part.unlink()

    def extend(self, rows: list[dict]) -> None:
        self.buffer.extend(rows)

    def flush(self, round_from: int, round_to: int) -> None:
        if not self.buffer:
            return
        table = pa.Table.from_pylist(self.buffer, schema=CLIENT_SCHEMA)
        write_atomic(table, self.parts / f"{round_from:07d}-{round_to:07d}.parquet")
        self.buffer = []

    def finish(self) -> pa.Table:
        """Join the parts into clients.parquet and return it, sorted by round and client id."""
        parts = sorted(self.parts.glob("*.parquet"))
        table = (
            pa.concat_tables([pq.read_table(p) for p in parts])
            if parts
            else CLIENT_SCHEMA.empty_table()
        )
        table = table.take(
            pc.sort_indices(table, [("round", "ascending"), ("client_id", "ascending")])
        )
        write_atomic(table, self.out / "clients.parquet")
        return table
