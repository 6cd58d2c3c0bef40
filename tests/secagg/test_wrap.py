"""The modular wrap-around bound: valid against simulation, and refusals that say what to do."""

import numpy as np
import pytest

from fedray.privacy import discrete
from fedray.secagg.encoding import encode_integers, signed
from fedray.secagg.wrap import finest_granularity, wrap_probability


def _wraps(trials, *, clients, dim, norm, sigma, bits, rotated, rng):
    """How often the decoded modular sum differs from the true integer sum."""
    count = 0
    for _ in range(trials):
        signs = discrete.rotation_signs(dim, rng)
        total, true = np.zeros(dim + 1, np.uint64), np.zeros(dim, np.int64)
        for _ in range(clients):
            x = rng.standard_normal(dim)
            x *= norm / np.linalg.norm(x)
            x = discrete.rotate(x, signs) if rotated else x
            q = np.floor(x).astype(np.int64) + discrete.discrete_gaussian(sigma, dim, rng)
            true += q
            total = total + encode_integers(q, units=1, modulus_bits=bits)
        residues = total & np.uint64((1 << bits) - 1)  # the protocol's sum is mod 2^m
        count += not np.array_equal(signed(residues, bits)[:-1], true)
    return count / trials


@pytest.mark.parametrize("bits", [9, 11])
def test_the_bound_holds_against_simulated_sums(bits):
    # the sum's coordinates have std ~ sqrt(8 * 200^2 / 64 + 8 * 1600) ~ 120: 9 bits (+-256)
    # wrap almost always, 11 bits (+-1024, 8.5 std) essentially never
    rng = np.random.default_rng(0)
    args = dict(clients=8, dim=64, norm=200.0, rotated=True)
    observed = _wraps(60, sigma=40.0, bits=bits, rng=rng, **args)
    bound = wrap_probability(
        mechanism="discrete_gaussian", variance=1600.0, modulus_bits=bits, **args
    )

    assert observed <= bound
    assert 0 < bound <= 1
    if bits == 9:
        assert observed > 0.5  # the simulation does see wraps where they happen


def test_rotation_helps_a_spiky_sum_and_more_bits_help_everything():
    common = dict(clients=100, dim=4096, norm=2.0**28, mechanism="skellam", variance=2.0**30)
    flat = wrap_probability(rotated=True, modulus_bits=32, **common)
    spiky = wrap_probability(rotated=False, modulus_bits=32, **common)
    wider = wrap_probability(rotated=True, modulus_bits=40, **common)

    assert spiky == 1.0  # 100 * 2^28 does not fit in 2^31 without rotation
    assert wider < flat < 0.05


def test_the_finest_granularity_is_the_last_safe_one():
    args = dict(clip=1.0, clients=50, dim=1024, rotated=True, noise_multiplier=1.0)
    gamma, p = finest_granularity(
        mechanism="discrete_gaussian", modulus_bits=32, max_wrap=1e-6, **args
    )
    finer = wrap_probability(
        clients=50,
        dim=1024,
        norm=2 / gamma,
        rotated=True,
        mechanism="discrete_gaussian",
        variance=(2 / gamma) ** 2 / 50,
        modulus_bits=32,
    )

    assert p <= 1e-6 < finer
    assert finest_granularity(mechanism="skellam", modulus_bits=4, max_wrap=1e-6, **args) is None
