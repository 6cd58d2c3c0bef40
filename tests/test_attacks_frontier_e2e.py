"""PoisonedFL through the engine: its memory across rounds is bitwise the same with 1 or 2
workers and after a resume from a checkpoint."""

import numpy as np
import pytest

import fedray
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

ATTACK = {"type": "poisonedfl", "count": 6, "scale": 3.0, "window": 1}


def scenario(**overrides):
    base = {"rounds": 4, "attack": ATTACK, "evaluation": {"federated_clients": 0}}
    return tiny(**{**base, **overrides})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("poisonedfl")
    one = fedray.run(scenario(resources__num_workers=1), out=root / "one")
    two = fedray.run(scenario(resources__num_workers=2), out=root / "two")
    fedray.run(scenario(rounds=3, output__checkpoint_every=1), out=root / "part")
    (root / "part" / "checkpoints" / "round_0000003.npz").unlink()  # replay round 3
    resumed = fedray.run(None, ["rounds=4"], resume=root / "part")
    return one, two, resumed, root


def test_poisonedfl_is_bitwise_equal_with_one_or_two_workers(runs):
    one, two, _, _ = runs
    assert one.params.tobytes() == two.params.tobytes()
    assert (
        one.history.column("test_accuracy").to_pylist()
        == two.history.column("test_accuracy").to_pylist()
    )


def test_poisonedfl_resumes_to_the_same_bits_with_its_state_checkpointed(runs):
    one, _, resumed, root = runs
    assert resumed.params.tobytes() == one.params.tobytes()
    folder = root / "part" / "checkpoints"
    with np.load(folder / "round_0000001.npz") as first, np.load(folder / "round_0000002.npz") as z:
        assert {"attack/scale", "attack/previous_params", "attack/history"} <= set(z.files)
        # Round 2 started from round 1's model: that is the history it remembers.
        assert np.array_equal(z["attack/previous_params"], first["params"].astype(np.float64))


def test_poisonedfl_pushes_the_fixed_sign_vector(runs):
    one, _, _, _ = runs
    rows = one.history.to_pylist()
    attacked = [r for r in rows if r["malicious_clients"] and r["round"] > 1]
    assert attacked and all(r["malicious_norm_mean"] > 0 for r in attacked)
    assert not any(r.get("attack_skipped") for r in rows)
