"""Fixed-point encoding of weighted, clipped updates into Z_{2^m} for secure aggregation.

Secure aggregation sums integers modulo 2^m (Bonawitz et al., "Practical secure aggregation
for privacy-preserving machine learning", CCS 2017), so each client maps its float update to
integers first. Each coordinate is clipped to [-clip, clip], multiplied by the client's
weight omega = units / max_units <= 1 and by scale = (2^(bits-1) - 1) / clip, and rounded
stochastically (unbiased, as in Suresh et al., "Distributed mean estimation with limited
communication", ICML 2017). Negative integers are stored two's-complement style, q + 2^m.
The client's units ride along as one extra, exact coordinate so that the server learns the
total weight of the survivors and nothing per client.
"""

from __future__ import annotations

import numpy as np


def _scale(clip: float, bits: int) -> float:
    return float(2 ** (bits - 1) - 1) / clip


def _check_format(*, clip: float, bits: int, modulus_bits: int) -> None:
    problems = []
    if not clip > 0:
        problems.append(f"clip must be > 0; got {clip}")
    # Past 53 bits float64 no longer holds every integer, so rounding would not be exact.
    if not 2 <= bits <= min(53, modulus_bits):
        problems.append(f"bits must be in [2, min(53, modulus_bits={modulus_bits})]; got {bits}")
    if not 2 <= modulus_bits <= 64:
        problems.append(f"modulus_bits must be in [2, 64]; got {modulus_bits}")
    if problems:
        raise ValueError("; ".join(problems))


def quantize(
    delta: np.ndarray,
    *,
    units: int,
    max_units: int,
    clip: float,
    bits: int,
    modulus_bits: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Encode one weighted update as a vector over Z_{2^modulus_bits}.

    Args:
        delta: (d,) float update.
        units: this client's weight in whole units (e.g. examples), 1 <= units <= max_units.
        max_units: the largest units any client may report; omega = units / max_units.
        clip: coordinates are clipped to [-clip, clip] before weighting.
        bits: one weighted coordinate spans [-(2^(bits-1) - 1), 2^(bits-1) - 1].
        modulus_bits: m; the result lies in [0, 2^m).
        rng: draws the stochastic-rounding coins.

    Returns:
        (d + 1,) uint64: the rounded coordinates mod 2^m, then `units` itself.
    """
    _check_format(clip=clip, bits=bits, modulus_bits=modulus_bits)
    if not 1 <= units <= max_units:
        raise ValueError(f"units must be in [1, max_units={max_units}]; got {units}")
    values = np.clip(np.asarray(delta, dtype=np.float64), -clip, clip)
    values *= (units / max_units) * _scale(clip, bits)
    low = np.floor(values)
    q = low.astype(np.int64) + (rng.random(values.shape) < values - low)
    mask = np.uint64((1 << modulus_bits) - 1)
    # int64 -> uint64 wraps negatives to q + 2^64, which is q + 2^m after the mask.
    return np.append(q.astype(np.uint64) & mask, np.uint64(units))


def dequantize(
    total: np.ndarray, *, clip: float, bits: int, modulus_bits: int
) -> tuple[np.ndarray, int]:
    """Decode a sum of `quantize` outputs (mod 2^m) into floats and the total units.

    Args:
        total: (d + 1,) uint64, the sum mod 2^modulus_bits of several clients' encodings.
        clip, bits, modulus_bits: as given to `quantize`.

    Returns:
        (sum_k omega_k * clip(delta_k) as (d,) float64, sum_k units_k). Exact up to
        `error_bound` as long as `capacity_problem` found nothing wrong.
    """
    _check_format(clip=clip, bits=bits, modulus_bits=modulus_bits)
    values = signed(total, modulus_bits)
    return values[:-1] / _scale(clip, bits), int(values[-1])


def signed(total: np.ndarray, modulus_bits: int) -> np.ndarray:
    """Read residues mod 2^m as int64 in [-2^(m-1), 2^(m-1)) (two's complement)."""
    total = np.asarray(total, dtype=np.uint64)
    negative = total >= np.uint64(1 << (modulus_bits - 1))
    # Setting the bits above m on residues >= 2^(m-1) makes their int64 view r - 2^m.
    high = ~np.uint64((1 << modulus_bits) - 1)
    return np.where(negative, total | high, total).view(np.int64)


def encode_integers(values: np.ndarray, *, units: int, modulus_bits: int) -> np.ndarray:
    """Encode an integer vector (already scaled, rounded and noised) for the secure sum.

    Returns (d + 1,) uint64: the values mod 2^m, then `units` (the server learns the total).
    """
    mask = np.uint64((1 << modulus_bits) - 1)
    values = np.asarray(values, np.int64).astype(np.uint64) & mask
    return np.append(values, np.uint64(units))


def with_extra(encoded: np.ndarray, extra: np.ndarray, modulus_bits: int) -> np.ndarray:
    """Insert integer coordinates (adaptive clipping's bit) before the trailing units."""
    mask = np.uint64((1 << modulus_bits) - 1)
    extra = np.asarray(extra, np.int64).astype(np.uint64) & mask
    return np.concatenate([encoded[:-1], extra, encoded[-1:]])


def capacity_problem(*, clients: int, bits: int, modulus_bits: int, max_units: int) -> str | None:
    """Say why `clients` encodings could wrap around modulo 2^modulus_bits, or None if they cannot.

    The sum of n encodings decodes correctly iff every coordinate's sum stays in
    (-2^(m-1), 2^(m-1)): n * (2^(bits-1) - 1) < 2^(m-1) and n * max_units < 2^(m-1).
    """
    problems = []
    if clients < 1 or max_units < 1:
        problems.append(f"clients and max_units must be >= 1; got {clients} and {max_units}")
    if bits < 2:
        problems.append(f"bits must be >= 2 (one sign bit and one value bit); got {bits}")
    if modulus_bits > 64:
        problems.append(f"modulus_bits must be <= 64 (uint64 words); got {modulus_bits}")
    if problems:
        return "; ".join(problems)
    largest = clients * max(2 ** (bits - 1) - 1, max_units)
    needed = largest.bit_length() + 1  # smallest m with largest < 2^(m-1)
    if needed <= modulus_bits:
        return None
    fix = (
        f"raise modulus_bits to {needed}"
        if needed <= 64
        else "lower bits, max_units or the cohort size (no modulus <= 64 bits fits)"
    )
    return (
        f"the sum of {clients} encodings at bits={bits}, max_units={max_units} needs "
        f"modulus_bits >= {needed}; got modulus_bits={modulus_bits}: {fix}"
    )


def error_bound(*, clients: int, clip: float, bits: int) -> float:
    """Return the largest absolute error per coordinate of a dequantized sum of `clients` updates.

    Each stochastic rounding moves a value by less than one step, 1 / scale.
    """
    return clients / _scale(clip, bits)
