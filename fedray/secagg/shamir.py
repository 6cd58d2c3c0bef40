"""Vectorised t-of-n Shamir secret sharing of byte strings over GF(p), p = 2^20 - 3.

Shamir, "How to share a secret", CACM 1979; used by Bonawitz et al. (CCS 2017) to share each
client's seed b_u and masking key s_u. A secret of L bytes is cut into ceil(8 L / 19) chunks
of 19 bits, each below p, and each chunk gets its own random polynomial of degree t - 1.

Why p < 2^20: every field element then fits in 20 bits, so a product of two is below 2^40
and a sum of t <= 8192 = 2^13 such products is below 2^53, the range float64 holds exactly.
Share generation is therefore one float64 BLAS matmul, Vandermonde (holders x t) times
coefficients (t x chunks), reduced mod p afterwards; thresholds above 8192 are refused.

The polynomial coefficients must be unpredictable for the shares to hide the secret. With
`rng=None` they come from `os.urandom`; a numpy Generator (PCG64, not a cryptographic
generator) is for reproducible tests and simulations and should be seeded from os.urandom
wherever secrecy matters.
"""

from __future__ import annotations

import functools
import os

import numpy as np

PRIME = 1_048_573  # the largest prime below 2^20
CHUNK_BITS = 19
MAX_THRESHOLD = 8192  # t * (p - 1)^2 < 2^53: float64 sums stay exact


def chunk_count(length: int) -> int:
    """Return the number of field elements a secret of `length` bytes is cut into."""
    return -(-8 * length // CHUNK_BITS)


def to_chunks(secrets: list[bytes]) -> np.ndarray:
    """Cut equal-length byte strings into (len(secrets), chunks) int64 field elements."""
    length = len(secrets[0])
    if any(len(s) != length for s in secrets):
        raise ValueError(f"secrets must share one length; got {sorted({len(s) for s in secrets})}")
    chunks = chunk_count(length)
    raw = np.frombuffer(b"".join(secrets), dtype=np.uint8).reshape(len(secrets), length)
    bits = np.unpackbits(raw, axis=1)
    bits = np.pad(bits, ((0, 0), (0, chunks * CHUNK_BITS - 8 * length)))
    weights = np.int64(1) << np.arange(CHUNK_BITS - 1, -1, -1, dtype=np.int64)
    return bits.reshape(len(secrets), chunks, CHUNK_BITS).astype(np.int64) @ weights


def from_chunks(chunks: np.ndarray, length: int) -> bytes:
    """Join (chunks,) field elements back into `length` bytes (inverse of `to_chunks`)."""
    chunks = np.asarray(chunks, dtype=np.int64)
    if chunks.min() < 0 or chunks.max() >= 1 << CHUNK_BITS:
        raise ValueError(
            "a reconstructed chunk is not a 19-bit value: the shares come from different "
            "polynomials (wrong holders, or fewer than t honest shares)"
        )
    shifts = np.arange(CHUNK_BITS - 1, -1, -1, dtype=np.int64)
    bits = ((chunks[:, None] >> shifts) & 1).astype(np.uint8).ravel()
    if bits[8 * length :].any():
        raise ValueError("a reconstructed secret has nonzero padding: the shares are inconsistent")
    return np.packbits(bits[: 8 * length]).tobytes()


def check_points(xs: np.ndarray) -> np.ndarray:
    """Return xs as int64 after checking they are distinct points of [1, p)."""
    xs = np.asarray(xs, dtype=np.int64)
    if xs.ndim != 1 or len(np.unique(xs)) != len(xs) or xs.min() < 1 or xs.max() >= PRIME:
        raise ValueError(
            f"evaluation points must be distinct integers in [1, {PRIME}); got {xs.tolist()[:8]}"
            f"{'...' if len(xs) > 8 else ''} (client ids must stay below {PRIME - 1})"
        )
    return xs


def evaluate(coefficients: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Evaluate polynomials at points, mod p: one exact float64 matmul.

    Args:
        coefficients: (t, m) int64 in [0, p); column j holds polynomial j, constant term first.
        xs: (h,) int64 points.

    Returns:
        (h, m) int64, entry [i, j] = sum_k coefficients[k, j] * xs[i]^k mod p.
    """
    t = len(coefficients)
    if t > MAX_THRESHOLD:
        raise ValueError(f"threshold t must be <= {MAX_THRESHOLD} for exact float64 sums; got {t}")
    powers = np.ones((len(xs), t), dtype=np.int64)
    for k in range(1, t):
        powers[:, k] = powers[:, k - 1] * xs % PRIME
    values = powers.astype(np.float64) @ coefficients.astype(np.float64)
    return np.fmod(values, PRIME).astype(np.int64)


def _random_field(shape: tuple[int, int], rng: np.random.Generator | None) -> np.ndarray:
    if rng is not None:
        return rng.integers(0, PRIME, size=shape, dtype=np.int64)
    count = shape[0] * shape[1]
    values = np.frombuffer(os.urandom(4 * count), dtype="<u4").astype(np.int64) >> 12
    while (bad := values >= PRIME).any():  # 3 of 2^20 values: reject and redraw
        values[bad] = np.frombuffer(os.urandom(4 * int(bad.sum())), dtype="<u4") >> 12
    return values.reshape(shape)


def share(
    secrets: list[bytes], *, xs: np.ndarray, t: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Split each secret into one share per holder, any t of which rebuild it.

    Args:
        secrets: equal-length byte strings (32 bytes: a seed b_u or an X25519 private key).
        xs: (h,) distinct evaluation points in [1, p), one per holder (client id + 1).
        t: threshold, 1 <= t <= h and t <= 8192.
        rng: draws the polynomial coefficients; None draws them from os.urandom.

    Returns:
        (h, len(secrets), chunks) int64 in [0, p): holder i's share of every secret.
    """
    xs = check_points(xs)
    if not 1 <= t <= min(len(xs), MAX_THRESHOLD):
        raise ValueError(f"threshold t must be in [1, min(holders={len(xs)}, 8192)]; got {t}")
    constant = to_chunks(secrets)  # (secrets, chunks)
    width = constant.size
    coefficients = np.vstack([constant.reshape(1, width), _random_field((t - 1, width), rng)])
    return evaluate(coefficients, xs).reshape(len(xs), *constant.shape)


def _prod_mod(matrix: np.ndarray) -> np.ndarray:
    """Multiply each row's entries mod p by pairwise halving (log2 of the width in steps)."""
    while matrix.shape[1] > 1:
        if matrix.shape[1] % 2:
            matrix = np.hstack([matrix, np.ones((len(matrix), 1), dtype=np.int64)])
        matrix = matrix[:, 0::2] * matrix[:, 1::2] % PRIME
    return matrix[:, 0]


def _pow_mod(base: np.ndarray, exponent: int) -> np.ndarray:
    result = np.ones_like(base)
    while exponent:
        if exponent & 1:
            result = result * base % PRIME
        base, exponent = base * base % PRIME, exponent >> 1
    return result


@functools.lru_cache(maxsize=4096)
def _lagrange_cached(xs: tuple[int, ...]) -> np.ndarray:
    x = np.array(xs, dtype=np.int64)
    off_diagonal = ~np.eye(len(x), dtype=bool)
    numerators = np.where(off_diagonal, x[None, :], 1)
    denominators = np.where(off_diagonal, (x[None, :] - x[:, None]) % PRIME, 1)
    weights = _prod_mod(numerators) * _pow_mod(_prod_mod(denominators), PRIME - 2) % PRIME
    weights.setflags(write=False)
    return weights


def lagrange_at_zero(xs: np.ndarray) -> np.ndarray:
    """Return the (t,) weights lambda_i = prod_{j != i} x_j / (x_j - x_i) mod p, so that
    f(0) = sum_i lambda_i f(x_i) for every polynomial f of degree < t."""
    return _lagrange_cached(tuple(check_points(xs).tolist()))


def interpolate_at_zero(xs: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Return the (chunks,) field elements f(0) of the polynomials through (xs, shares)."""
    weights = lagrange_at_zero(xs)
    return (weights @ np.asarray(shares, dtype=np.int64)) % PRIME  # < t 2^40: exact in int64


def reconstruct(xs: np.ndarray, shares: np.ndarray, *, t: int, length: int) -> bytes:
    """Rebuild a secret of `length` bytes from the shares of at least t holders.

    Args:
        xs: (h,) the holders' evaluation points.
        shares: (h, chunks) int64, row i from holder xs[i].
        t: threshold; the first t rows are used.
        length: the secret's length in bytes.

    Returns:
        The secret.
    """
    if len(xs) != len(shares):
        raise ValueError(f"need one share row per point; got {len(xs)} points, {len(shares)} rows")
    if len(xs) < t:
        raise ValueError(f"reconstruction needs t={t} shares; got {len(xs)}")
    return from_chunks(interpolate_at_zero(np.asarray(xs)[:t], np.asarray(shares)[:t]), length)
