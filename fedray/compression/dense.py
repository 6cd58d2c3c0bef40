"""No compression: the float32 vector as it is, behind the common header.

An uncompressed run still counts its bytes with this codec, so it compares with the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedray.compression import wire

ID = 0


@dataclass(frozen=True)
class DenseParams:
    """`type: none` takes no parameters."""


def size(params: DenseParams, d: int) -> int:
    return wire.HEADER.size + 4 * d


def encode(x: np.ndarray, params: DenseParams, rng=None) -> bytes:
    """Send every coordinate as little-endian float32."""
    x = np.asarray(x, dtype="<f4")
    return wire.header(ID, len(x)) + x.tobytes()


def decode(payload: bytes, d: int) -> np.ndarray:
    body = wire.read_header(payload, ID, d)
    return np.frombuffer(body, dtype="<f4", count=d).astype(np.float32)
