"""Shamir sharing: any t shares rebuild, t - 1 do not, and the vectorised field arithmetic
matches naive Python integers."""

import numpy as np
import pytest

from fedray.secagg.shamir import (
    MAX_THRESHOLD,
    PRIME,
    evaluate,
    from_chunks,
    interpolate_at_zero,
    lagrange_at_zero,
    reconstruct,
    share,
    to_chunks,
)


def naive_evaluate(coefficients, x):
    return [
        sum(int(c) * pow(int(x), k, PRIME) for k, c in enumerate(col)) % PRIME
        for col in zip(*coefficients)
    ]


def naive_lagrange(xs):
    out = []
    for i, xi in enumerate(xs):
        num = den = 1
        for j, xj in enumerate(xs):
            if j != i:
                num, den = num * int(xj) % PRIME, den * (int(xj) - int(xi)) % PRIME
        out.append(num * pow(den, PRIME - 2, PRIME) % PRIME)
    return out


def test_is_prime_below_two_to_the_twenty():
    assert PRIME < 2**20 and all(PRIME % d for d in range(2, int(PRIME**0.5) + 1))


@pytest.mark.parametrize("n, t", [(1, 1), (5, 1), (7, 3), (10, 10), (40, 17)])
def test_any_t_shares_rebuild_every_secret(n, t):
    rng = np.random.default_rng(n * 100 + t)
    secrets = [rng.bytes(32), rng.bytes(32)]
    xs = rng.choice(np.arange(1, 5000), n, replace=False)

    shares = share(secrets, xs=xs, t=t, rng=rng)

    assert shares.shape == (n, 2, 14) and shares.dtype == np.int64
    for _ in range(5):
        rows = rng.permutation(n)[: rng.integers(t, n + 1)]
        for s, secret in enumerate(secrets):
            assert reconstruct(xs[rows], shares[rows, s], t=t, length=32) == secret


def test_t_minus_one_shares_miss_the_secret():
    rng = np.random.default_rng(0)
    secret = rng.bytes(32)
    xs = np.arange(1, 11)
    shares = share([secret], xs=xs, t=6, rng=rng)[:, 0]

    for _ in range(5):
        rows = rng.permutation(10)[:5]
        guess = interpolate_at_zero(xs[rows], shares[rows])

        assert not np.array_equal(guess, to_chunks([secret])[0])
    with pytest.raises(ValueError, match="needs t=6 shares; got 5"):
        reconstruct(xs[:5], shares[:5], t=6, length=32)


def test_evaluate_matches_naive_python_integers():
    rng = np.random.default_rng(1)
    coefficients = rng.integers(0, PRIME, (9, 4))
    xs = np.array([1, 2, 77, PRIME - 1, 123_456])

    got = evaluate(coefficients, xs)

    assert got.tolist() == [naive_evaluate(coefficients.tolist(), x) for x in xs]


def test_evaluate_is_exact_at_the_largest_threshold():
    # worst case for float64: every power and coefficient is p - 1 or near it
    coefficients = np.full((MAX_THRESHOLD, 1), PRIME - 1)
    xs = np.array([PRIME - 1, PRIME - 2])

    got = evaluate(coefficients, xs)

    assert got[:, 0].tolist() == [naive_evaluate(coefficients.tolist(), x)[0] for x in xs]


def test_lagrange_weights_match_naive_python_integers():
    xs = np.random.default_rng(2).choice(np.arange(1, PRIME), 150, replace=False)

    assert lagrange_at_zero(xs).tolist() == naive_lagrange(xs.tolist())


def test_shares_lie_on_a_polynomial_with_the_secret_as_constant_term():
    rng = np.random.default_rng(3)
    secret = rng.bytes(32)
    xs = np.arange(1, 9)

    shares = share([secret], xs=xs, t=4, rng=rng)[:, 0]

    weights = naive_lagrange([1, 2, 3, 4])
    rebuilt = [sum(w * int(s) for w, s in zip(weights, column)) % PRIME for column in shares[:4].T]
    assert rebuilt == to_chunks([secret])[0].tolist()


@pytest.mark.parametrize("length", [1, 19, 32, 33])
def test_chunks_round_trip(length):
    secret = np.random.default_rng(length).bytes(length)

    chunks = to_chunks([secret])[0]

    assert chunks.max() < 2**19 and from_chunks(chunks, length) == secret


def test_same_rng_same_shares_and_os_urandom_by_default():
    secret, xs = b"\x01" * 32, np.arange(1, 6)

    first = share([secret], xs=xs, t=3, rng=np.random.default_rng(9))
    second = share([secret], xs=xs, t=3, rng=np.random.default_rng(9))
    fresh = share([secret], xs=xs, t=3)

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, fresh)
    assert reconstruct(xs[2:], fresh[2:, 0], t=3, length=32) == secret


@pytest.mark.parametrize("xs", [[0, 1, 2], [1, 1, 2], [1, 2, PRIME]])
def test_bad_points_are_refused(xs):
    with pytest.raises(ValueError, match="distinct integers"):
        share([b"\x00" * 32], xs=np.array(xs), t=2, rng=np.random.default_rng())


def test_threshold_above_holders_or_8192_is_refused():
    with pytest.raises(ValueError, match="threshold t must be in"):
        share([b"\x00" * 32], xs=np.arange(1, 4), t=4, rng=np.random.default_rng())
    with pytest.raises(ValueError, match="8192"):
        evaluate(np.zeros((MAX_THRESHOLD + 1, 1), np.int64), np.array([1]))
