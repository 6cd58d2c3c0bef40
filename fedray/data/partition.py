"""Partitioners: who holds which training sample.

Each partitioner is `fn(labels (N,) int64, num_clients, rng, params) -> owner (N,) int64`,
the client id of every sample. Returning an owner per sample makes "every sample goes to
exactly one client" true by construction; `to_list_array` turns it into the Arrow list
column (client id -> sample indices) that the rest of fedray reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fedray.data.arrow import int64_array, int64_numpy
from fedray.data.datasets import DataError
from fedray.registry import Entry, NoParams


@dataclass(frozen=True)
class DirichletParams:
    alpha: float = field(default=0.5, metadata={"gt": 0})
    min_size: int = field(default=1, metadata={"min": 0})


@dataclass(frozen=True)
class ShardsParams:
    shards_per_client: int = field(default=2, metadata={"min": 1})


@dataclass(frozen=True)
class QuantitySkewParams:
    sigma: float = field(default=1.0, metadata={"gt": 0})


def iid(
    labels: np.ndarray, num_clients: int, rng: np.random.Generator, params: NoParams
) -> np.ndarray:
    """Shuffle and deal samples into `num_clients` near-equal parts."""
    if num_clients > len(labels):
        raise ValueError(
            f"iid: {num_clients} clients but only {len(labels)} samples; every client needs one: "
            "lower federation.population"
        )
    owner = np.repeat(np.arange(num_clients), _even_counts(len(labels), num_clients))
    return owner[rng.permutation(len(labels))]


def dirichlet(
    labels: np.ndarray, num_clients: int, rng: np.random.Generator, params: DirichletParams
):
    """Label skew: each class is split across clients by proportions drawn from Dir(alpha).

    Hsu, Qi and Brown, "Measuring the effects of non-identical data distribution", 2019.
    Small alpha gives each client few classes. Draws again (same rng stream) until every
    client holds at least `min_size` samples.
    """
    need = params.min_size * num_clients
    if need > len(labels):
        raise ValueError(
            f"dirichlet min_size={params.min_size} x {num_clients} clients needs {need} samples; "
            f"the dataset has {len(labels)}: lower data.partition.min_size or the population"
        )
    for _ in range(1000):
        owner = np.empty(len(labels), dtype=np.int64)
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(num_clients, params.alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
            owner[members] = np.repeat(
                np.arange(num_clients), np.diff(cuts, prepend=0, append=len(members))
            )
        if np.bincount(owner, minlength=num_clients).min() >= params.min_size:
            return owner
    raise ValueError(
        f"dirichlet(alpha={params.alpha}) left some client with fewer than {params.min_size} samples "
        "in 1000 draws: raise data.partition.alpha or lower data.partition.min_size"
    )


def shards(labels: np.ndarray, num_clients: int, rng: np.random.Generator, params: ShardsParams):
    """Pathological non-IID: sort by label, cut into shards, give each client k random shards.

    McMahan et al., "Communication-efficient learning of deep networks from decentralized
    data", 2017 (two shards per client on MNIST).
    """
    num_shards = num_clients * params.shards_per_client
    if num_shards > len(labels):
        raise ValueError(
            f"shards: {num_clients} clients x {params.shards_per_client} shards = {num_shards} shards "
            f"but only {len(labels)} samples: lower shards_per_client or the population"
        )
    shuffled = rng.permutation(len(labels))  # random order among samples of one label
    sorted_idx = shuffled[np.argsort(labels[shuffled], kind="stable")]
    shard_of_pos = np.repeat(np.arange(num_shards), _even_counts(len(labels), num_shards))
    client_of_shard = rng.permutation(num_shards) // params.shards_per_client
    owner = np.empty(len(labels), dtype=np.int64)
    owner[sorted_idx] = client_of_shard[shard_of_pos]
    return owner


def quantity_skew(
    labels: np.ndarray, num_clients: int, rng: np.random.Generator, params: QuantitySkewParams
):
    """Size skew with IID labels: client sizes proportional to lognormal(0, sigma) draws.

    Every client gets at least one sample.
    """
    if num_clients > len(labels):
        raise ValueError(
            f"quantity_skew: {num_clients} clients but only {len(labels)} samples; every client needs one: "
            "lower federation.population"
        )
    weights = rng.lognormal(0.0, params.sigma, num_clients)
    spare = len(labels) - num_clients
    exact = weights / weights.sum() * spare
    counts = np.floor(exact).astype(np.int64)
    remainder = spare - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    owner = np.repeat(np.arange(num_clients), counts + 1)
    return owner[rng.permutation(len(labels))]


def natural(client_ids: np.ndarray, num_clients: int) -> np.ndarray:
    """Natural partition from a per-sample client id column: owner = rank of the id."""
    uniques, owner = np.unique(client_ids, return_inverse=True)
    if len(uniques) != num_clients:
        raise DataError(
            "federation.population",
            f"the data has {len(uniques)} distinct client ids: set federation.population to "
            f"{len(uniques)} (got {num_clients}; expected {len(uniques)})",
        )
    return owner.astype(np.int64)


PARTITIONS: dict[str, Entry] = {
    "iid": Entry(iid),
    "dirichlet": Entry(dirichlet, DirichletParams),
    "shards": Entry(shards, ShardsParams),
    "quantity_skew": Entry(quantity_skew, QuantitySkewParams),
    "natural": Entry(natural),
}


def _even_counts(total: int, parts: int) -> np.ndarray:
    counts = np.full(parts, total // parts, dtype=np.int64)
    counts[: total % parts] += 1
    return counts


def to_list_array(owner: np.ndarray, num_clients: int) -> pa.ListArray:
    """Return client id -> sorted sample indices as an Arrow list column of length num_clients."""
    order = np.argsort(owner, kind="stable").astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=num_clients))])
    return pa.LargeListArray.from_arrays(int64_array(offsets), int64_array(order))


def label_histograms(
    partition: pa.LargeListArray, labels: np.ndarray, num_classes: int
) -> np.ndarray:
    """Return (num_clients, num_classes) int64 counts of each label on each client."""
    offsets = int64_numpy(partition.offsets)
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    flat = owner * num_classes + labels[int64_numpy(partition.values)]
    return np.bincount(flat, minlength=(len(offsets) - 1) * num_classes).reshape(-1, num_classes)
