"""Vectorised cohorts in a run: the same learning as the loop, and a fallback that says why."""

import numpy as np
import pytest

import fedray
from fedray.scenario import ScenarioError
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


def test_blocks_train_what_the_loop_trains(tmp_path, warm):
    base = tiny(rounds=3, client__block_size=4, evaluation__federated_clients=0)
    loop = fedray.run(
        {**base, "client": {**base["client"], "vectorize": "off"}}, out=tmp_path / "a", warm=warm
    )
    blocks = fedray.run(
        {**base, "client": {**base["client"], "vectorize": "on"}}, out=tmp_path / "b", warm=warm
    )

    assert loop.summary["vectorized"] is False and blocks.summary["vectorized"] is True
    np.testing.assert_allclose(blocks.params, loop.params, atol=1e-5)
    assert blocks.history.column("test_accuracy").to_pylist() == pytest.approx(
        loop.history.column("test_accuracy").to_pylist(), abs=0.02
    )


def test_a_model_with_dropout_falls_back_to_the_loop_and_says_why(tmp_path, warm):
    model = {"type": "tests.plugins:dropout_mlp"}
    result = fedray.run(tiny(rounds=1, model=model), out=tmp_path / "run", warm=warm)
    assert result.summary["vectorized"] is False
    assert "Dropout" in result.summary["vectorize_reason"]
    with pytest.raises(ScenarioError, match=r"client.vectorize: .*Dropout.*got 'on'"):
        fedray.run(
            tiny(rounds=1, model=model, client__vectorize="on"), out=tmp_path / "on", warm=warm
        )
