"""Central DP-FedAvg: clipping by hand, untouched short rows, the noise's scale, determinism."""

import numpy as np
import pytest

from fedray.privacy.clipping import clip_rows, gaussian, noised_mean


def rows(k: int = 6, d: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((k, d)) * rng.uniform(0.1, 3.0, (k, 1))).astype(np.float32)


def test_clip_rows_by_hand():
    # (3, 4) has norm 5 and becomes (0.6, 0.8); (0, 0.5) is inside the bound and stays.
    updates = np.array([[3.0, 4.0], [0.0, 0.5]], dtype=np.float32)

    clipped, norms = clip_rows(updates, 1.0)

    np.testing.assert_allclose(clipped, [[0.6, 0.8], [0.0, 0.5]], rtol=1e-7)
    np.testing.assert_array_equal(norms, [5.0, 0.5])
    assert clipped.dtype == np.float32 and norms.dtype == np.float64


def test_short_rows_come_back_bitwise_and_long_rows_land_on_the_bound():
    updates = rows(50, 7)
    bound = float(np.median(np.linalg.norm(updates, axis=1)))

    clipped, norms = clip_rows(updates, bound)

    short = norms <= bound
    assert clipped[short].tobytes() == updates[short].tobytes()
    np.testing.assert_allclose(np.linalg.norm(clipped[~short], axis=1), bound, rtol=1e-6)
    np.testing.assert_array_equal(clipped[~short] * updates[~short] >= 0, True)  # no sign flips


def test_zero_rows_pass_without_dividing_by_zero():
    clipped, norms = clip_rows(np.zeros((2, 3), dtype=np.float32), 1.0)

    assert not clipped.any() and not norms.any()


def test_noised_mean_without_noise_divides_by_the_expected_cohort():
    # Sum of clipped rows (0.6, 1.3), over 4 expected clients rather than the 2 that came.
    updates = np.array([[3.0, 4.0], [0.0, 0.5]], dtype=np.float32)

    out, stats = noised_mean(
        updates, bound=1.0, noise_multiplier=0.0, expected_clients=4, rng=np.random.default_rng(0)
    )

    np.testing.assert_allclose(out, [0.15, 0.325], rtol=1e-6)
    assert stats == {"clipped": 1, "unclipped": 1, "mean_norm": 2.75}


def test_noise_std_on_the_mean_is_z_s_over_expected_clients():
    # z = 2, S = 0.5, 4 expected clients: per-coordinate std 2 * 0.5 / 4 = 0.25.
    zeros = np.zeros((3, 200_000), dtype=np.float32)

    out, _ = noised_mean(
        zeros, bound=0.5, noise_multiplier=2.0, expected_clients=4, rng=np.random.default_rng(1)
    )

    assert out.std() == pytest.approx(0.25, rel=0.01)
    assert abs(out.mean()) < 0.01


def test_same_rng_seed_gives_a_bitwise_equal_estimate():
    def run(seed):
        return noised_mean(
            rows(), bound=1.0, noise_multiplier=1.1, expected_clients=5.0,
            rng=np.random.default_rng(seed),
        )[0]  # fmt: skip

    assert run(3).tobytes() == run(3).tobytes()
    assert run(3).tobytes() != run(4).tobytes()


def test_an_empty_cohort_gives_pure_noise():
    out, stats = noised_mean(
        np.zeros((0, 4), dtype=np.float32),
        bound=1.0,
        noise_multiplier=1.0,
        expected_clients=2,
        rng=np.random.default_rng(0),
    )

    assert out.shape == (4,) and out.any()
    assert stats["clipped"] == stats["unclipped"] == 0 and np.isnan(stats["mean_norm"])


def test_gaussian_is_float32_and_seeded():
    one = gaussian(10, 2.0, np.random.default_rng(5))

    assert one.dtype == np.float32 and one.shape == (10,)
    assert one.tobytes() == gaussian(10, 2.0, np.random.default_rng(5)).tobytes()


@pytest.mark.parametrize(
    "updates, kwargs, match",
    [
        (np.ones(3, np.float32), {"bound": 1.0}, "shape"),
        (np.ones((2, 3)), {"bound": 1.0}, "float32"),
        (np.ones((2, 3), np.float32), {"bound": 0.0}, "bound"),
    ],
)
def test_bad_inputs_say_what_is_wrong(updates, kwargs, match):
    with pytest.raises(ValueError, match=match):
        clip_rows(updates, **kwargs)
