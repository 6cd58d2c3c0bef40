"""Fixed-point encoding: round trip within the bound, unbiased rounding, capacity messages."""

import numpy as np
import pytest

from fedray.secagg.encoding import capacity_problem, dequantize, error_bound, quantize


def encode_all(deltas, units, *, max_units, clip, bits, m, seed=0):
    rng = np.random.default_rng(seed)
    total = np.zeros(deltas.shape[1] + 1, np.uint64)
    for delta, u in zip(deltas, units):
        q = quantize(
            delta, units=u, max_units=max_units, clip=clip, bits=bits, modulus_bits=m, rng=rng
        )
        total = (total + q) & np.uint64((1 << m) - 1) if m < 64 else total + q
    return total


@pytest.mark.parametrize("bits, m", [(8, 16), (16, 32), (24, 40), (32, 64)])
def test_dequantized_sum_is_the_weighted_clipped_sum_within_the_bound(bits, m):
    rng = np.random.default_rng(1)
    deltas = rng.normal(0, 1.5, (12, 300)).astype(np.float32)  # many beyond clip = 1
    units = rng.integers(1, 101, 12)

    total = encode_all(deltas, units, max_units=100, clip=1.0, bits=bits, m=m)
    values, total_units = dequantize(total, clip=1.0, bits=bits, modulus_bits=m)

    expected = (units / 100) @ np.clip(deltas.astype(np.float64), -1, 1)
    assert np.abs(values - expected).max() <= error_bound(clients=12, clip=1.0, bits=bits)
    assert total_units == units.sum()


def test_stochastic_rounding_is_unbiased():
    # 0.3 of a step above a grid point: rounding to nearest would be off by 0.3 / scale.
    bits, clip = 4, 1.0
    scale = 7 / clip
    value = (2 + 0.3) / scale
    delta = np.full(200_000, value, np.float32)

    q = quantize(
        delta,
        units=1,
        max_units=1,
        clip=clip,
        bits=bits,
        modulus_bits=16,
        rng=np.random.default_rng(2),
    )
    decoded, _ = dequantize(q, clip=clip, bits=bits, modulus_bits=16)

    assert set(np.unique(decoded * scale).round(6)) == {2.0, 3.0}
    sd = 0.5 / scale / np.sqrt(delta.size)
    assert abs(decoded.mean() - float(np.float32(value))) < 5 * sd


def test_negative_values_are_stored_twos_complement_style_and_the_weight_exactly():
    delta = np.array([-1.0, 1.0, -5.0, 0.0], np.float32)

    q = quantize(
        delta, units=7, max_units=7, clip=1.0, bits=8, modulus_bits=20, rng=np.random.default_rng(0)
    )

    assert q.dtype == np.uint64
    assert q.tolist() == [2**20 - 127, 127, 2**20 - 127, 0, 7]


def test_weight_scales_values_and_rides_in_the_last_coordinate():
    delta = np.full(8, 1.0, np.float32)

    q = quantize(
        delta, units=2, max_units=4, clip=1.0, bits=9, modulus_bits=32, rng=np.random.default_rng(0)
    )

    # 0.5 * 255 = 127.5 rounds to 127 or 128; the weight is the exact integer 2
    assert set(q[:-1].tolist()) <= {127, 128} and q[-1] == 2


def test_same_rng_same_encoding():
    delta = np.random.default_rng(3).normal(size=50).astype(np.float32)
    kwargs = dict(units=3, max_units=9, clip=0.5, bits=12, modulus_bits=32)

    first = quantize(delta, **kwargs, rng=np.random.default_rng(7))
    second = quantize(delta, **kwargs, rng=np.random.default_rng(7))

    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("units", [0, 11, -1])
def test_units_outside_one_to_max_are_refused(units):
    with pytest.raises(ValueError, match="units must be in"):
        quantize(
            np.zeros(3),
            units=units,
            max_units=10,
            clip=1,
            bits=8,
            modulus_bits=32,
            rng=np.random.default_rng(),
        )


def test_capacity_problem_names_the_minimum_modulus():
    # 1000 * (2^15 - 1) = 32,767,000 < 2^25: the sum fits in 26 bits, not 25
    assert capacity_problem(clients=1000, bits=16, modulus_bits=26, max_units=1) is None
    message = capacity_problem(clients=1000, bits=16, modulus_bits=25, max_units=1)
    assert "modulus_bits >= 26" in message and "got modulus_bits=25" in message


def test_capacity_problem_counts_the_weight_coordinate():
    assert capacity_problem(clients=10, bits=4, modulus_bits=8, max_units=12) is None
    assert "modulus_bits >= 9" in capacity_problem(clients=11, bits=4, modulus_bits=8, max_units=12)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(clients=10, bits=1, modulus_bits=32, max_units=1), "bits must be >= 2"),
        (dict(clients=10, bits=8, modulus_bits=65, max_units=1), "modulus_bits must be <= 64"),
        (dict(clients=2**20, bits=53, modulus_bits=64, max_units=1), "no modulus <= 64 bits fits"),
    ],
)
def test_capacity_problem_explains_impossible_formats(kwargs, text):
    assert text in capacity_problem(**kwargs)


def test_the_capacity_limit_is_exactly_where_sums_start_to_wrap():
    bits, clients = 8, 5  # 5 * 127 = 635 needs m = 11
    deltas = np.full((clients, 1), -1.0, np.float32)
    for m, ok in [(11, True), (10, False)]:
        assert (
            capacity_problem(clients=clients, bits=bits, modulus_bits=m, max_units=1) is None
        ) == ok

        total = encode_all(deltas, [1] * clients, max_units=1, clip=1.0, bits=bits, m=m)
        values, _ = dequantize(total, clip=1.0, bits=bits, modulus_bits=m)

        assert np.isclose(values[0], -5.0) == ok


def test_error_bound_is_clients_over_scale():
    assert error_bound(clients=10, clip=2.0, bits=8) == 10 / (127 / 2.0)
