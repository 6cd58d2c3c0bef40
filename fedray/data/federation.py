"""A federated dataset: who holds what, and each client's train / local-test examples.

Two kinds share one interface. `PartitionedFederation` holds a whole dataset in memory
plus a partition (Arrow list column: client id -> sample indices). `SyntheticFederation`
generates a client's data from its id on demand, so its cost follows the cohort.
Each client keeps `local_test_fraction` of its examples (a fixed, seeded choice) for
federated evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fedray import seeding
from fedray.data import synthetic
from fedray.data.arrow import int64_numpy
from fedray.data.datasets import Arrays


@dataclass(frozen=True)
class ClientData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def local_test_count(sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Examples each client holds out for federated evaluation (floor, so a client of 1 keeps it)."""
    return np.floor(np.asarray(sizes) * fraction).astype(np.int64)


def split_local(
    x: np.ndarray, y: np.ndarray, fraction: float, rng: np.random.Generator
) -> ClientData:
    n_test = int(local_test_count(np.array([len(y)]), fraction)[0])
    return split_by_order(x, y, rng.permutation(len(y)), n_test)


def split_by_order(x: np.ndarray, y: np.ndarray, order, n_test: int) -> ClientData:
    """The first `n_test` of the permutation `order` are the local test examples; both parts
    keep the examples' own order."""
    test = np.zeros(len(y), dtype=bool)
    test[np.asarray(order[:n_test])] = True
    train = ~test
    return ClientData(x[train], y[train], x[test], y[test])


class PartitionedFederation:
    """An in-memory dataset split across clients by a partition."""

    def __init__(
        self, arrays: Arrays, partition: pa.LargeListArray, local_test_fraction: float, seed: int
    ):
        self.arrays = arrays
        self.partition = partition
        self.num_clients = len(partition)
        self.num_classes = arrays.num_classes
        self.input_shape = arrays.input_shape
        self._offsets = int64_numpy(partition.offsets)
        self._values = int64_numpy(partition.values)
        self._fraction = local_test_fraction
        self._seed = seed

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        """Training examples of each client (after its local test hold-out)."""
        ids = np.asarray(client_ids, dtype=np.int64)
        total = self._offsets[ids + 1] - self._offsets[ids]
        return total - local_test_count(total, self._fraction)

    def client(self, client_id: int) -> ClientData:
        idx = self._values[self._offsets[client_id] : self._offsets[client_id + 1]]
        rng = seeding.rng(self._seed, 0, client_id, seeding.SPLIT)
        return split_local(self.arrays.x_train[idx], self.arrays.y_train[idx], self._fraction, rng)

    def central_test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.arrays.x_test, self.arrays.y_test

    def pooled_train(self) -> tuple[np.ndarray, np.ndarray]:
        """Every client's training examples together (local test hold-outs excluded)."""
        parts = [self.client(c) for c in range(self.num_clients)]
        return np.concatenate([p.x_train for p in parts]), np.concatenate(
            [p.y_train for p in parts]
        )


class SyntheticFederation:
    """FedProx Synthetic(alpha, beta): client data generated from (seed, client id)."""

    def __init__(
        self,
        params: synthetic.SyntheticParams,
        num_clients: int,
        local_test_fraction: float,
        seed: int,
    ):
        self.params = params
        self.num_clients = num_clients
        self.num_classes = params.num_classes
        self.input_shape = (params.dim,)
        self._fraction = local_test_fraction
        self._seed = seed
        # The totals the last `sizes` call drew, by client: a worker asks for its share's
        # sizes before generating the share, and a size drawn per client costs more than the
        # whole share's at once.
        self._totals: dict[int, int] = {}

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(client_ids, dtype=np.int64)
        total = synthetic.client_sizes(self.params, self._seed, ids)
        self._totals = dict(zip(ids.tolist(), total.tolist(), strict=True))
        return total - local_test_count(total, self._fraction)

    def client(self, client_id: int) -> ClientData:
        size = self._totals.get(client_id)
        x, y = synthetic.client_data(self.params, self._seed, client_id, size)
        # Its examples are independent draws given the client's model: the first n_test of
        # them are as random a hold-out as any (local_test_count of one client).
        n_test = int(len(y) * self._fraction)
        return ClientData(x[n_test:], y[n_test:], x[:n_test], y[:n_test])

    def _clients(self, count: int) -> list[ClientData]:
        return [self.client(c) for c in range(min(count, self.num_clients))]

    def central_test(self) -> tuple[np.ndarray, np.ndarray]:
        """The local test examples of the first `test_clients` clients, pooled."""
        parts = self._clients(self.params.test_clients)
        return np.concatenate([p.x_test for p in parts]), np.concatenate([p.y_test for p in parts])

    def pooled_train(self) -> tuple[np.ndarray, np.ndarray]:
        """The training examples of the first `test_clients` clients, pooled."""
        parts = self._clients(self.params.test_clients)
        return np.concatenate([p.x_train for p in parts]), np.concatenate(
            [p.y_train for p in parts]
        )
