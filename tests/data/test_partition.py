"""Partitioners: every sample to exactly one client, seeded, with the skew each one promises."""

import dataclasses

import numpy as np
import pytest

from fedray import seeding
from fedray.data import make_partition
from fedray.data.datasets import Arrays
from fedray.data.partition import (
    PARTITIONS,
    DirichletParams,
    QuantitySkewParams,
    ShardsParams,
    iid,
    label_histograms,
    natural,
    to_list_array,
)
from fedray.registry import NoParams
from fedray.scenario import load_scenario

LABELS = np.repeat(np.arange(10), 60)  # 600 samples, 60 per class, label-sorted
SEEDED = {  # name -> params for every partitioner drawn from an rng
    "iid": NoParams(),
    "dirichlet": DirichletParams(alpha=0.5),
    "shards": ShardsParams(shards_per_client=2),
    "quantity_skew": QuantitySkewParams(sigma=1.0),
}


def owners(name: str, labels=LABELS, num_clients: int = 20, seed: int = 0, params=None):
    fn = PARTITIONS[name].fn
    return fn(labels, num_clients, np.random.default_rng(seed), params or SEEDED[name])


def index_lists(owner: np.ndarray, num_clients: int) -> list[list[int]]:
    return to_list_array(owner, num_clients).to_pylist()


def distinct_labels_per_client(owner: np.ndarray, num_clients: int, labels=LABELS) -> np.ndarray:
    hist = label_histograms(to_list_array(owner, num_clients), labels, int(labels.max()) + 1)
    return (hist > 0).sum(axis=1)


@pytest.mark.parametrize("name", sorted(SEEDED))
@pytest.mark.parametrize("num_clients", [1, 7, 20])
def test_every_sample_goes_to_exactly_one_client(name, num_clients):
    owner = owners(name, num_clients=num_clients)

    lists = index_lists(owner, num_clients)

    assert len(lists) == num_clients
    assert sorted(i for lst in lists for i in lst) == list(range(len(LABELS)))
    assert all(lst == sorted(lst) for lst in lists)
    assert all(owner[i] == c for c, lst in enumerate(lists) for i in lst)


def test_natural_assigns_every_sample_to_the_rank_of_its_id():
    ids = np.array(["b", "a", "c", "a", "b", "c", "c"])

    owner = natural(ids, 3)

    lists = index_lists(owner, 3)
    assert sorted(i for lst in lists for i in lst) == list(range(len(ids)))
    assert [sorted(set(ids[lst])) for lst in lists] == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_same_rng_seed_gives_the_same_partition(name):
    assert np.array_equal(owners(name, seed=5), owners(name, seed=5))


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_different_rng_seed_gives_a_different_partition(name):
    assert not np.array_equal(owners(name, seed=5), owners(name, seed=6))


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_partitioners_leave_the_global_numpy_state_alone(name):
    before = np.random.get_state()[1].copy()

    owners(name)

    assert np.array_equal(np.random.get_state()[1], before)


def test_iid_sizes_differ_by_at_most_one():
    sizes = np.bincount(owners("iid", num_clients=7), minlength=7)

    assert sizes.sum() == len(LABELS)
    assert sizes.max() - sizes.min() <= 1


def test_dirichlet_small_alpha_gives_fewer_labels_per_client_than_large_alpha():
    skewed = owners("dirichlet", params=DirichletParams(alpha=0.05))
    uniform = owners("dirichlet", params=DirichletParams(alpha=100.0))

    few, many = distinct_labels_per_client(skewed, 20), distinct_labels_per_client(uniform, 20)
    assert few.mean() < many.mean()


@pytest.mark.parametrize("min_size", [1, 5, 10])
def test_dirichlet_respects_min_size(min_size):
    owner = owners("dirichlet", params=DirichletParams(alpha=0.5, min_size=min_size))

    assert np.bincount(owner, minlength=20).min() >= min_size


@pytest.mark.parametrize("num_clients, shards_per_client", [(20, 1), (10, 2), (20, 3), (5, 4)])
def test_label_pure_shards_give_each_client_at_most_k_labels(num_clients, shards_per_client):
    shard_size = len(LABELS) // (num_clients * shards_per_client)
    assert 60 % shard_size == 0  # 60 samples per label: shards never straddle two labels

    owner = owners("shards", num_clients=num_clients, params=ShardsParams(shards_per_client))

    assert distinct_labels_per_client(owner, num_clients).max() <= shards_per_client
    assert np.all(np.bincount(owner, minlength=num_clients) == len(LABELS) // num_clients)


@pytest.mark.parametrize("num_clients", [1, 20, 600])
def test_quantity_skew_gives_every_client_at_least_one_sample(num_clients):
    sizes = np.bincount(owners("quantity_skew", num_clients=num_clients), minlength=num_clients)

    assert sizes.min() >= 1
    assert sizes.sum() == len(LABELS)


def test_quantity_skew_sizes_vary_and_spread_grows_with_sigma():
    narrow = np.bincount(owners("quantity_skew", params=QuantitySkewParams(0.1)), minlength=20)
    wide = np.bincount(owners("quantity_skew", params=QuantitySkewParams(2.0)), minlength=20)

    assert len(np.unique(wide)) > 1
    assert wide.std() > narrow.std()


@pytest.mark.parametrize(
    "name, num_clients, params, fragments",
    [
        (
            "dirichlet",
            20,
            DirichletParams(alpha=0.5, min_size=31),
            ["min_size=31", "620", "600", "lower data.partition.min_size"],
        ),
        (
            "dirichlet",
            20,
            DirichletParams(alpha=0.01, min_size=30),
            ["raise data.partition.alpha", "lower data.partition.min_size"],
        ),
        (
            "shards",
            301,
            ShardsParams(shards_per_client=2),
            ["602 shards", "600 samples", "lower shards_per_client"],
        ),
        ("quantity_skew", 601, QuantitySkewParams(), ["601 clients", "600 samples", "population"]),
    ],
)
def test_infeasible_parameters_say_what_to_change(name, num_clients, params, fragments):
    with pytest.raises(ValueError) as info:
        owners(name, num_clients=num_clients, params=params)

    assert all(f in str(info.value) for f in fragments), str(info.value)


def test_natural_with_the_wrong_population_names_the_right_one():
    with pytest.raises(ValueError, match="set federation.population to 3"):
        natural(np.array([4, 9, 4, 7]), 5)


def test_label_histograms_match_a_naive_loop():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, 300)
    owner = rng.integers(0, 11, 300)
    expected = np.zeros((11, 7), dtype=np.int64)
    for sample, client in enumerate(owner):
        expected[client, labels[sample]] += 1

    hist = label_histograms(to_list_array(owner, 11), labels, 7)

    assert hist.dtype == np.int64
    assert np.array_equal(hist, expected)


def test_to_list_array_keeps_clients_without_samples():
    lists = index_lists(np.array([2, 0, 2]), 4)

    assert lists == [[1], [], [0, 2], []]


# make_partition: the scenario-level entry point -----------------------------------------


def arrays(num: int = 200, client_ids=None) -> Arrays:
    x = np.arange(num, dtype=np.float32)[:, None]
    y = np.arange(num, dtype=np.int64) % 4
    return Arrays(x, y, x[:10], y[:10], num_classes=4, client_ids=client_ids)


@pytest.mark.parametrize(
    "partition",
    [
        {"type": "iid"},
        {"type": "dirichlet", "alpha": 0.3},
        {"type": "shards"},
        {"type": "quantity_skew"},
    ],
)
def test_make_partition_is_a_seeded_permutation(partition):
    data = load_scenario({"data": {"partition": partition}}).data

    first = make_partition(arrays(), data, 10, seed=3)
    again = make_partition(arrays(), data, 10, seed=3)

    flat = sorted(i for lst in first.to_pylist() for i in lst)
    assert flat == list(range(200))
    assert first.equals(again)


def test_make_partition_draws_from_the_partition_stream():
    data = load_scenario({"data": {"partition": {"type": "iid"}}}).data

    got = make_partition(arrays(), data, 10, seed=3)

    owner = iid(arrays().y_train, 10, seeding.rng(3, purpose=seeding.PARTITION), NoParams())
    assert got.equals(to_list_array(owner, 10))


def natural_spec():
    # The loader refuses digits + natural, so the spec is assembled by hand.
    data = load_scenario({}).data
    return dataclasses.replace(data, partition=dataclasses.replace(data.partition, type="natural"))


def test_make_partition_natural_without_client_ids_says_what_to_set():
    with pytest.raises(ValueError, match="client_column"):
        make_partition(arrays(), natural_spec(), 10, seed=0)


def test_make_partition_natural_uses_client_ids():
    ids = np.arange(200) % 5

    lists = make_partition(arrays(client_ids=ids), natural_spec(), 5, seed=0).to_pylist()

    assert all(set(ids[lst]) == {c} for c, lst in enumerate(lists))
