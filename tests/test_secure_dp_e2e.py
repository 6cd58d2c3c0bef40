"""Adaptive clipping under secure aggregation through the engine: with the noise off, the clip
norm follows the plaintext trajectory, although the server only ever decodes the count."""

import math

import pytest

import fedray
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

ADAPTIVE = {"enabled": True, "count_noise": 0.0, "target_quantile": 0.5, "lr": 0.5}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, warm):
    out = tmp_path_factory.mktemp("secure_dp")
    common = dict(rounds=4, evaluation={"every": 4, "federated_clients": 0})
    plain = tiny(
        privacy={
            "mode": "central",
            "noise_multiplier": 0.0,
            "clip": 0.45,
            "adaptive_clipping": ADAPTIVE,
        },
        **common,
    )
    secure = tiny(
        privacy={
            "mode": "distributed",
            "mechanism": "discrete_gaussian",
            "noise_multiplier": 0.0,
            "clip": 0.45,
            "adaptive_clipping": ADAPTIVE,
        },
        secure_aggregation={"protocol": "secagg", "weighting": "uniform", "modulus_bits": 48},
        **common,
    )
    return fedray.run(plain, out=out / "plain", warm=warm), fedray.run(
        secure, out=out / "secure", warm=warm
    )


def test_the_clip_norm_under_secagg_follows_the_plaintext_trajectory(runs):
    plain, secure = (r.history for r in runs)

    clips = plain.column("privacy_clip").to_pylist()
    assert secure.column("privacy_clip").to_pylist() == clips
    fractions = plain.column("privacy_unclipped_fraction").to_pylist()
    assert secure.column("privacy_unclipped_fraction").to_pylist() == fractions
    assert len(set(clips)) == 4  # S really moved every round
    assert any(0 < f < 1 for f in fractions)  # some updates clipped, some not


def test_the_integer_run_reports_its_field_and_no_privacy_without_noise(runs):
    secure = runs[1].history

    assert max(secure.column("secagg_wrap_probability").to_pylist()) <= 1e-6
    assert all(g > 0 for g in secure.column("privacy_granularity").to_pylist())
    assert all(math.isinf(e) for e in secure.column("privacy_epsilon").to_pylist())
