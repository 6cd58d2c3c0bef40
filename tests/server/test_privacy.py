"""The server's privacy bookkeeping: user-level noise, the ledger, local DP's running totals."""

import math

import numpy as np
import pytest

from fedray.privacy.accounting import epsilon
from fedray.scenario import load_scenario
from fedray.server import privacy
from tests.factories import tiny


def scenario(**p):
    secure = {"protocol": "secagg", "weighting": "uniform"} if p["mode"] == "distributed" else {}
    return load_scenario(
        tiny(
            federation={"population": 100, "clients_per_round": 10},
            privacy=p,
            secure_aggregation=secure,
        )
    )


def test_central_aggregate_clips_noises_and_divides_by_the_expected_cohort():
    s = scenario(mode="central", noise_multiplier=0.0, clip=1.0)
    rows = np.array([[3.0, 4.0], [0.3, 0.4]], np.float32)  # norms 5 and 0.5
    log = {}

    mean = privacy.central_aggregate(s, {}, np.random.default_rng(0), log)(rows, np.ones(2))

    np.testing.assert_allclose(mean, ([0.6, 0.8] + np.array([0.3, 0.4])) / 10, rtol=1e-6)
    assert (log["clipped"], log["unclipped"]) == (1, 1)


def test_distributed_client_noise_is_a_1_over_m_share():
    s = scenario(mode="distributed", noise_multiplier=2.0, clip=1.0)
    zeros = np.zeros(200_000, np.float32)

    noised = privacy.client_noise(s, zeros, np.random.default_rng(1))

    assert np.std(noised) == pytest.approx(2.0 / math.sqrt(10), rel=0.01)


def test_client_clip_is_to_the_l2_bound():
    s = scenario(mode="central", noise_multiplier=1.0, clip=0.5)
    out = privacy.client_noise(s, np.array([3.0, 4.0], np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(out, [0.3, 0.4], rtol=1e-6)  # central: clipped, not noised


def test_ledger_records_the_noise_that_protected_each_round():
    s = scenario(mode="distributed", noise_multiplier=1.0)
    state, m1 = privacy.after_round(s, {}, survivors=10, unclipped=None, rng=None)
    state, m2 = privacy.after_round(s, state, survivors=4, unclipped=None, rng=None)

    assert state["user_z"].tolist() == pytest.approx([1.0, math.sqrt(0.4)])
    assert m2["privacy_epsilon"] == pytest.approx(
        epsilon([(1.0, 0.1, 1), (math.sqrt(0.4), 0.1, 1)], delta=1e-5)
    )
    assert m1["privacy_epsilon"] < m2["privacy_epsilon"]


def test_adaptive_clipping_shrinks_s_when_everyone_is_unclipped():
    s = scenario(
        mode="central",
        noise_multiplier=1.0,
        clip=2.0,
        adaptive_clipping={"enabled": True, "count_noise": 1.0, "lr": 0.2},
    )
    state, metrics = privacy.after_round(
        s, {}, survivors=None, unclipped=10, rng=np.random.default_rng(0)
    )
    assert metrics["privacy_clip"] < 2.0 and state["clip"] == metrics["privacy_clip"]


def test_local_steps_accumulate_across_rounds_and_never_reset():
    s = scenario(mode="local", noise_multiplier=1.0)
    state = privacy.record_local(s, {}, [3, 7], [1.0, 1.0], [0.5, 0.25], [4, 8])
    state = privacy.record_local(s, state, [7, 9], [1.0, 1.0], [0.25, 0.5], [8, 2])

    assert state["local_ids"].tolist() == [3, 7, 9]
    assert state["local_steps"].tolist() == [4, 16, 2]
    metrics = privacy.local_metrics(s, state)
    assert metrics["privacy_epsilon_max"] == pytest.approx(epsilon([(1.0, 0.25, 16)], delta=1e-5))


def test_target_epsilon_calibrates_z_for_the_planned_rounds():
    s = scenario(mode="central", target_epsilon=2.0)
    z = privacy.user_noise_multiplier(s)
    assert epsilon([(z, 0.1, s.rounds)], delta=1e-5) == pytest.approx(2.0, abs=2e-3)


def test_local_projection_adds_the_planned_steps_to_each_clients_total():
    s = scenario(mode="local", noise_multiplier=1.0)
    state = privacy.record_local(s, {}, [3, 7], [1.0, 1.0], [0.5, 0.25], [4, 8])

    ahead = privacy.local_projection(s, state, [7, 11], [1.0, 1.0], [0.25, 0.5], [8, 1])

    assert ahead == pytest.approx(epsilon([(1.0, 0.25, 16)], delta=1e-5))
    assert state["local_eps"].tolist() == pytest.approx(
        [epsilon([(1.0, 0.5, 4)], delta=1e-5), epsilon([(1.0, 0.25, 8)], delta=1e-5)]
    )


def test_local_projection_before_any_round_is_the_planned_steps_alone():
    s = scenario(mode="local", noise_multiplier=1.0)
    ahead = privacy.local_projection(s, {}, [4, 5], [1.0, 1.0], [0.5, 0.25], [3, 6])
    assert ahead == pytest.approx(
        max(epsilon([(1.0, 0.5, 3)], delta=1e-5), epsilon([(1.0, 0.25, 6)], delta=1e-5))
    )


def test_noise_seed_scenario_repeats_the_noise_and_os_does_not():
    from fedray import seeding
    from fedray.scenario import load_scenario
    from fedray.server.privacy import noise_rng
    from tests.factories import tiny

    dp = {"mode": "central", "noise_multiplier": 1.0}
    seeded = load_scenario(tiny(privacy=dp))
    fresh = load_scenario(tiny(privacy={**dp, "noise_seed": "os"}))

    draws = [noise_rng(seeded, 2, 5).standard_normal(4) for _ in range(2)]
    expected = seeding.rng(seeded.seed, 2, 5, seeding.PRIVACY).standard_normal(4)
    assert np.array_equal(draws[0], draws[1]) and np.array_equal(draws[0], expected)
    unseeded = [noise_rng(fresh, 2, 5).standard_normal(4) for _ in range(2)]
    assert not np.array_equal(unseeded[0], unseeded[1])
    assert not np.array_equal(unseeded[0], expected)
