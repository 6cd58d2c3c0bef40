"""Compressed updates: codecs that turn a float32 vector into the bytes that would go on the
wire, and back. Pure numpy, no Ray.

A codec is four functions of its parameter dataclass: `encode(x (d,) float32, params, rng)
-> bytes`, `decode(payload, d) -> (d,) float32`, `size(params, d) -> int` (the exact payload
length, fixed by the config and d) and an id written in the payload's first byte. `CODECS`
maps the scenario's names to them:

    none     float32 as is                           6 + 4d bytes
    topk     k largest |x_i|: packed indices, values 10 + ceil(k ceil(log2 d) / 8) + 4k
    randomk  k random coordinates: seed, values      18 + 4k
    qsgd     s levels per bucket (Alistarh et al.)   13 + 4 ceil(d / bucket) + ceil(bits d / 8)
    sign     scaled sign (Karimireddy et al.)        10 + ceil(d / 8)

`payload_bytes(section, d, direction)` is the size of one message before anything runs:
the system model's transfer times come from it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedray.compression import dense, qsgd, sign, sparse, wire
from fedray.registry import Entry


@dataclass(frozen=True)
class Codec:
    id: int
    encode: Any  # (x, params, rng) -> bytes
    decode: Any  # (payload, d) -> (d,) float32
    size: Any  # (params, d) -> int


class ClosedRegistry(dict):
    """Takes no `module:attr` plugins: a codec must be decodable from its payload's id."""

    closed = True


CODECS: dict[str, Entry] = ClosedRegistry(
    none=Entry(Codec(dense.ID, dense.encode, dense.decode, dense.size), dense.DenseParams),
    topk=Entry(
        Codec(sparse.TOPK_ID, sparse.topk_encode, sparse.topk_decode, sparse.topk_size),
        sparse.TopKParams,
    ),
    randomk=Entry(
        Codec(sparse.RANDOMK_ID, sparse.randomk_encode, sparse.randomk_decode, sparse.randomk_size),
        sparse.RandomKParams,
    ),
    qsgd=Entry(Codec(qsgd.ID, qsgd.encode, qsgd.decode, qsgd.size), qsgd.QSGDParams),
    sign=Entry(Codec(sign.ID, sign.encode, sign.decode, sign.size), sign.SignParams),
)
_BY_ID = {entry.fn.id: entry.fn for entry in CODECS.values()}
DIRECTIONS = ("up", "down")
RESIDUAL, COPY = "residual", "copy"  # the client state store's tables (clients.py)


def store_tables(section) -> tuple[str, ...]:
    """The client state store tables `section` (scenario.compression) needs: `residual` for
    uplink error feedback, `copy` (each client's model) for downlink compression."""
    out = (RESIDUAL,) if section.error_feedback and section.type != "none" else ()
    return out + ((COPY,) if section.downlink.type != "none" else ())


def codec(name: str) -> Codec:
    if name not in CODECS:
        raise KeyError(f"unknown codec {name!r}; expected one of: {', '.join(sorted(CODECS))}")
    return CODECS[name].fn


def params_of(name: str, params) -> Any:
    """The codec's parameter dataclass; its defaults when the section holds none."""
    return params if params is not None else CODECS[name].params()


def encode(x: np.ndarray, name: str, params=None, rng: np.random.Generator | None = None) -> bytes:
    """Encode (d,) float32 `x` with codec `name`; `rng` draws its randomness (random-k, QSGD)."""
    return codec(name).encode(x, params_of(name, params), rng)


def decode(payload: bytes, d: int) -> np.ndarray:
    """Decode any codec's payload into a (d,) float32 vector; ValueError if it is malformed."""
    codec_id, got_d = wire.codec_of(payload)
    if codec_id not in _BY_ID:
        raise ValueError(f"compression: payload of unknown codec id {codec_id}")
    if got_d != d:
        raise ValueError(f"compression: payload for d={got_d}; expected d={d}")
    try:
        return _BY_ID[codec_id].decode(payload, d)
    except (struct.error, IndexError) as exc:  # a truncated body
        raise ValueError(f"compression: malformed payload ({exc})") from None


def size(name: str, params, d: int) -> int:
    """The exact length in bytes of codec `name`'s payload for a (d,) vector."""
    return codec(name).size(params_of(name, params), d)


def payload_bytes(section, d: int, direction: str = "up") -> int:
    """Bytes of one message of a (d,) model under the scenario's `compression` section.

    Args:
        section: `scenario.compression` (None: no compression).
        d: the number of model parameters.
        direction: "up", a client's update to the server; "down", the server's model delta
            to a client that already holds a copy. A client the run has not seen before
            downloads the whole model uncompressed: `payload_bytes(None, d, "down")`.

    Exact for every built-in codec: their sizes depend on the configuration and d only.
    SCAFFOLD's control variates, sent beside the model in both directions, are not included
    (add `payload_bytes(None, d, direction)` for them). Under secure aggregation the update
    leaves masked, and the protocol's own messages are what travel (`secagg_bytes_up`).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down'; got {direction!r}")
    if section is None:
        return size("none", None, d)
    part = section if direction == "up" else section.downlink
    return size(part.type, part.params, d)
