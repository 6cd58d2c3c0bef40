"""Sparsification: send k of the d coordinates.

top-k keeps the k largest in magnitude (Aji & Heafield 2017; with error feedback, Stich et
al., "Sparsified SGD with memory", NeurIPS 2018): its payload carries the indices, each
packed in ceil(log2 d) bits, then the k values as float32. random-k keeps k coordinates
drawn uniformly without replacement: its payload carries only the 64-bit seed of that draw
and the k values, since the receiver redraws the same indices from the seed. Neither scales
the values: both are contractive, ||C(x) - x||^2 <= (1 - k/d) ||x||^2 (random-k in
expectation), which is what error feedback needs.

Ties in top-k go to the lower index, so the choice is a pure function of x.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from fedray.compression import wire

TOPK_ID, RANDOMK_ID = 1, 2
_COUNT = struct.Struct("<I")
_SEED = struct.Struct("<Q")


@dataclass(frozen=True)
class TopKParams:
    """k coordinates, as a count `k` or a `fraction` of d (exactly one of them)."""

    k: int | None = field(default=None, metadata={"min": 1})
    fraction: float | None = field(default=None, metadata={"gt": 0, "max": 1})


@dataclass(frozen=True)
class RandomKParams:
    """As top-k; `shared`: every client of a round draws the same coordinates (one seed for
    the cohort), so their sparse vectors add up coordinate by coordinate under secure
    aggregation."""

    k: int | None = field(default=None, metadata={"min": 1})
    fraction: float | None = field(default=None, metadata={"gt": 0, "max": 1})
    shared: bool = False


def resolve_k(params, d: int) -> int:
    """The count of coordinates sent for a (d,) vector: `k`, or round(fraction d) >= 1."""
    if (params.k is None) == (params.fraction is None):
        raise ValueError(
            f"sparsification needs exactly one of k and fraction; got k={params.k}, "
            f"fraction={params.fraction}"
        )
    k = params.k if params.k is not None else max(1, int(round(params.fraction * d)))
    if k > d:
        raise ValueError(
            f"sparsification keeps k={k} coordinates of a model with d={d}; expected k <= {d}: "
            "lower compression.k or give compression.fraction"
        )
    return k


def topk_size(params: TopKParams, d: int) -> int:
    k = resolve_k(params, d)
    return wire.HEADER.size + _COUNT.size + wire.packed_size(k, wire.index_bits(d)) + 4 * k


def randomk_size(params: RandomKParams, d: int) -> int:
    return wire.HEADER.size + _COUNT.size + _SEED.size + 4 * resolve_k(params, d)


def top_indices(x: np.ndarray, k: int) -> np.ndarray:
    """The k indices of largest |x|, ascending; among equal magnitudes the lower index wins."""
    if k >= len(x):
        return np.arange(len(x), dtype=np.int64)
    mags = np.abs(x)
    part = np.argpartition(-mags, k - 1)[:k]
    threshold = mags[part].min()
    above = np.flatnonzero(mags > threshold)
    ties = np.flatnonzero(mags == threshold)[: k - len(above)]
    return np.sort(np.concatenate([above, ties]))


def random_indices(seed: int, d: int, k: int) -> np.ndarray:
    """The k distinct indices a random-k payload's seed names, ascending."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return np.sort(rng.choice(d, size=k, replace=False))


def topk_encode(x: np.ndarray, params: TopKParams, rng=None) -> bytes:
    x = np.asarray(x, dtype=np.float32)
    d, k = len(x), resolve_k(params, len(x))
    idx = top_indices(x, k)
    return b"".join(
        (
            wire.header(TOPK_ID, d),
            _COUNT.pack(k),
            wire.pack(idx, wire.index_bits(d)),
            x[idx].astype("<f4").tobytes(),
        )
    )


def topk_decode(payload: bytes, d: int) -> np.ndarray:
    body = wire.read_header(payload, TOPK_ID, d)
    (k,) = _COUNT.unpack_from(body)
    bits = wire.index_bits(d)
    start = _COUNT.size
    idx = wire.unpack(body[start:], k, bits).astype(np.int64)
    values = np.frombuffer(body[start + wire.packed_size(k, bits) :], dtype="<f4", count=k)
    return _scatter(d, idx, values)


def randomk_encode(x: np.ndarray, params: RandomKParams, rng: np.random.Generator) -> bytes:
    """`rng` draws the 64-bit seed of the indices: the client's own stream, or the cohort's
    when `shared`."""
    x = np.asarray(x, dtype=np.float32)
    d, k = len(x), resolve_k(params, len(x))
    seed = int(rng.integers(0, 2**63))
    idx = random_indices(seed, d, k)
    return b"".join(
        (
            wire.header(RANDOMK_ID, d),
            _COUNT.pack(k),
            _SEED.pack(seed),
            x[idx].astype("<f4").tobytes(),
        )
    )


def randomk_decode(payload: bytes, d: int) -> np.ndarray:
    body = wire.read_header(payload, RANDOMK_ID, d)
    (k,) = _COUNT.unpack_from(body)
    (seed,) = _SEED.unpack_from(body, _COUNT.size)
    values = np.frombuffer(body[_COUNT.size + _SEED.size :], dtype="<f4", count=k)
    return _scatter(d, random_indices(seed, d, k), values)


def _scatter(d: int, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    # Both codecs send ascending indices: any repeat or overrun is a malformed payload.
    if len(idx) and (idx[-1] >= d or np.any(np.diff(idx) <= 0)):
        raise ValueError(f"compression: sparse payload with bad indices for d={d}")
    out = np.zeros(d, np.float32)
    out[idx] = values
    return out
