"""Pool sizing from node resources and LPT sharing of a cohort: pure, no cluster."""

import numpy as np
import pytest

from fedray.client.pool import balance, capacity_per_node, check_free, plan_pool
from fedray.scenario.schema import Resources


def node(cpus: float, gpus: float = 0.0, alive: bool = True) -> dict:
    resources = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
    return {"Alive": alive, "Resources": resources}


@pytest.mark.parametrize(
    "nodes, num_cpus, num_gpus, expected",
    [
        ([node(8)], 1.0, 0.0, [8]),
        ([node(8), node(3)], 2.0, 0.0, [4, 1]),
        ([node(8, 2), node(8)], 1.0, 1.0, [2, 0]),  # GPUs bind first; a GPU-less node holds none
        ([node(8, 2)], 1.0, 0.5, [4]),
        ([node(0.3)], 0.1, 0.0, [3]),  # 0.3 / 0.1 is 2.999... in floats
        ([node(1.0)], 0.1, 0.0, [10]),
        ([node(8), node(8, alive=False)], 1.0, 0.0, [8]),  # dead nodes do not count
        ([node(1)], 1.5, 0.0, [0]),
    ],
)
def test_capacity_per_node(nodes, num_cpus, num_gpus, expected):
    assert capacity_per_node(nodes, num_cpus, num_gpus) == expected


def test_capacity_of_a_node_without_a_resources_entry_is_zero():
    assert capacity_per_node([{"Alive": True}], 1.0, 0.0) == [0]


@pytest.mark.parametrize(
    "population, capacity_cpus, mode, workers",
    [
        (4, 8, "cross-silo", 4),  # every client gets its own actor
        (8, 8, "cross-silo", 8),
        (9, 8, "cross-device", 5),  # min(capacity 8, clients_per_round 5)
        (1000, 3, "cross-device", 3),  # min(capacity 3, clients_per_round 5)
    ],
)
def test_auto_pool_mode(population, capacity_cpus, mode, workers):
    plan = plan_pool(Resources(num_workers="auto"), population, 5, [node(capacity_cpus)])

    assert (plan.mode, plan.num_workers, plan.capacity) == (mode, workers, capacity_cpus)


@pytest.mark.parametrize("population", [4, 1000])
def test_explicit_num_workers_is_cross_device_with_that_many(population):
    plan = plan_pool(Resources(num_workers=3), population, 2, [node(8)])

    assert (plan.mode, plan.num_workers) == ("cross-device", 3)


def test_explicit_num_workers_equal_to_capacity_is_allowed():
    assert plan_pool(Resources(num_workers=8), 100, 10, [node(8)]).num_workers == 8


def test_nothing_fits_names_the_numbers_and_what_to_change():
    resources = Resources(num_cpus=4.0, num_gpus=1.0)
    nodes = [node(2, 1), node(3), node(16, alive=False)]

    with pytest.raises(ValueError) as info:
        plan_pool(resources, 10, 2, nodes)

    message = str(info.value)
    assert "num_cpus=4.0" in message and "num_gpus=1.0" in message
    assert "5 CPUs and 1 GPUs" in message  # alive nodes only: 2 + 3 CPUs
    assert "[0, 0]" in message
    assert "lower resources.num_cpus" in message


def test_too_many_workers_names_the_capacity_and_what_to_change():
    with pytest.raises(ValueError) as info:
        plan_pool(Resources(num_workers=5, num_cpus=2.0), 100, 10, [node(4), node(5)])

    message = str(info.value)
    assert "num_workers=5" in message and "only 4 workers" in message  # 2 + 2
    assert "9 CPUs" in message
    assert "num_workers: auto" in message


# balance ------------------------------------------------------------------------------------


def cohort(seed: int, n: int = 40):
    rng = np.random.default_rng(seed)
    ids = rng.choice(10_000, n, replace=False)
    sizes = rng.integers(0, 500, n)
    return ids, sizes


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_workers", [1, 3, 7, 50])
def test_balance_gives_every_client_to_exactly_one_sorted_share(seed, num_workers):
    ids, sizes = cohort(seed)

    shares = balance(ids, sizes, num_workers)

    assert len(shares) == num_workers
    assert sorted(c for share in shares for c in share) == sorted(ids.tolist())
    assert all(share == sorted(share) for share in shares)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_workers", [2, 3, 7])
def test_balance_loads_differ_by_at_most_the_largest_client(seed, num_workers):
    # Greedy onto the least-loaded worker: the last client added to the heaviest worker
    # went to the lightest one at the time, so max load - min load <= largest size.
    ids, sizes = cohort(seed)
    size_of = {int(c): max(int(s), 1) for c, s in zip(ids, sizes, strict=True)}

    loads = [sum(size_of[c] for c in share) for share in balance(ids, sizes, num_workers)]

    assert max(loads) - min(loads) <= max(size_of.values())


def test_balance_closed_form():
    # LPT on 2 workers, largest first, ties in input order: 101 (50) -> w0, 103 (40) -> w1,
    # 100 (30) -> w1 (40 < 50), 102 (30) -> w0 (50 < 70), 104 (30) -> w1 (70 < 80).
    ids = np.array([100, 101, 102, 103, 104])
    sizes = np.array([30, 50, 30, 40, 30])

    shares = balance(ids, sizes, 2)

    assert shares == [[101, 102], [100, 103, 104]]


def test_balance_beats_round_robin_on_a_skewed_cohort():
    ids = np.arange(8)
    sizes = np.array([100, 100, 1, 1, 1, 1, 1, 1])

    loads = [int(sizes[s].sum()) for s in balance(ids, sizes, 2)]

    assert sorted(loads) == [103, 103]


def test_balance_counts_empty_clients_as_one():
    shares = balance(np.arange(4), np.zeros(4, np.int64), 2)

    assert sorted(len(s) for s in shares) == [2, 2]


@pytest.mark.parametrize("seed", range(3))
def test_balance_is_deterministic(seed):
    ids, sizes = cohort(seed)

    assert balance(ids, sizes, 5) == balance(ids.copy(), sizes.copy(), 5)


def test_a_pool_larger_than_the_free_resources_is_refused_with_the_numbers():
    plan = plan_pool(Resources(num_workers=4), 100, 10, [node(8)])

    with pytest.raises(ValueError) as info:
        check_free(plan, Resources(num_workers=4), {"CPU": 2.0})

    message = str(info.value)
    assert "4 workers need 4 CPUs" in message and "2 CPUs free" in message


def test_free_resources_that_suffice_change_nothing():
    plan = plan_pool(Resources(num_workers="auto"), 100, 4, [node(8)])

    check_free(plan, Resources(), {"CPU": 8.0})
    assert plan.num_workers == 4
