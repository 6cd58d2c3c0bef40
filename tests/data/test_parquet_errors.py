"""A user's Parquet file that cannot be used: one problem naming the file, the column and the
scenario key to fix, through `prepare` (and `fedray validate`, exit 2), never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedray.api import prepare
from fedray.data.datasets import DataError, ParquetParams, parquet
from fedray.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40


def good_columns(rows: int = ROWS) -> dict:
    i = np.arange(rows)
    return {
        "a": i.astype(np.float64),
        "b": 2 * i,
        "label": i % 2,
        "client_id": i % 4,
        "img": pa.array([[float(k), float(k + 1)] for k in i], pa.list_(pa.float32())),
    }


def write(path: Path, **changes) -> str:
    """The good table with columns replaced (a value) or dropped (None)."""
    columns = {**good_columns(), **changes}
    pq.write_table(pa.table({k: v for k, v in columns.items() if v is not None}), path)
    return str(path)


def scenario(path, **data) -> dict:
    return {
        "data": {"dataset": "parquet", "path": str(path), **data},
        "federation": {"population": 4, "clients_per_round": 2},
        "model": {"type": "logreg"},
        "evaluation": {"federated_clients": 0},
    }


def problem(raw: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        prepare(load_scenario(raw))
    (line,) = info.value.problems
    assert "\n" not in line
    return line


@pytest.mark.parametrize(
    "changes, data, key, column",
    [
        ({"label": None}, {}, "data.label_column", "'label'"),
        ({}, {"label_column": "y"}, "data.label_column", "'y'"),
        ({}, {"feature_columns": ["a", "zz"]}, "data.feature_columns", "'zz'"),
        ({}, {"tensor_column": "pixels"}, "data.tensor_column", "'pixels'"),
        ({}, {"client_column": "user"}, "data.client_column", "'user'"),
    ],
)
def test_missing_column_names_the_file_and_the_column(tmp_path, changes, data, key, column):
    path = write(tmp_path / "t.parquet", **changes)

    line = problem(scenario(path, **data))

    assert line.startswith(f"{key}: {path} has no column {column}")
    assert "expected one of [" in line


NULLS = pa.array([None] + list(range(1, ROWS)), pa.int64())


@pytest.mark.parametrize(
    "changes, data, key, column",
    [
        ({"label": NULLS}, {}, "data.label_column", "'label'"),
        ({"b": NULLS}, {"feature_columns": ["a", "b"]}, "data.feature_columns", "'b'"),
        ({"b": NULLS}, {}, "data.feature_columns", "'b'"),  # found among the numeric columns
        ({"client_id": NULLS}, {}, "data.client_column", "'client_id'"),
    ],
)
def test_nulls_name_the_file_and_the_column(tmp_path, changes, data, key, column):
    path = write(tmp_path / "t.parquet", **changes)

    line = problem(scenario(path, **data))

    assert line.startswith(f"{key}: {path}: column {column} has 1 null values")


@pytest.mark.parametrize(
    "img",
    [
        pa.array([None] + [[1.0, 2.0]] * (ROWS - 1), pa.list_(pa.float32())),  # a null row
        pa.array([[None, 2.0]] + [[1.0, 2.0]] * (ROWS - 1), pa.list_(pa.float32())),
        pa.array([[1.0]] + [[1.0, 2.0]] * (ROWS - 1), pa.list_(pa.float32())),  # ragged
    ],
)
def test_tensor_column_with_nulls_or_ragged_rows(tmp_path, img):
    path = write(tmp_path / "t.parquet", img=img)

    line = problem(scenario(path, tensor_column="img"))

    assert line.startswith(f"data.tensor_column: {path}: column 'img' ")


def test_tensor_column_of_strings(tmp_path):
    path = write(tmp_path / "t.parquet", img=pa.array([["x", "y"]] * ROWS))

    line = problem(scenario(path, tensor_column="img"))

    assert line.startswith(f"data.tensor_column: {path}: column 'img' holds string")


def test_tensor_shape_that_does_not_fit_names_data_shape(tmp_path):
    path = write(tmp_path / "t.parquet")

    line = problem(scenario(path, tensor_column="img", shape=[3, 3]))

    assert line.startswith(f"data.shape: {path}: column 'img' holds 2 values per row")


@pytest.mark.parametrize(
    "changes, data, key, expected",
    [
        (
            {"b": ["x"] * ROWS},
            {"feature_columns": ["a", "b"]},
            "data.feature_columns",
            "column 'b' is not numeric (got string;",
        ),
        (
            {"a": ["x"] * ROWS, "b": ["y"] * ROWS, "img": None},
            {},
            "data.feature_columns",
            "no numeric feature columns besides the label and client id (got a: string,",
        ),
        (
            {"label": pa.array([[1]] * ROWS)},
            {},
            "data.label_column",
            "column 'label' cannot be class labels (got list<",
        ),
        (
            {"label": [float("nan")] + [1.0] * (ROWS - 1)},
            {},
            "data.label_column",
            "column 'label' has NaN labels",
        ),
        (
            {"client_id": np.arange(ROWS) / 2},
            {},
            "data.client_column",
            "column 'client_id' cannot be client ids (got double;",
        ),
        (
            {"a": [1e39] + [1.0] * (ROWS - 1)},  # beyond float32: inf once cast, not a warning
            {"feature_columns": ["a"]},
            "data.feature_columns",
            "1 rows have NaN, infinite or beyond-float32 features",
        ),
    ],
)
def test_wrong_column_types(tmp_path, changes, data, key, expected):
    path = write(tmp_path / "t.parquet", **changes)

    line = problem(scenario(path, **data))

    assert line.startswith(f"{key}: {path}: {expected}")


def test_label_types_that_differ_between_train_and_test_files(tmp_path):
    train = write(tmp_path / "train.parquet")
    test = write(tmp_path / "test.parquet", label=np.where(np.arange(ROWS) % 2, "one", "zero"))

    line = problem(scenario(train, test_path=test))

    assert line.startswith(f"data.test_path: {test}: column 'label' holds string, but in {train}")


def test_label_widths_that_differ_between_train_and_test_files_agree(tmp_path):
    train = write(tmp_path / "train.parquet", label=pa.array(np.arange(ROWS) % 2, pa.int32()))
    test = write(tmp_path / "test.parquet", label=pa.array(np.arange(ROWS) % 3, pa.int64()))

    arrays = parquet(ParquetParams(path=train, test_path=test, feature_columns=("a",)))

    assert arrays.num_classes == 3 and set(arrays.y_test) == {0, 1, 2}


def test_test_file_with_other_features(tmp_path):
    train = write(tmp_path / "train.parquet")
    test = write(tmp_path / "test.parquet", b=None)

    line = problem(scenario(train, test_path=test))

    assert line.startswith(f"data.test_path: {test}: features of shape (1,) per row, but {train}")


@pytest.mark.parametrize(
    "content", [b"", b"a,b,label\n1,2,0\n", b"PAR1 not really", bytes(range(256))]
)
def test_a_file_that_is_not_parquet(tmp_path, content):
    path = tmp_path / "t.parquet"
    path.write_bytes(content)

    line = problem(scenario(path))

    assert line.startswith(f"data.path: {path} is not a readable Parquet file (")


def test_not_parquet_with_the_natural_partition_is_refused_at_load(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_text("a,b\n")

    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario(path, partition={"type": "natural"}))

    (line,) = info.value.problems
    assert line.startswith("data.path: not a readable Parquet file (")


def test_a_table_without_rows(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table(good_columns()).slice(0, 0), path)

    line = problem(scenario(path))

    assert line == f"data.path: {path} has no rows (got 0 rows; expected one row per example)"


@pytest.mark.parametrize("key", ["path", "test_path"])
def test_a_missing_file(tmp_path, key):
    absent = tmp_path / "absent.parquet"
    raw = scenario(write(tmp_path / "t.parquet"))
    raw["data"][key] = str(absent)

    with pytest.raises(ScenarioError) as info:
        load_scenario(raw)

    (line,) = info.value.problems
    assert line.startswith(f"data.{key}: file not found (got '")
    assert "absent.parquet'; expected an existing Parquet file)" in line


def test_a_split_with_nothing_left_names_the_test_fraction(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table(good_columns(rows=1)), path)

    one = {"federation": {"population": 1, "clients_per_round": 1}}
    line = problem(scenario(path, feature_columns=["a"]) | one)

    assert line.startswith("data.test_fraction: 0.2 of 1 examples leaves no usable split")


@pytest.mark.slow  # a fresh interpreter imports torch
def test_cli_validate_exits_2_naming_the_file_and_column(tmp_path):
    path = write(tmp_path / "t.parquet", b=["x"] * ROWS)
    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text(
        f"data: {{dataset: parquet, path: '{path}', feature_columns: [a, b]}}\n"
        "federation: {population: 4, clients_per_round: 2}\n"
        "evaluation: {federated_clients: 0}\n"
    )

    done = subprocess.run(
        [sys.executable, "-m", "fedray.cli", "validate", str(yaml_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"data.feature_columns: {path}: column 'b' is not numeric" in done.stderr


# Any table, any column choice: a DataError or a dataset, never another exception ----------

FUZZ = settings(
    max_examples=int(os.environ.get("FEDRAY_FUZZ", "200")),
    deadline=None,
    derandomize="FEDRAY_FUZZ" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
COLUMN_NAMES = ["a", "b", "label", "client_id", "img"]


@st.composite
def arrow_column(draw, n: int) -> pa.Array:
    nulls = st.none() if draw(st.booleans()) else st.nothing()
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return pa.array(
            draw(st.lists(st.integers(-(2**63), 2**63 - 1) | nulls, min_size=n, max_size=n)),
            pa.int64(),
        )
    if kind == 1:
        return pa.array(draw(st.lists(st.floats() | nulls, min_size=n, max_size=n)), pa.float64())
    if kind == 2:
        return pa.array(
            draw(st.lists(st.text(max_size=3) | nulls, min_size=n, max_size=n)), pa.string()
        )
    if kind == 3:
        return pa.array(draw(st.lists(st.booleans() | nulls, min_size=n, max_size=n)), pa.bool_())
    if kind in (4, 5):
        width = draw(st.integers(0, 3))
        item = st.lists(
            st.floats(-9, 9) | nulls, min_size=width, max_size=width + draw(st.integers(0, 1))
        )
        return pa.array(
            draw(st.lists(item | nulls, min_size=n, max_size=n)), pa.list_(pa.float32())
        )
    if kind == 6:
        return pa.array([[[1.0, 2.0]] * draw(st.integers(1, 2)) for _ in range(n)])
    if kind == 7:
        return pa.array([{"x": i} for i in range(n)])
    if kind == 8:
        return pa.array(np.arange(n).astype("datetime64[s]"))
    if kind == 9:
        return pa.array([b"\x00\x01"] * n)
    if kind == 10:
        return pa.array(["u", "v"] * (n // 2) + ["u"] * (n % 2)).dictionary_encode()
    return pa.nulls(n)


@st.composite
def parquet_case(draw, tmp: Path):
    def table(name: str) -> str:
        n = draw(st.sampled_from([0, 1, 2, 5, 12]))
        names = ["label", *draw(st.lists(st.sampled_from(COLUMN_NAMES), max_size=4, unique=True))]
        path = tmp / name
        pq.write_table(pa.table({c: draw(arrow_column(n)) for c in names}), path)
        return str(path)

    def column(usual: str | None):  # mostly the usual column, so checks past it run too
        return draw(st.sampled_from([usual] * 6 + [*COLUMN_NAMES, "zz"]))

    return ParquetParams(
        path=table("train.parquet"),
        label_column=column("label"),
        feature_columns=tuple(draw(st.lists(st.sampled_from([*COLUMN_NAMES, "zz"]), max_size=3))),
        tensor_column=column(None),
        shape=tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
        client_column=column("client_id"),
        test_path=table("test.parquet") if draw(st.booleans()) else None,
    )


@FUZZ
@given(data=st.data())
def test_any_table_loads_or_names_what_to_fix(tmp_path_factory, data):
    params = data.draw(parquet_case(tmp_path_factory.mktemp("pq")))

    try:
        arrays = parquet(params)
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{exc.key}: ")
        return
    assert arrays.x_train.dtype == np.float32 and np.isfinite(arrays.x_train).all()
    assert len(arrays.x_train) == len(arrays.y_train) > 0
    assert arrays.y_train.min() >= 0 and arrays.y_train.max() < arrays.num_classes
