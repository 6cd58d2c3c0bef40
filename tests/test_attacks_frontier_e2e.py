"""PoisonedFL through the engine: its memory across rounds is bitwise the same with 1 or 2
workers and after a resume from a checkpoint."""

import numpy as np
import pytest

import fedray
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

ATTACK = {"type": "poisonedfl", "count": 6, "scale": 3.0, "window": 1}


def scenario(**overrides):
    base = {"rounds": 3, "attack": ATTACK, "evaluation": {"federated_clients": 0}}
    return tiny(**{**base, **overrides})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, warm):
    """One worker straight through; two workers stopped after round 2, then resumed."""
    root = tmp_path_factory.mktemp("poisonedfl")
    one = fedray.run(scenario(resources__num_workers=1), out=root / "one", warm=warm)
    part = scenario(rounds=2, resources__num_workers=2, output__checkpoint_every=1)
    fedray.run(part, out=root / "part", warm=warm)
    resumed = fedray.run(None, ["rounds=3"], resume=root / "part", warm=warm)
    return one, resumed, root


def test_poisonedfl_resumed_on_two_workers_matches_one_worker_bit_for_bit(runs):
    one, resumed, _ = runs
    assert resumed.params.tobytes() == one.params.tobytes()
    assert resumed.history.column("round").to_pylist() == [1, 2, 3]
    assert (
        resumed.history.column("test_accuracy").to_pylist()
        == one.history.column("test_accuracy").to_pylist()
    )


def test_poisonedfl_state_is_checkpointed(runs):
    _, _, root = runs
    folder = root / "part" / "checkpoints"
    with np.load(folder / "round_0000001.npz") as first, np.load(folder / "round_0000002.npz") as z:
        assert {"attack/scale", "attack/previous_params", "attack/history"} <= set(z.files)
        # Round 2 started from round 1's model: that is the history it remembers.
        assert np.array_equal(z["attack/previous_params"], first["params"].astype(np.float64))


def test_poisonedfl_attacks_once_it_has_a_history(runs):
    one, _, _ = runs
    rows = one.history.to_pylist()
    attacked = [r for r in rows if r["malicious_clients"] and r["round"] > 1]
    assert attacked and all(r["malicious_norm_mean"] > 0 for r in attacked)
    assert not any(r.get("attack_skipped") for r in rows)
