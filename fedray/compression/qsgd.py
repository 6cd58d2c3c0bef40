"""QSGD: stochastic quantization to s levels per bucket (Alistarh et al., NeurIPS 2017).

The vector is cut into buckets of `bucket` coordinates; each bucket sends its L2 norm as
float32 and each coordinate x_i the signed integer sign(x_i) l_i, where l_i is
|x_i| s / norm rounded down or up at random with the probability that makes it unbiased:
E[norm sign(x_i) l_i / s] = x_i. The integers, offset by s into [0, 2s], are packed with
`bits` bits each (fixed width rather than the paper's Elias code, so the size is known in
advance). `bits: 8` gives s = 127 levels, `bits: 4` s = 7; `levels` may ask for fewer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from fedray.compression import wire

ID = 3
_PARAMS = struct.Struct("<HBI")  # levels s, bits, bucket size


@dataclass(frozen=True)
class QSGDParams:
    bits: int = field(default=8, metadata={"min": 2, "max": 8})
    levels: int | None = field(default=None, metadata={"min": 1})  # s; none: 2^(bits-1) - 1
    bucket: int = field(default=512, metadata={"min": 1})  # coordinates per norm


def levels(params: QSGDParams) -> int:
    """s: given, or the most that `bits` bits hold with a sign (2s + 1 codes)."""
    most = 2 ** (params.bits - 1) - 1
    s = params.levels if params.levels is not None else most
    if not 1 <= s <= most:
        raise ValueError(
            f"qsgd with bits={params.bits} holds at most {most} levels (2s + 1 codes in "
            f"2^bits); got levels={s}: lower compression.levels or raise compression.bits"
        )
    return s


def size(params: QSGDParams, d: int) -> int:
    buckets = -(-d // params.bucket)
    return wire.HEADER.size + _PARAMS.size + 4 * buckets + wire.packed_size(d, params.bits)


def encode(x: np.ndarray, params: QSGDParams, rng: np.random.Generator) -> bytes:
    """`rng` draws the rounding coins, one uniform per coordinate."""
    x = np.asarray(x, dtype=np.float32)
    d, s, b = len(x), levels(params), params.bucket
    buckets = -(-d // b)
    padded = np.zeros(buckets * b, np.float64)
    padded[:d] = x
    rows = padded.reshape(buckets, b)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows)).astype(np.float32)
    safe = np.where(norms > 0, norms.astype(np.float64), 1.0)
    ratio = np.minimum(np.abs(rows) / safe[:, None] * s, s).reshape(-1)[:d]
    low = np.floor(ratio)
    level = low + (rng.random(d) < ratio - low)
    codes = (np.sign(x) * level + s).astype(np.uint32)
    return b"".join(
        (
            wire.header(ID, d),
            _PARAMS.pack(s, params.bits, b),
            norms.astype("<f4").tobytes(),
            wire.pack(codes, params.bits),
        )
    )


def decode(payload: bytes, d: int) -> np.ndarray:
    body = wire.read_header(payload, ID, d)
    s, bits, b = _PARAMS.unpack_from(body)
    if s < 1 or b < 1 or not 2 <= bits <= 8 or 2 * s >= 2**bits:
        raise ValueError(f"compression: qsgd payload with levels={s}, bits={bits}, bucket={b}")
    buckets = -(-d // b)
    norms = np.frombuffer(body[_PARAMS.size :], dtype="<f4", count=buckets)
    codes = wire.unpack(body[_PARAMS.size + 4 * buckets :], d, bits)
    signed = codes.astype(np.float64) - s
    scale = np.repeat(norms.astype(np.float64) / s, b)[:d]
    return (signed * scale).astype(np.float32)
