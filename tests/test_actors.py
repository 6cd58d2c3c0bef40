"""Warm actors: a run that takes over another run's pool gives the bits of a cold start."""

import pytest

import fedray
from fedray.actors import WarmActors
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


def test_a_warm_pool_gives_the_bits_of_a_cold_one(tmp_path):
    first = tiny(rounds=2, resources={"num_workers": 2, "num_cpus": 1})
    # Another experiment on the same pool shape: other seed, model, strategy and defense.
    second = tiny(
        seed=11,
        rounds=2,
        model={"type": "mlp", "hidden": [16]},
        strategy={"name": "fedadam"},
        defense={"type": "median"},
        resources={"num_workers": 2, "num_cpus": 1},
    )
    warm = WarmActors()
    try:
        cold = fedray.run(first, out=tmp_path / "cold", warm=warm)  # starts the pool
        ((pool, aggregator),) = warm._idle.values()
        fedray.run(second, out=tmp_path / "second", warm=warm)
        # The first experiment again, on actors that have since run the second one.
        reused = fedray.run(first, out=tmp_path / "reused", warm=warm)
        assert list(warm._idle.values()) == [(pool, aggregator)]  # the same actors, given back
    finally:
        warm.close()
    assert reused.params.tobytes() == cold.params.tobytes()
    assert (
        reused.history.column("test_accuracy").to_pylist()
        == cold.history.column("test_accuracy").to_pylist()
    )
