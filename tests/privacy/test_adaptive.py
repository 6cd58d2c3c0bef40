"""Adaptive clipping: the update by hand, its direction, convergence to the quantile, and the
noise split between updates and count."""

import math

import numpy as np
import pytest

from fedray.privacy.adaptive import total_noise_multiplier, update_bound, update_noise_multiplier
from fedray.privacy.clipping import noised_mean

RNG = np.random.default_rng


def step(bound, unclipped, clients=4, noise=0.0, seed=0, **kw):
    args = {"target_quantile": 0.5, "lr": 0.2, "count_noise_std": noise, "rng": RNG(seed)}
    return update_bound(bound, unclipped=unclipped, clients=clients, **(args | kw))


def test_by_hand_without_noise():
    # 3 of 4 unclipped, gamma 0.5, lr 0.2: S * exp(-0.2 * 0.25).
    bound, fraction = step(2.0, 3)

    assert fraction == 0.75
    assert bound == pytest.approx(2.0 * math.exp(-0.05), rel=1e-15)


@pytest.mark.parametrize("unclipped, shrinks", [(4, True), (0, False)])
def test_the_bound_shrinks_when_too_few_updates_are_clipped(unclipped, shrinks):
    bound, _ = step(1.0, unclipped)

    assert (bound < 1.0) == shrinks


def test_the_bound_tracks_the_target_quantile_of_the_norms():
    # Norms ~ lognormal(0, 0.5); its 0.8-quantile is exp(0.5 * 0.8416) = 1.5238. With the
    # clipped count in place of the unclipped one it would drift to the 0.2-quantile, 0.66.
    rng, bound, late = RNG(7), 0.1, []
    for round_ in range(400):
        updates = (rng.lognormal(0.0, 0.5, 100)[:, None] * np.eye(1, 3)).astype(np.float32)
        _, stats = noised_mean(
            updates, bound=bound, noise_multiplier=0.0, expected_clients=100, rng=rng
        )
        bound, _ = update_bound(
            bound, unclipped=stats["unclipped"], clients=100, target_quantile=0.8,
            lr=0.2, count_noise_std=5.0, rng=rng,
        )  # fmt: skip
        late += [bound] if round_ >= 300 else []

    assert np.mean(late) == pytest.approx(math.exp(0.5 * 0.8416), rel=0.05)


def test_same_rng_gives_the_same_noised_fraction():
    assert step(1.0, 2, noise=1.0, seed=3) == step(1.0, 2, noise=1.0, seed=3)
    assert step(1.0, 2, noise=1.0, seed=3) != step(1.0, 2, noise=1.0, seed=4)


def test_bad_arguments_are_all_reported():
    with pytest.raises(ValueError, match="bound.*clients.*target_quantile"):
        step(-1.0, 1, clients=0, target_quantile=1.5)


def test_noise_split_by_hand():
    # z = 1, sigma_b = 1: z_delta = (1 - 1/4)^(-1/2) = 2 / sqrt(3).
    assert update_noise_multiplier(1.0, 1.0) == pytest.approx(2 / math.sqrt(3), rel=1e-15)


@pytest.mark.parametrize("z, sigma_b", [(0.5, 2.0), (1.1, 0.6), (3.0, 50.0)])
def test_noise_split_round_trips_and_never_lowers_the_update_noise(z, sigma_b):
    z_delta = update_noise_multiplier(z, sigma_b)

    assert z_delta > z
    assert total_noise_multiplier(z_delta, sigma_b) == pytest.approx(z, rel=1e-12)


@pytest.mark.parametrize("sigma_b", [0.0, 0.5, 0.4])
def test_too_little_count_noise_is_an_error(sigma_b):
    with pytest.raises(ValueError, match=r"count_noise_std > z / 2 = 0.5"):
        update_noise_multiplier(1.0, sigma_b)


def test_no_privacy_needs_no_split():
    assert update_noise_multiplier(0.0, 0.0) == 0.0
