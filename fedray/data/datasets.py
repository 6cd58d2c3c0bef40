"""Datasets that load as whole arrays by name: sklearn's digits and a user's Parquet table.

A loader is `fn(params) -> Arrays`; nothing is ever downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Arrays:
    """A dataset held in memory: features float32, labels int64 in [0, num_classes)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    client_ids: np.ndarray | None = None  # per training sample, for natural partitions

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


@dataclass(frozen=True)
class DigitsParams:
    test_fraction: float = field(default=0.2, metadata={"gt": 0, "lt": 1})


@dataclass(frozen=True)
class ParquetParams:
    path: str = ""
    label_column: str = "label"
    feature_columns: tuple[str, ...] = ()  # empty: every numeric column but label and client
    tensor_column: str | None = None  # a list / fixed-size-list / tensor column instead
    shape: tuple[int, ...] = field(
        default=(), metadata={"min": 1}
    )  # the tensor column's per-sample shape; empty keeps it flat
    client_column: str = "client_id"  # natural partition ids, used when the column exists
    test_path: str | None = None  # a separate test table; else a held-out split
    test_fraction: float = field(default=0.2, metadata={"gt": 0, "lt": 1})


def _split(n: int, test_fraction: float, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified held-out split, the same for every scenario seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    train, test = train_test_split(idx, test_size=test_fraction, random_state=0, stratify=stratify)
    return np.sort(train), np.sort(test)


def digits(params: DigitsParams) -> Arrays:
    """The 1,797 8x8 handwritten digits that scikit-learn ships, scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    train, test = _split(len(y), params.test_fraction, y)
    return Arrays(x[train], y[train], x[test], y[test], num_classes=10)


def _features(table: pa.Table, params: ParquetParams) -> np.ndarray:
    if params.tensor_column:
        column = table.column(params.tensor_column).combine_chunks()
        if isinstance(column.type, pa.ExtensionType):
            column = column.storage
        while (
            pa.types.is_list(column.type)
            or pa.types.is_large_list(column.type)
            or (pa.types.is_fixed_size_list(column.type))
        ):
            column = column.flatten()
        flat = column.to_numpy(zero_copy_only=False).astype(np.float32)
        x = flat.reshape(table.num_rows, -1)
        return x.reshape(table.num_rows, *params.shape) if params.shape else x
    skip = {params.label_column, params.client_column}
    names = list(params.feature_columns) or [
        f.name
        for f in table.schema
        if f.name not in skip and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]
    if not names:
        raise ValueError(f"{params.path}: no numeric feature columns besides the label")
    return np.stack([table.column(n).to_numpy(zero_copy_only=False) for n in names], axis=1).astype(
        np.float32
    )


def _read(path: str, params: ParquetParams) -> pa.Table:
    if not os.path.exists(path):
        raise ValueError(
            f"data.path: file not found (got {path!r}; expected an existing Parquet file)"
        )
    table = pq.read_table(path, memory_map=True)
    wanted = [params.label_column, *params.feature_columns]
    wanted += [params.tensor_column] if params.tensor_column else []
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(map(repr, missing))}; it has {table.column_names}"
        )
    for name in (params.label_column, params.client_column):
        if name in table.column_names and table.column(name).null_count:
            raise ValueError(
                f"{path}: column {name!r} has {table.column(name).null_count} null values; "
                "drop or fill those rows"
            )
    return table


def _checked_features(table: pa.Table, params: ParquetParams, path: str) -> np.ndarray:
    x = _features(table, params)
    bad = int((~np.isfinite(x.reshape(len(x), -1)).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} rows have NaN or infinite features; drop or fill them")
    return x


def parquet(params: ParquetParams) -> Arrays:
    """A user's own table: feature columns or one tensor column, a label column, client ids."""
    table = _read(params.path, params)
    test_table = _read(params.test_path, params) if params.test_path else None
    raw = [table.column(params.label_column)]
    if test_table is not None:
        raw.append(test_table.column(params.label_column))
    classes = pc.unique(pa.chunked_array([c for r in raw for c in r.chunks])).sort()
    codes = [
        pc.index_in(r, value_set=classes).to_numpy(zero_copy_only=False).astype(np.int64)
        for r in raw
    ]
    x = _checked_features(table, params, params.path)
    clients = None
    default_column = ParquetParams.__dataclass_fields__["client_column"].default
    if params.client_column not in table.column_names and params.client_column != default_column:
        raise ValueError(
            f"{params.path}: no column {params.client_column!r} (data.client_column); "
            f"it has {table.column_names}"
        )
    if params.client_column in table.column_names:
        clients = table.column(params.client_column).to_numpy(zero_copy_only=False)
    if test_table is not None:
        x_test = _checked_features(test_table, params, params.test_path)
        return Arrays(x, codes[0], x_test, codes[1], len(classes), clients)
    train, test = _split(len(codes[0]), params.test_fraction, codes[0])
    return Arrays(
        x[train],
        codes[0][train],
        x[test],
        codes[0][test],
        len(classes),
        None if clients is None else clients[train],
    )
