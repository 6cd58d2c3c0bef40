"""The pseudorandom generator that stretches a 32-byte seed into a mask over Z_{2^m}.

Bonawitz et al. (CCS 2017) mask inputs with PRG(b_u) and PRG(s_uv); as there, the PRG is a
block cipher in counter mode: AES-256-CTR with a zero nonce, keyed by the seed. A zero nonce
is safe because every seed keys exactly one stream. The keystream is read as little-endian
4-byte words when m <= 32 and 8-byte words otherwise, and each word keeps its low m bits, so
every mask coordinate is uniform on [0, 2^m).
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 32
_ZERO_NONCE = bytes(16)


def word_dtype(modulus_bits: int) -> np.dtype:
    """Return the unsigned dtype whose wrap-around arithmetic is exact modulo 2^modulus_bits."""
    if not 1 <= modulus_bits <= 64:
        raise ValueError(f"modulus_bits must be in [1, 64]; got {modulus_bits}")
    return np.dtype("<u4") if modulus_bits <= 32 else np.dtype("<u8")


def keystream_words(seed: bytes, length: int, modulus_bits: int) -> np.ndarray:
    """Return `length` raw keystream words (uint32 or uint64, see `word_dtype`), not yet masked.

    Sums of these words taken in their own dtype wrap modulo 2^32 or 2^64, both multiples
    of 2^m, so callers may add many masks first and reduce once (`reduce`).
    """
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed must be {SEED_BYTES} bytes; got {len(seed)}")
    dtype = word_dtype(modulus_bits)
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_ZERO_NONCE)).encryptor()
    stream = encryptor.update(bytes(length * dtype.itemsize))
    return np.frombuffer(stream, dtype=dtype)


def reduce(words: np.ndarray, modulus_bits: int) -> np.ndarray:
    """Return `words` modulo 2^modulus_bits as uint64."""
    return words.astype(np.uint64) & np.uint64((1 << modulus_bits) - 1)


def expand(seed: bytes, length: int, modulus_bits: int) -> np.ndarray:
    """Stretch a 32-byte seed into a uniform vector over Z_{2^modulus_bits}.

    Args:
        seed: 32 bytes, the AES-256 key.
        length: number of coordinates.
        modulus_bits: m, 1 <= m <= 64.

    Returns:
        (length,) uint64 in [0, 2^m).
    """
    return reduce(keystream_words(seed, length, modulus_bits), modulus_bits)
