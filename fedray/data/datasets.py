"""Datasets that load as whole arrays by name: sklearn's digits and a user's Parquet table.

A loader is `fn(params) -> Arrays`; nothing is ever downloaded.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fedray.data.split import held_out_split, sklearn_digits


class _OnFirstUse:
    """A module imported when first used. pyarrow.compute costs about 0.2 s of CPU at
    import (it loads pydoc and sysconfig), and only Parquet datasets use it: digits and
    generated data, and `fedray validate` on them, never pay for it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


pc = _OnFirstUse("pyarrow.compute")
pq = _OnFirstUse("pyarrow.parquet")


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
    # The tensor column's per-sample shape; empty keeps it flat.
    shape: tuple[int, ...] = field(default=(), metadata={"min": 1})
    client_column: str = "client_id"  # natural partition ids, used when the column exists
    test_path: str | None = None  # a separate test table; else a held-out split
    test_fraction: float = field(default=0.2, metadata={"gt": 0, "lt": 1})


def _split(n: int, test_fraction: float, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified held-out split, the same for every scenario seed."""
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    try:
        return held_out_split(n, test_fraction, stratify)
    except ValueError as exc:  # a split with no training or test example left
        raise DataError(
            "data.test_fraction",
            f"{test_fraction:g} of {n} examples leaves no usable split ({exc}) (got "
            f"{test_fraction:g}; expected a fraction that keeps examples on both sides)",
        ) from None


def digits(params: DigitsParams) -> Arrays:
    """The 1,797 8x8 handwritten digits that scikit-learn ships, scaled to [0, 1]."""
    data, target = sklearn_digits()
    x = (data / 16.0).astype(np.float32)
    y = target.astype(np.int64)
    train, test = _split(len(y), params.test_fraction, y)
    return Arrays(x[train], y[train], x[test], y[test], num_classes=10)


class DataError(ValueError):
    """A data file the scenario cannot use; `key` is the scenario key to fix (`data.path`, ...)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _column(table: pa.Table, name: str, key: str, path: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataError(
            key,
            f"{path} has no column {name!r} (got {name!r}; expected one of {table.column_names})",
        )
    column = table.column(name)
    if column.null_count:
        raise DataError(
            key,
            f"{path}: column {name!r} has {column.null_count} null values (got nulls; expected "
            "a value in every row): drop or fill those rows",
        )
    return column


def _float32(column) -> np.ndarray:
    """Features as float32; values beyond its range become inf, refused by the finite check."""
    with np.errstate(over="ignore"):
        return column.to_numpy(zero_copy_only=False).astype(np.float32)


def _tensor(table: pa.Table, params: ParquetParams, path: str) -> np.ndarray:
    name = params.tensor_column
    column = _column(table, name, "data.tensor_column", path).combine_chunks()
    if isinstance(column.type, pa.ExtensionType):
        column = column.storage
    while (
        pa.types.is_list(column.type)
        or pa.types.is_large_list(column.type)
        or pa.types.is_fixed_size_list(column.type)
    ):
        extent = pc.min_max(pc.list_value_length(column))
        low, high = extent["min"].as_py(), extent["max"].as_py()
        if column.null_count or low != high:
            raise DataError(
                "data.tensor_column",
                f"{path}: column {name!r} is ragged or has nulls (got lists of {low} to {high} "
                "values; expected one tensor of the same shape per row)",
            )
        column = column.flatten()
    if not _is_number(column.type) or column.null_count:
        raise DataError(
            "data.tensor_column",
            f"{path}: column {name!r} holds {column.type} (got {column.type}"
            f"{' with nulls' if column.null_count else ''}; expected lists of numbers)",
        )
    x = _float32(column).reshape(table.num_rows, -1)
    if params.shape and math.prod(params.shape) != x.shape[1]:
        raise DataError(
            "data.shape",
            f"{path}: column {name!r} holds {x.shape[1]} values per row (got shape "
            f"{list(params.shape)}; expected a shape of {x.shape[1]} values)",
        )
    return x.reshape(table.num_rows, *params.shape) if params.shape else x


def _features(table: pa.Table, params: ParquetParams, path: str) -> np.ndarray:
    if params.tensor_column:
        return _tensor(table, params, path)
    skip = {params.label_column, params.client_column}
    names = list(params.feature_columns) or [
        f.name for f in table.schema if f.name not in skip and _is_number(f.type)
    ]
    if not names:
        found = ", ".join(f"{f.name}: {f.type}" for f in table.schema)
        raise DataError(
            "data.feature_columns",
            f"{path}: no numeric feature columns besides the label and client id (got "
            f"{found}; expected integer or float columns, or data.tensor_column)",
        )
    columns = []
    for name in names:
        column = _column(table, name, "data.feature_columns", path)
        if not _is_number(column.type):
            raise DataError(
                "data.feature_columns",
                f"{path}: column {name!r} is not numeric (got {column.type}; expected integers "
                "or floats: encode it as numbers, or leave it out of data.feature_columns)",
            )
        columns.append(_float32(column))
    return np.stack(columns, axis=1)


def _labels(table: pa.Table, params: ParquetParams, path: str) -> pa.ChunkedArray:
    column = _column(table, params.label_column, "data.label_column", path)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if not (_is_number(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataError(
            "data.label_column",
            f"{path}: column {params.label_column!r} cannot be class labels (got {kind}; "
            "expected integers or strings, one class per row)",
        )
    if pa.types.is_floating(kind) and pc.any(pc.is_nan(column)).as_py():
        raise DataError(
            "data.label_column",
            f"{path}: column {params.label_column!r} has NaN labels (got NaN; expected a class "
            "in every row): drop or fill those rows",
        )
    # One type per kind, so a train file of int32 labels and a test file of int64 agree.
    wider = {"int": pa.int64(), "float": pa.float64(), "str": pa.large_string()}
    if pa.types.is_integer(kind) and kind != pa.uint64():
        return column.cast(wider["int"])
    if pa.types.is_floating(kind):
        return column.cast(wider["float"])
    if pa.types.is_string(kind):
        return column.cast(wider["str"])
    return column


def _read(path: str, params: ParquetParams, key: str) -> pa.Table:
    if not os.path.isfile(path):
        raise DataError(key, f"file not found (got {path!r}; expected an existing Parquet file)")
    try:
        table = pq.read_table(path, memory_map=True)
    except (pa.ArrowException, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(
            key,
            f"{path} is not a readable Parquet file ({reason}) (got {path!r}; expected a "
            "Parquet file, e.g. written by pyarrow.parquet.write_table or pandas.to_parquet)",
        ) from None
    if table.num_rows == 0:
        raise DataError(key, f"{path} has no rows (got 0 rows; expected one row per example)")
    default_client = ParquetParams.__dataclass_fields__["client_column"].default
    if params.client_column != default_client or params.client_column in table.column_names:
        clients = _column(table, params.client_column, "data.client_column", path)
        if not (pa.types.is_integer(clients.type) or pa.types.is_string(clients.type)):
            raise DataError(
                "data.client_column",
                f"{path}: column {params.client_column!r} cannot be client ids (got "
                f"{clients.type}; expected integers or strings)",
            )
    return table


def _checked_features(table: pa.Table, params: ParquetParams, path: str) -> np.ndarray:
    x = _features(table, params, path)
    bad = int((~np.isfinite(x.reshape(len(x), -1)).all(axis=1)).sum())
    if bad:
        raise DataError(
            "data.feature_columns" if not params.tensor_column else "data.tensor_column",
            f"{path}: {bad} rows have NaN, infinite or beyond-float32 features (got {bad} "
            "rows; expected finite numbers within +-3.4e38): drop or fill them",
        )
    return x


def parquet(params: ParquetParams) -> Arrays:
    """A user's own table: feature columns or one tensor column, a label column, client ids."""
    table = _read(params.path, params, "data.path")
    test_table = _read(params.test_path, params, "data.test_path") if params.test_path else None
    raw = [_labels(table, params, params.path)]
    if test_table is not None:
        raw.append(_labels(test_table, params, params.test_path))
        if raw[0].type != raw[1].type:
            train_type, test_type = (
                t.schema.field(params.label_column).type for t in (table, test_table)
            )
            raise DataError(
                "data.test_path",
                f"{params.test_path}: column {params.label_column!r} holds {test_type}, but "
                f"in {params.path} it holds {train_type} (got {test_type}; expected labels "
                f"of the same kind as {train_type})",
            )
    classes = pc.unique(pa.chunked_array([c for r in raw for c in r.chunks], raw[0].type)).sort()
    codes = [
        pc.index_in(r, value_set=classes).to_numpy(zero_copy_only=False).astype(np.int64)
        for r in raw
    ]
    x = _checked_features(table, params, params.path)
    clients = None
    if params.client_column in table.column_names:
        clients = table.column(params.client_column).to_numpy(zero_copy_only=False)
    if test_table is not None:
        x_test = _checked_features(test_table, params, params.test_path)
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(
                "data.test_path",
                f"{params.test_path}: features of shape {x_test.shape[1:]} per row, but "
                f"{params.path} has {x.shape[1:]} (got {x_test.shape[1:]}; expected {x.shape[1:]})",
            )
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
