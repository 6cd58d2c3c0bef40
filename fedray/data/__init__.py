"""Federated datasets by name. `build_federation(scenario)` is the only entry point the engine uses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fedray import seeding
from fedray.data import datasets, mnist1d, partition, synthetic
from fedray.data.federation import ClientData, PartitionedFederation, SyntheticFederation
from fedray.registry import Entry, lookup

DATASETS: dict[str, Entry] = {
    "digits": Entry(datasets.digits, datasets.DigitsParams),
    "parquet": Entry(datasets.parquet, datasets.ParquetParams),
    "mnist1d": Entry(mnist1d.mnist1d, mnist1d.MNIST1DParams),
    "synthetic": Entry(synthetic.client_data, synthetic.SyntheticParams),
}
GENERATED = {"synthetic"}  # datasets generated per client; their partition is natural
SEEDED = {"mnist1d"}  # whole-array datasets drawn from the scenario's seed: fn(params, seed)

__all__ = [
    "ClientData",
    "DATASETS",
    "GENERATED",
    "build_federation",
    "load_arrays",
    "central_test_set",
    "make_partition",
]


def make_partition(
    arrays: datasets.Arrays, data_cfg, num_clients: int, seed: int
) -> pa.LargeListArray:
    """Split `arrays`' training samples across `num_clients` by `data_cfg.partition`."""
    spec = data_cfg.partition
    if spec.type == "natural":
        if arrays.client_ids is None:
            raise datasets.DataError(
                "data.partition.type",
                f"natural needs client ids, and dataset {data_cfg.dataset!r} has none (got "
                "'natural'; expected iid, dirichlet, shards or quantity_skew, or a parquet "
                "dataset with data.client_column)",
            )
        owner = partition.natural(arrays.client_ids, num_clients)
    else:
        entry = lookup(partition.PARTITIONS, spec.type)
        rng = seeding.rng(seed, purpose=seeding.PARTITION)
        owner = np.asarray(entry.fn(arrays.y_train, num_clients, rng, spec.params), dtype=np.int64)
        if owner.shape != arrays.y_train.shape or owner.min() < 0 or owner.max() >= num_clients:
            raise ValueError(
                f"partitioner {spec.type!r} must return a client id in [0, {num_clients}) per sample"
            )
    return partition.to_list_array(owner, num_clients)


def load_arrays(data_cfg, seed: int) -> datasets.Arrays:
    """Load a whole-array dataset by name; generated ones (`SEEDED`) draw from `seed`."""
    entry = lookup(DATASETS, data_cfg.dataset)
    if data_cfg.dataset in SEEDED:
        return entry.fn(data_cfg.params, seed)
    return entry.fn(data_cfg.params)


def build_federation(scenario):
    """Build the scenario's federated dataset: load by name, partition with the scenario's seed.

    Deterministic, so the driver, every worker and the baseline build the same partition.
    """
    data = scenario.data
    population = scenario.federation.population
    if data.dataset in GENERATED:
        return SyntheticFederation(data.params, population, data.local_test_fraction, scenario.seed)
    arrays = load_arrays(data, scenario.seed)
    partition_list = make_partition(arrays, data, population, scenario.seed)
    return PartitionedFederation(arrays, partition_list, data.local_test_fraction, scenario.seed)


def central_test_set(scenario) -> tuple[np.ndarray, np.ndarray, int]:
    """The held-out test split (x, y, num_classes), without partitioning the training data."""
    data = scenario.data
    if data.dataset in GENERATED:
        fed = SyntheticFederation(
            data.params, scenario.federation.population, data.local_test_fraction, scenario.seed
        )
        return (*fed.central_test(), fed.num_classes)
    arrays = load_arrays(data, scenario.seed)
    return arrays.x_test, arrays.y_test, arrays.num_classes
