"""Accounting: golden epsilons against Opacus, compaction, calibration round trips."""

import math

import pytest
from opacus.accountants import PRVAccountant, RDPAccountant

from fedray.privacy.accounting import calibrate, compact, epsilon

# sigma 1.5, q 0.04, 2,250 steps, delta 1e-5; recorded from Opacus 1.6.0.
GOLDEN = {"rdp": (RDPAccountant, 7.3291111714386545), "prv": (PRVAccountant, 6.7791320762541)}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_epsilon(name):
    cls, recorded = GOLDEN[name]
    reference = cls()
    reference.history = [(1.5, 0.04, 2250)]

    got = epsilon([(1.5, 0.04, 2250)], delta=1e-5, accountant=name)

    assert got == float(reference.get_epsilon(delta=1e-5))
    assert got == pytest.approx(recorded, rel=1e-6)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_split_history_equals_opacus_stepping_one_step_at_a_time(name):
    cls, _ = GOLDEN[name]
    history = [(1.0, 0.1, 3), (1.0, 0.1, 2), (2.0, 0.05, 4), (2.0, 0.05, 0), (2.0, 0.05, 1)]
    reference = cls()
    for z, q, steps in history:
        for _ in range(steps):
            reference.step(noise_multiplier=z, sample_rate=q)

    assert compact(history) == [(1.0, 0.1, 5), (2.0, 0.05, 5)]
    assert epsilon(history, delta=1e-5, accountant=name) == float(reference.get_epsilon(delta=1e-5))


def test_a_long_round_history_compacts_to_one_entry():
    history = [(1.2, 0.01, 1)] * 10_000

    assert compact(history) == [(1.2, 0.01, 10_000)]
    assert epsilon(history, delta=1e-5) == epsilon(compact(history), delta=1e-5)


@pytest.mark.parametrize("name", ["rdp", "prv"])
def test_equal_mechanisms_merge_wherever_they_are(name):
    history = [(1.0, 0.1, 1), (2.0, 0.1, 1), (1.0, 0.1, 1)]

    assert compact(history) == [(1.0, 0.1, 2), (2.0, 0.1, 1)]
    stepped = GOLDEN[name][0]()
    for z, q, _ in history:
        stepped.step(noise_multiplier=z, sample_rate=q)
    assert epsilon(history, delta=1e-5, accountant=name) == pytest.approx(
        float(stepped.get_epsilon(delta=1e-5)), rel=1e-3
    )


def test_epsilon_grows_with_steps_and_falls_with_noise():
    def eps(z, steps):
        return epsilon([(z, 0.05, steps)], delta=1e-5)

    assert eps(1.0, 100) < eps(1.0, 1000)
    assert eps(2.0, 1000) < eps(1.0, 1000)


def test_edge_histories():
    assert epsilon([], delta=1e-5) == 0.0
    assert epsilon([(1.0, 0.0, 50), (1.0, 0.3, 0)], delta=1e-5, accountant="prv") == 0.0
    assert epsilon([(0.0, 0.1, 1)], delta=1e-5, accountant="prv") == math.inf


@pytest.mark.parametrize("name, target", [("rdp", 2.0), ("rdp", 8.0), ("prv", 3.0)])
def test_calibrate_round_trips(name, target):
    z = calibrate(target_epsilon=target, delta=1e-5, sample_rate=0.04, steps=2250, accountant=name)

    got = epsilon([(z, 0.04, 2250)], delta=1e-5, accountant=name)

    assert target - 1e-3 <= got <= target


def test_unknown_accountant_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown accountant 'gdp'.*prv, rdp"):
        epsilon([(1.0, 0.1, 1)], delta=1e-5, accountant="gdp")


def test_bad_entries_are_all_reported():
    with pytest.raises(ValueError, match="delta.*sample rate.*steps"):
        epsilon([(1.0, 1.5, 2), (1.0, 0.1, -1)], delta=0.0)


def test_calibration_without_any_sampled_step_is_an_error():
    with pytest.raises(ValueError, match="steps >= 1 and sample_rate > 0"):
        calibrate(target_epsilon=1.0, delta=1e-5, sample_rate=0.1, steps=0)
