"""The wire format shared by every codec: a fixed header and bit-packed integer fields.

Every payload starts with the same 6 bytes: codec id (uint8), flags (uint8, reserved, 0)
and the vector's length d (uint32, little-endian). The rest is the codec's own: scales as
float32, counts as uint32, and integers packed with exactly `bits` bits each, most
significant bit first, the last byte padded with zeros. A payload is plain `bytes`: what a
client would put on the network, and `len(payload)` is what the run counts.
"""

from __future__ import annotations

import struct

import numpy as np

HEADER = struct.Struct("<BBI")
MAX_DIM = 2**32 - 1


def header(codec_id: int, d: int) -> bytes:
    """The 6-byte header of a payload for a (d,) vector."""
    if not 0 <= d <= MAX_DIM:
        raise ValueError(f"compression: vectors of length {d} do not fit the uint32 header")
    return HEADER.pack(codec_id, 0, d)


def read_header(payload: bytes, codec_id: int, d: int) -> memoryview:
    """Check a payload's header against the expected codec and length; return its body."""
    if len(payload) < HEADER.size:
        raise ValueError(f"compression: a payload of {len(payload)} bytes has no header")
    got_id, _, got_d = HEADER.unpack_from(payload)
    if got_id != codec_id or got_d != d:
        raise ValueError(
            f"compression: payload for codec {got_id} of length {got_d}; "
            f"expected codec {codec_id} of length {d}"
        )
    return memoryview(payload)[HEADER.size :]


def codec_of(payload: bytes) -> tuple[int, int]:
    """(codec id, d) named by a payload's header."""
    if len(payload) < HEADER.size:
        raise ValueError(f"compression: a payload of {len(payload)} bytes has no header")
    codec_id, _, d = HEADER.unpack_from(payload)
    return codec_id, d


def packed_size(count: int, bits: int) -> int:
    """Bytes that `count` integers of `bits` bits take once packed."""
    return (count * bits + 7) // 8


def pack(values: np.ndarray, bits: int) -> bytes:
    """Pack unsigned integers (each < 2^bits, 1 <= bits <= 32) into bytes, MSB first."""
    v = np.asarray(values, dtype=np.uint32)
    if bits == 8:
        return v.astype(np.uint8).tobytes()
    if bits == 4:  # two per byte: the common QSGD width gets a fast path
        even = np.zeros(len(v) + len(v) % 2, np.uint8)
        even[: len(v)] = v
        return ((even[0::2] << 4) | even[1::2]).astype(np.uint8).tobytes()
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    bit_rows = ((v[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bit_rows.reshape(-1)).tobytes()


def unpack(buffer, count: int, bits: int) -> np.ndarray:
    """The `count` unsigned integers of `bits` bits packed in `buffer` (uint32)."""
    raw = np.frombuffer(buffer, dtype=np.uint8, count=packed_size(count, bits))
    if bits == 8:
        return raw.astype(np.uint32)
    if bits == 4:
        pairs = np.empty(2 * len(raw), np.uint32)
        pairs[0::2], pairs[1::2] = raw >> 4, raw & 0x0F
        return pairs[:count]
    bit_rows = np.unpackbits(raw, count=count * bits).reshape(count, bits).astype(np.uint32)
    weights = np.left_shift(np.uint32(1), np.arange(bits - 1, -1, -1, dtype=np.uint32))
    return bit_rows @ weights if count else np.zeros(0, np.uint32)


def index_bits(d: int) -> int:
    """Bits per coordinate index of a (d,) vector: enough for d - 1, at least 1."""
    return max(1, int(d - 1).bit_length())
