"""Federations and array loaders: who holds which rows, local splits, digits and Parquet."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fedray.data import build_federation, central_test_set, make_partition
from fedray.data.datasets import Arrays, DigitsParams, ParquetParams, digits, parquet
from fedray.data.federation import PartitionedFederation
from fedray.data.partition import to_list_array
from fedray.scenario import load_scenario

N = 103


def indexed_arrays(n: int = N) -> Arrays:
    """x_train row i is [i, -i]: the features tell which sample a client got."""
    i = np.arange(n, dtype=np.float32)
    x = np.stack([i, -i], axis=1)
    return Arrays(x, np.arange(n, dtype=np.int64) % 5, x[:7], np.zeros(7, np.int64), num_classes=5)


def uneven_federation(fraction: float = 0.3, seed: int = 0) -> PartitionedFederation:
    # Client 0 gets nothing, client 1 one sample, the rest share the others at random.
    owner = np.random.default_rng(11).integers(2, 9, N)
    owner[0] = 1
    return PartitionedFederation(indexed_arrays(), to_list_array(owner, 9), fraction, seed)


def rows(x: np.ndarray) -> list[int]:
    return sorted(int(v) for v in x[:, 0])


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5])
def test_sizes_equal_the_training_lengths(fraction):
    fed = uneven_federation(fraction)
    ids = np.arange(fed.num_clients)

    sizes = fed.sizes(ids)

    assert sizes.tolist() == [len(fed.client(c).y_train) for c in ids]


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5])
def test_local_test_split_is_disjoint_from_train_and_covers_the_client(fraction):
    fed = uneven_federation(fraction)

    for c, indices in enumerate(fed.partition.to_pylist()):
        part = fed.client(c)
        train, test = rows(part.x_train), rows(part.x_test)
        assert not set(train) & set(test)
        assert sorted(train + test) == indices
        assert len(test) == math.floor(len(indices) * fraction)
        assert np.array_equal(part.y_train, (part.x_train[:, 0].astype(np.int64)) % 5)


def test_local_split_is_seeded_and_depends_on_the_seed():
    one, again = uneven_federation(seed=1), uneven_federation(seed=1)
    other = uneven_federation(seed=2)

    assert all(rows(one.client(c).x_test) == rows(again.client(c).x_test) for c in range(9))
    assert any(rows(one.client(c).x_test) != rows(other.client(c).x_test) for c in range(9))


def test_pooled_train_is_every_sample_but_the_local_tests():
    fed = uneven_federation()

    x, _ = fed.pooled_train()

    held_out = [i for c in range(9) for i in rows(fed.client(c).x_test)]
    assert sorted(rows(x) + held_out) == list(range(N))


def test_digits_shapes_classes_and_range():
    arrays = digits(DigitsParams(test_fraction=0.2))

    assert len(arrays.y_train) + len(arrays.y_test) == 1797
    assert len(arrays.y_test) == math.ceil(0.2 * 1797)  # sklearn rounds the test share up
    assert arrays.x_train.shape == (len(arrays.y_train), 64) and arrays.input_shape == (64,)
    assert arrays.x_train.dtype == np.float32 and arrays.y_train.dtype == np.int64
    assert arrays.num_classes == 10
    assert set(arrays.y_train) == set(arrays.y_test) == set(range(10))
    for x in (arrays.x_train, arrays.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0


def test_digits_split_is_the_same_every_time():
    one, two = digits(DigitsParams()), digits(DigitsParams())

    assert one.x_test.tobytes() == two.x_test.tobytes()


def test_digits_federation_covers_the_training_split():
    scenario = load_scenario(
        {
            "federation": {"population": 12, "clients_per_round": 3},
            "evaluation": {"federated_clients": 3},
            "data": {"partition": {"type": "dirichlet", "alpha": 1.0}},
        }
    )

    fed = build_federation(scenario)

    total = sum(len(fed.client(c).y_train) + len(fed.client(c).y_test) for c in range(12))
    assert fed.num_clients == 12 and fed.num_classes == 10 and fed.input_shape == (64,)
    assert total == len(fed.arrays.y_train)
    x_test, y_test, classes = central_test_set(scenario)
    assert np.array_equal(y_test, fed.arrays.y_test) and len(x_test) == len(y_test)
    assert classes == 10


# Parquet -------------------------------------------------------------------------------

NAMES = np.array(["emu", "cat", "dog"])  # sorted codes: cat 0, dog 1, emu 2


def write_table(path, n: int = 60, list_type=None, names=NAMES) -> str:
    i = np.arange(n)
    columns = {
        "a": i.astype(np.float64),
        "b": 2 * i,
        "label": names[i % len(names)],
        "site": i % 4,
        "img": pa.array(
            [[float(k + j) for j in range(4)] for k in i], list_type or pa.list_(pa.float32())
        ),
    }
    pq.write_table(pa.table(columns), path)
    return str(path)


def code(name: str) -> int:
    return sorted(NAMES).index(name)


def test_parquet_feature_columns_and_string_labels(tmp_path):
    path = write_table(tmp_path / "t.parquet")

    arrays = parquet(ParquetParams(path=path, feature_columns=("a", "b")))

    x = np.concatenate([arrays.x_train, arrays.x_test])
    y = np.concatenate([arrays.y_train, arrays.y_test])
    assert x.dtype == np.float32 and x.shape == (60, 2)
    assert sorted(x[:, 0].astype(int)) == list(range(60))
    assert np.array_equal(x[:, 1], 2 * x[:, 0])
    assert arrays.num_classes == 3
    assert y.tolist() == [code(NAMES[int(r) % 3]) for r in x[:, 0]]


def test_parquet_default_features_are_the_numeric_columns_but_label_and_client(tmp_path):
    path = write_table(tmp_path / "t.parquet")

    arrays = parquet(ParquetParams(path=path, client_column="site"))

    assert arrays.input_shape == (2,)  # a and b; img is a list, site the client id
    assert np.array_equal(arrays.x_train[:, 1], 2 * arrays.x_train[:, 0])


@pytest.mark.parametrize(
    "list_type", [pa.list_(pa.float32()), pa.large_list(pa.float64()), pa.list_(pa.float32(), 4)]
)
def test_parquet_tensor_column_with_shape(tmp_path, list_type):
    path = write_table(tmp_path / "t.parquet", list_type=list_type)

    arrays = parquet(ParquetParams(path=path, tensor_column="img", shape=(2, 2)))

    assert arrays.x_train.shape == (len(arrays.y_train), 2, 2)
    assert arrays.input_shape == (2, 2)
    for sample in np.concatenate([arrays.x_train, arrays.x_test]):
        first = sample[0, 0]
        assert np.array_equal(sample, first + np.arange(4, dtype=np.float32).reshape(2, 2))


def test_parquet_tensor_column_without_shape_stays_flat(tmp_path):
    path = write_table(tmp_path / "t.parquet")

    arrays = parquet(ParquetParams(path=path, tensor_column="img"))

    assert arrays.input_shape == (4,)


def test_parquet_client_column_feeds_the_natural_partition(tmp_path):
    path = write_table(tmp_path / "t.parquet")
    scenario = load_scenario(
        {
            "data": {
                "dataset": "parquet",
                "path": path,
                "feature_columns": ["a"],
                "client_column": "site",
                "partition": {"type": "natural"},
            },
            "federation": {"population": 4, "clients_per_round": 2},
            "evaluation": {"federated_clients": 4},
        }
    )
    arrays = parquet(scenario.data.params)

    lists = make_partition(arrays, scenario.data, 4, scenario.seed).to_pylist()

    sites = [sorted({int(arrays.x_train[i, 0]) % 4 for i in lst}) for lst in lists]
    assert sites == [[0], [1], [2], [3]]
    assert sorted(i for lst in lists for i in lst) == list(range(len(arrays.y_train)))


def test_parquet_separate_test_file_shares_the_label_codes(tmp_path):
    train = write_table(tmp_path / "train.parquet", names=np.array(["cat", "dog"]))
    test = write_table(tmp_path / "test.parquet", n=10, names=np.array(["emu", "dog"]))

    arrays = parquet(ParquetParams(path=train, test_path=test, feature_columns=("a",)))

    assert arrays.num_classes == 3
    assert len(arrays.y_train) == 60 and len(arrays.y_test) == 10
    assert arrays.y_train.tolist() == [code(["cat", "dog"][k % 2]) for k in range(60)]
    assert arrays.y_test.tolist() == [code(["emu", "dog"][k % 2]) for k in range(10)]


@pytest.mark.parametrize(
    "params, missing",
    [
        ({"label_column": "y"}, "'y'"),
        ({"feature_columns": ("a", "zz")}, "'zz'"),
        ({"tensor_column": "pixels"}, "'pixels'"),
        ({"client_column": "user"}, "'user'"),
    ],
)
def test_parquet_missing_column_names_it_and_the_columns_present(tmp_path, params, missing):
    path = write_table(tmp_path / "t.parquet")

    with pytest.raises(ValueError) as info:
        parquet(ParquetParams(path=path, **params))

    message = str(info.value)
    assert f"no column {missing}" in message
    assert str(["a", "b", "label", "site", "img"]) in message


def test_parquet_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="file not found"):
        parquet(ParquetParams(path=str(tmp_path / "none.parquet")))
