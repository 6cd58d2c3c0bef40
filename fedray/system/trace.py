"""Reading FedScale-style device and availability traces from CSV or Parquet.

FedScale ships its traces as pickled dicts keyed by client id: a device table
{'computation': ms per sample, 'communication': kbit/s} and an availability table
{'active': [s, ...], 'inactive': [s, ...], 'finish_time': s}, where the client is online
from active[i] to inactive[i], the pattern repeating every finish_time seconds. fedray
reads the same fields as table columns (never a pickle): one row per client for devices;
one row per interval (or one row per client with list columns) for availability.

A trace holds its own clients, not the population's: fedray's client c takes the trace's
client at position c mod (clients in the trace), sorted by id, as FedScale maps clients.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEVICE_COLUMNS = ("client_id", "computation", "communication")  # as in system/rules.py
DROPOUT_COLUMNS = ("dropout_before", "dropout_during", "dropout_after")
AVAILABILITY_COLUMNS = ("client_id", "active", "inactive", "finish_time")


def read_table(path: str) -> pa.Table:
    """A CSV (by its .csv suffix) or Parquet file as an Arrow table."""
    if Path(path).suffix.lower() == ".csv":
        return pacsv.read_csv(path)
    return pq.read_table(path)


def missing_columns(path: str, needed: tuple[str, ...]) -> list[str]:
    """The `needed` columns the table at `path` lacks (reads the header / schema only)."""
    if Path(path).suffix.lower() == ".csv":
        names = read_table(path).column_names
    else:
        names = pq.read_schema(path).names
    return [c for c in needed if c not in names]


@dataclass(frozen=True)
class DeviceTrace:
    speed: np.ndarray  # (m,) samples per second
    upload: np.ndarray  # (m,) bytes per second
    download: np.ndarray  # (m,) bytes per second
    dropout: np.ndarray | None  # (m, 3) before, during, after; None when not in the trace

    def rows(self, client_ids: np.ndarray) -> np.ndarray:
        return np.asarray(client_ids, dtype=np.int64) % len(self.speed)


@functools.lru_cache(maxsize=8)
def device_trace(path: str) -> DeviceTrace:
    """Read a device trace: computation (ms per sample) -> samples/s, communication
    (kbit/s) -> bytes/s for both directions, as FedScale uses one figure for both."""
    t = read_table(path).sort_by("client_id")
    ms = t["computation"].to_numpy().astype(np.float64)
    kbps = t["communication"].to_numpy().astype(np.float64)
    if len(ms) == 0 or not (ms > 0).all() or not (kbps > 0).all():
        raise ValueError(
            f"device trace {path}: computation and communication must be positive in every "
            f"row (got {len(ms)} rows, min computation {ms.min() if len(ms) else None}, min "
            f"communication {kbps.min() if len(kbps) else None}); fix or drop those rows"
        )
    bandwidth = kbps * 1000.0 / 8.0
    dropout = None
    if all(c in t.column_names for c in DROPOUT_COLUMNS):
        dropout = np.stack([t[c].to_numpy().astype(np.float64) for c in DROPOUT_COLUMNS], 1)
    return DeviceTrace(1000.0 / ms, bandwidth, bandwidth.copy(), dropout)


@dataclass(frozen=True)
class AvailabilityTrace:
    """Intervals of every trace client, flattened: client k's are start[offsets[k]:offsets[k+1]]."""

    offsets: np.ndarray  # (m + 1,)
    start: np.ndarray  # seconds within the period
    end: np.ndarray
    period: np.ndarray  # (m,) finish_time: the pattern repeats with this period

    def online(self, client_ids: np.ndarray, t: float | np.ndarray) -> np.ndarray:
        """Whether each client is inside one of its active intervals at time t (mod period)."""
        k = np.asarray(client_ids, dtype=np.int64) % len(self.period)
        local = np.mod(np.broadcast_to(np.asarray(t, np.float64), k.shape), self.period[k])
        out = np.zeros(len(k), bool)
        for i, (row, when) in enumerate(zip(k.tolist(), local.tolist())):
            lo, hi = self.offsets[row], self.offsets[row + 1]
            j = np.searchsorted(self.start[lo:hi], when, side="right") - 1
            out[i] = j >= 0 and when < self.end[lo + j]
        return out


@functools.lru_cache(maxsize=8)
def availability_trace(path: str) -> AvailabilityTrace:
    """Read an availability trace: rows of (client_id, active, inactive, finish_time), one per
    interval, or one per client with `active` and `inactive` as lists."""
    t = read_table(path)
    if pa.types.is_list(t.schema.field("active").type):
        t = pa.table(_explode(t))
    t = t.sort_by([("client_id", "ascending"), ("active", "ascending")])
    ids = t["client_id"].to_numpy().astype(np.int64)
    start = t["active"].to_numpy().astype(np.float64)
    end = t["inactive"].to_numpy().astype(np.float64)
    finish = t["finish_time"].to_numpy().astype(np.float64)
    if len(ids) == 0 or (end <= start).any() or (finish <= 0).any():
        raise ValueError(
            f"availability trace {path}: every interval needs active < inactive and a "
            f"positive finish_time (got {len(ids)} rows); fix or drop the bad rows"
        )
    first = np.r_[True, ids[1:] != ids[:-1]]
    offsets = np.r_[np.flatnonzero(first), len(ids)]
    return AvailabilityTrace(offsets, start, end, finish[first])


def _explode(t: pa.Table) -> dict:
    """One row per interval from one row per client with list columns."""
    parents = pc.list_parent_indices(t["active"]).to_numpy()
    return {
        "client_id": t["client_id"].to_numpy()[parents],
        "active": pc.list_flatten(t["active"]),
        "inactive": pc.list_flatten(t["inactive"]),
        "finish_time": t["finish_time"].to_numpy()[parents],
    }
