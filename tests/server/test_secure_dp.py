"""Distributed DP and adaptive clipping inside the secure sum: what clients encode, what the
server decodes, through the real masking protocol, and what the ledger records."""

import math

import numpy as np
import pytest

from fedray.prepare import prepare
from fedray.privacy import discrete_accounting
from fedray.scenario import ScenarioError, load_scenario
from fedray.secagg import simulate
from fedray.secagg.messages import Params
from fedray.server import privacy, secure_dp
from tests.factories import tiny

DIM = 50


def scenario(mechanism="discrete_gaussian", z=1.0, adaptive=None, mode="distributed", **extra):
    p = {"mode": mode, "noise_multiplier": z, "clip": 1.0, "mechanism": mechanism, **extra}
    if adaptive is not None:
        p["adaptive_clipping"] = {"enabled": True, "count_noise": adaptive}
    return load_scenario(
        tiny(
            federation={"population": 100, "clients_per_round": 10},
            privacy=p,
            secure_aggregation={"protocol": "secagg", "weighting": "uniform", "modulus_bits": 48},
        )
    )


def _updates(n=10, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return (rows * rng.uniform(0.2, 2.0, (n, 1)) / np.sqrt(DIM)).astype(np.float32)


def _encode_all(s, rows, round_=1):
    """Each client's (clipped update, encoded vector), as the workers produce them."""
    return [secure_dp.private_client(s, round_, cid, rows[cid], None) for cid in range(len(rows))]


def _masked_sum(encoded, modulus_bits=48):
    """The survivors' sum, through the real SecAgg protocol (keys, shares, masks, unmasking)."""
    params = Params(threshold=6, neighbors=len(encoded) - 1, modulus_bits=modulus_bits)
    total, _ = simulate.run(dict(enumerate(encoded)), params, rng=np.random.default_rng(1))
    return total


def test_without_noise_the_decoded_sum_and_count_are_the_plaintext_ones():
    s = scenario(z=0.0, adaptive=0.0)
    rows = _updates()
    clipped = [privacy.client_noise(s, r, None) for r in rows]
    dp = secure_dp.setup(s, 1, DIM, 1.0)

    total = _masked_sum([enc for _, enc in _encode_all(s, rows)])
    weighted, units, count = secure_dp.decode(dp, s, total)

    plain_count = int((np.linalg.norm(rows.astype(np.float64), axis=1) <= 1.0).sum())
    assert 0 < plain_count < 10  # some clipped, some not: the bit is not trivial
    assert count == plain_count and units == 10
    # rounding moves each client by < 1 unit per rotated coordinate (<= gamma sqrt(d') in L2),
    # and a float32 update clipped an ulp above S is scaled back onto the sphere
    error = np.linalg.norm(weighted - np.sum(clipped, axis=0, dtype=np.float64))
    assert error <= 10 * (dp.gamma * math.sqrt(dp.padded) + 2.0**-22)
    assert dp.gamma < 1e-6  # 48 bits leave room for a fine granularity


@pytest.mark.parametrize("mechanism", ["discrete_gaussian", "skellam"])
def test_the_decoded_noise_has_the_planned_variance(mechanism):
    s = scenario(mechanism=mechanism, z=2.0)
    rows = np.zeros((10, DIM), np.float32)
    dp = secure_dp.setup(s, 1, DIM, 1.0)
    draws = []
    for round_ in range(1, 21):  # 20 rounds x 64 coordinates of pure noise
        dp_r = secure_dp.setup(s, round_, DIM, 1.0)
        encoded = [enc for _, enc in _encode_all(s, rows, round_)]
        total = np.sum(encoded, axis=0, dtype=np.uint64) & np.uint64(2**48 - 1)
        draws.append(secure_dp.decode(dp_r, s, total)[0])

    # the sum of 10 shares of variance (z S)^2 / 10 is N(0, (z S)^2) per coordinate
    assert np.std(draws) == pytest.approx(2.0, rel=0.1)
    assert dp.wrap <= 1e-6


def test_noise_seed_scenario_repeats_and_os_does_not():
    rows = _updates()
    for seed, same in (("scenario", True), ("os", False)):
        s = scenario(noise_seed=seed)
        a = _encode_all(s, rows)[0][1]
        b = _encode_all(s, rows)[0][1]
        assert np.array_equal(a, b) == same


def test_the_ledger_composes_the_rounds_rdp_after_subsampling():
    s = scenario(z=1.0, adaptive=1.0)
    dp = secure_dp.setup(s, 1, DIM, 1.0)
    curve = secure_dp.round_curve(dp, 10)

    state, m1 = privacy.after_round(
        s, {}, survivors=10, unclipped=7.0, rng=None, curve=curve, count_noised=True
    )
    state, m2 = privacy.after_round(
        s, state, survivors=10, unclipped=7.0, rng=None, curve=curve, count_noised=True
    )

    q = 10 / 100
    expected = discrete_accounting.epsilon(2 * discrete_accounting.subsampled(curve, q), 1e-5)
    assert m2["privacy_epsilon"] == pytest.approx(expected)
    assert m1["privacy_epsilon"] < m2["privacy_epsilon"]
    # the count came out noised: S moves by exp(-0.2 (0.7 - 0.5)) with no extra draw (rng=None)
    assert m1["privacy_clip"] == pytest.approx(math.exp(-0.2 * 0.2))
    # the count's own mechanism is in the curve: fewer survivors, less noise, more epsilon
    assert (secure_dp.round_curve(dp, 6) > curve).all()


def test_adaptive_clipping_leaves_the_count_its_share_of_z():
    s = scenario(z=1.0, adaptive=1.0)
    dp = secure_dp.setup(s, 1, DIM, 1.0)

    # z_delta = (1 - 1/4)^(-1/2); each client's variance is (z_delta S / gamma)^2 / m
    z_delta = (1 - 0.25) ** -0.5
    assert dp.variance == pytest.approx((z_delta / dp.gamma) ** 2 / 10)
    # count: K (2b - 1) with per-client std 2 sigma_b K / sqrt(m) >= 8 integer units
    assert math.sqrt(dp.count_variance) >= 8
    assert dp.count_variance == pytest.approx((2 * dp.count_scale) ** 2 / 10)


def test_a_modulus_too_small_is_refused_with_what_to_change():
    small = load_scenario(
        tiny(
            federation={"population": 100, "clients_per_round": 60},
            privacy={"mode": "distributed", "noise_multiplier": 30.0, "mechanism": "skellam"},
            secure_aggregation={"protocol": "secagg", "weighting": "uniform", "modulus_bits": 8},
        )
    )

    problems = secure_dp.model_problems(small, 10_000)

    assert len(problems) == 1
    assert (
        "modulus_bits=8" in problems[0] and "raise secure_aggregation.modulus_bits" in problems[0]
    )


@pytest.mark.parametrize(
    "privacy_cfg, fragment",
    [
        ({"mode": "central", "mechanism": "skellam"}, "privacy.mechanism"),
        (
            {"mode": "distributed", "discrete": {"granularity": 0.01}},
            "privacy.discrete.granularity",
        ),
        (
            {"mode": "distributed", "mechanism": "skellam", "target_epsilon": 3.0},
            "privacy.target_epsilon",
        ),
    ],
)
def test_validation_refuses_what_the_integer_mechanisms_cannot_do(privacy_cfg, fragment):
    cfg = {"noise_multiplier": 1.0, **privacy_cfg}
    if "target_epsilon" in cfg:
        del cfg["noise_multiplier"]
    raw = tiny(privacy=cfg, secure_aggregation={"protocol": "secagg", "weighting": "uniform"})

    with pytest.raises(ScenarioError, match=fragment.replace(".", r"\.")):
        load_scenario(raw)


def test_fedray_validate_refuses_a_field_that_would_wrap():

    raw = tiny(
        federation={"population": 100, "clients_per_round": 60},
        privacy={"mode": "distributed", "noise_multiplier": 30.0, "mechanism": "discrete_gaussian"},
        secure_aggregation={"protocol": "secagg", "weighting": "uniform", "modulus_bits": 8},
    )

    with pytest.raises(ScenarioError, match=r"privacy: .*wraps around"):
        prepare(load_scenario(raw))
    raw["secure_aggregation"]["modulus_bits"] = 32  # what the message says to change
    assert prepare(load_scenario(raw)).initial_params.size > 0


def test_the_budget_projection_adds_one_round_at_the_threshold():
    s = scenario(z=1.0)
    dp = secure_dp.setup(s, 1, DIM, 1.0)
    state, _ = privacy.after_round(
        s, {}, survivors=10, unclipped=None, rng=None, curve=secure_dp.round_curve(dp, 10)
    )

    now = privacy.user_epsilon(s, state)
    at_t = privacy.user_epsilon(s, state, extra_curve=secure_dp.round_curve(dp, 6))
    at_all = privacy.user_epsilon(s, state, extra_curve=secure_dp.round_curve(dp, 10))

    assert now < at_all < at_t


@pytest.mark.parametrize(
    "discrete_cfg, path",
    [
        ({"beta": 1.5}, "privacy.discrete.beta"),
        ({"max_wrap_probability": 0}, "privacy.discrete.max_wrap_probability"),
        ({"granularity": -1}, "privacy.discrete.granularity"),
        ({"rotation": "sometimes"}, "privacy.discrete.rotation"),
    ],
)
def test_hostile_discrete_settings_are_refused_by_path(discrete_cfg, path):
    raw = tiny(
        privacy={
            "mode": "distributed",
            "noise_multiplier": 1.0,
            "mechanism": "skellam",
            "discrete": discrete_cfg,
        },
        secure_aggregation={"protocol": "secagg", "weighting": "uniform"},
    )

    with pytest.raises(ScenarioError, match=path.replace(".", r"\.")):
        load_scenario(raw)


def test_a_count_scale_the_field_cannot_hold_is_refused():
    s = load_scenario(
        tiny(
            federation={"population": 100, "clients_per_round": 10},
            privacy={
                "mode": "distributed",
                "noise_multiplier": 0.001,
                "adaptive_clipping": {"enabled": True, "count_noise": 0.001},
            },
            secure_aggregation={
                "protocol": "secagg",
                "weighting": "uniform",
                "bits": 12,
                "modulus_bits": 17,
            },
        )
    )

    # K = ceil(8 sqrt(10) / 0.002) = 12,650: ten of them pass 2^16
    with pytest.raises(ValueError, match="count .* raise secure_aggregation.modulus_bits"):
        secure_dp.setup(s, 1, DIM, 1.0)
