"""Scaled sign: one bit per coordinate and one float32 scale, the mean magnitude.

C(x) = (||x||_1 / d) sign(x), the compressor of signSGD with error feedback (Karimireddy
et al., "Error feedback fixes SignSGD and other gradient compression schemes", ICML 2019;
sign(0) is taken as +1). The bits are packed eight to a byte, most significant first.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from fedray.compression import wire

ID = 4
_SCALE = struct.Struct("<f")


@dataclass(frozen=True)
class SignParams:
    """`type: sign` takes no parameters."""


def size(params: SignParams, d: int) -> int:
    return wire.HEADER.size + _SCALE.size + wire.packed_size(d, 1)


def encode(x: np.ndarray, params: SignParams, rng=None) -> bytes:
    x = np.asarray(x, dtype=np.float32)
    d = len(x)
    scale = float(np.abs(x.astype(np.float64)).mean()) if d else 0.0
    return wire.header(ID, d) + _SCALE.pack(scale) + np.packbits(x >= 0).tobytes()


def decode(payload: bytes, d: int) -> np.ndarray:
    body = wire.read_header(payload, ID, d)
    (scale,) = _SCALE.unpack_from(body)
    raw = np.frombuffer(body[_SCALE.size :], dtype=np.uint8, count=wire.packed_size(d, 1))
    bits = np.unpackbits(raw, count=d).astype(np.float32)
    return (np.float32(scale) * (2 * bits - 1)).astype(np.float32)
