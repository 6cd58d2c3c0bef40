"""Shamir reconstruction that uses every share it gets: check, correct, and name the liar.

`shamir.reconstruct` interpolates through the first t shares, so one altered share among
them silently yields a wrong secret (and a wrong sum). With h > t shares of a degree t - 1
polynomial, the shares form a Reed-Solomon codeword of length h and dimension t: any
e <= (h - t) / 2 wrong shares can be corrected, and any h - t can be detected (McEliece and
Sarwate, "On sharing secrets and Reed-Solomon codes", CACM 1981). Decoding here is by
agreement: a polynomial through t shares is the true one iff at least h - e shares lie on
it (a wrong one meets at most t - 1 honest shares plus the e wrong ones, fewer than h - e).
It checks the first t against the rest; when that fails, Berlekamp-Welch locates the
errors, and the polynomial through t shares off those locations is checked the same way. A
share off the polynomial it accepts is named.
"""

from __future__ import annotations

import functools

import numpy as np

from fedray.secagg.shamir import (
    PRIME,
    _pow_mod,
    _prod_mod,
    check_points,
    from_chunks,
    interpolate_at_zero,
)


class InconsistentShares(ValueError):
    """The shares do not lie on one polynomial of degree < t, and too few agree to say which
    are wrong; `holders` lists the positions that disagree with the best candidate."""

    def __init__(self, message: str, holders: list[int]):
        super().__init__(message)
        self.holders = holders


def evaluate_through(xs: np.ndarray, shares: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Evaluate at points `at` the polynomials of degree < len(xs) through (xs, shares).

    Barycentric Lagrange: f(a) = L(a) sum_i w_i f(x_i) / (a - x_i), L(a) = prod_i (a - x_i),
    w_i = 1 / prod_{j != i} (x_i - x_j), all mod p; `at` must avoid xs.

    Returns:
        (len(at), chunks) int64 in [0, p).
    """
    basis = _basis(tuple(np.asarray(xs).tolist()), tuple(np.asarray(at).tolist()))
    return (basis @ np.asarray(shares, np.int64)) % PRIME  # < t 2^40: exact in int64


@functools.lru_cache(maxsize=1024)
def _basis(xs: tuple[int, ...], at: tuple[int, ...]) -> np.ndarray:
    """(len(at), len(xs)) Lagrange basis values; cached, as holder positions repeat."""
    x, a = np.array(xs, np.int64), np.array(at, np.int64)
    off = ~np.eye(len(x), dtype=bool)
    w = _pow_mod(_prod_mod(np.where(off, (x[:, None] - x[None, :]) % PRIME, 1)), PRIME - 2)
    gaps = (a[:, None] - x[None, :]) % PRIME  # (len(at), t), nonzero
    big_l = _prod_mod(gaps)
    basis = big_l[:, None] * (w[None, :] * _pow_mod(gaps, PRIME - 2) % PRIME) % PRIME
    basis.setflags(write=False)
    return basis


def _agreement(xs, shares, subset: tuple[int, ...]) -> np.ndarray:
    """(h,) bool: which shares lie on the polynomial through the shares in `subset`."""
    rows = list(subset)
    on = np.zeros(len(xs), bool)
    on[rows] = True
    rest = np.flatnonzero(~on)
    if len(rest):
        predicted = evaluate_through(xs[rows], shares[rows], xs[rest])
        on[rest] = (predicted == shares[rest]).all(axis=1)
    return on


def _solve_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """One solution x of a x = b mod p (free unknowns 0), or None if there is none."""
    m = np.hstack([a % PRIME, (b % PRIME)[:, None]]).astype(np.int64)
    rows, cols = a.shape
    pivots, r = [], 0
    for c in range(cols):
        nonzero = np.flatnonzero(m[r:, c])
        if not len(nonzero):
            continue
        m[[r, r + nonzero[0]]] = m[[r + nonzero[0], r]]
        m[r] = m[r] * pow(int(m[r, c]), PRIME - 2, PRIME) % PRIME
        column = m[:, c].copy()
        column[r] = 0
        m = (m - column[:, None] * m[r][None, :]) % PRIME  # entries < 2^40: exact
        pivots.append(c)
        r += 1
        if r == rows:
            break
    if m[r:, cols].any():
        return None
    x = np.zeros(cols, np.int64)
    x[pivots] = m[: len(pivots), cols]
    return x


def _error_locations(xs: np.ndarray, shares: np.ndarray, t: int) -> np.ndarray | None:
    """Berlekamp-Welch (US patent 4,633,470, 1986) on a random combination of the chunks:
    positions where the error locator E vanishes (the wrong shares, perhaps a few honest
    ones too when there are fewer errors than it allows for), or None if undecodable."""
    h, e = len(xs), (len(xs) - t) // 2
    # Fixed weights: a liar who cancels its error in the mix is still caught by the final
    # agreement check on every chunk, which then refuses rather than decodes.
    mix = np.random.default_rng(0x5EC).integers(1, PRIME, size=shares.shape[1])
    y = (shares % PRIME) @ mix % PRIME  # < chunks 2^40: exact; wrong rows stay wrong w.h.p.
    powers = np.ones((h, t + e), np.int64)
    for k in range(1, t + e):
        powers[:, k] = powers[:, k - 1] * xs % PRIME
    # Q(x_i) - y_i (E(x_i) - x_i^e) = y_i x_i^e, E monic of degree e, Q of degree < t + e
    a = np.hstack([powers, (PRIME - y[:, None]) * powers[:, :e] % PRIME])
    x_e = powers[:, e] if e < t + e else np.ones(h, np.int64)
    solution = _solve_mod(a, y * x_e % PRIME)
    if solution is None:
        return None
    locator = np.append(solution[t + e :], 1)  # E's coefficients, constant first
    values = (powers[:, : e + 1] * locator[None, :] % PRIME).sum(axis=1) % PRIME
    return np.flatnonzero(values == 0)


def reconstruct_checked(
    xs: np.ndarray, shares: np.ndarray, *, t: int, length: int
) -> tuple[bytes, list[int]]:
    """Rebuild a secret from h >= t shares, checking every share beyond the first t.

    Args:
        xs: (h,) the holders' evaluation points; shares: (h, chunks) int64, row i from xs[i].
        t: threshold; length: the secret's length in bytes.

    Returns:
        (the secret, positions i of the shares that are not on its polynomial; [] when all
        agree or when h == t, where nothing can be checked).

    Raises:
        InconsistentShares: more than (h - t) / 2 shares disagree, so no polynomial can be
            trusted; `holders` are the positions off the best candidate found.
    """
    xs, shares = check_points(xs), np.asarray(shares, np.int64)
    h = len(xs)
    if h != len(shares) or h < t:
        raise ValueError(f"reconstruction needs t={t} share rows, one per point; got {h}")
    need = h - (h - t) // 2
    on = _agreement(xs, shares, tuple(range(t)))  # the honest case: one cheap check
    if on.sum() < need:
        suspects = _error_locations(xs, shares, t)
        trusted = np.setdiff1d(np.arange(h), suspects if suspects is not None else [])
        if suspects is not None and len(trusted) >= t:
            on = _agreement(xs, shares, tuple(trusted[:t].tolist()))
    off = np.flatnonzero(~on).tolist()
    if on.sum() < need:
        raise InconsistentShares(
            f"the {h} shares do not lie on one polynomial of degree {t - 1}: "
            f"{int(on.sum())} agree, {need} needed to correct the rest (positions off the best "
            f"candidate: {off})",
            off,
        )
    rows = np.flatnonzero(on)[:t]
    return from_chunks(interpolate_at_zero(xs[rows], shares[rows]), length), off
