"""PoisonedFL: the fixed sign vector, the magnitude rule, the scale's decay, its checkpoint."""

import numpy as np
import pytest

from fedray import checkpoint
from fedray.attacks.poisonedfl import (
    PoisonedFLParams,
    aligned_needed,
    observe,
    poisonedfl,
    sign_vector,
)
from fedray.attacks.view import AttackView
from fedray.server.state import ServerState
from tests.attacks.updates import cluster


def test_the_sign_vector_is_fixed_by_the_seed():
    s = sign_vector(5, 1000)

    assert np.array_equal(s, sign_vector(5, 1000)) and set(np.unique(s)) == {-1.0, 1.0}
    assert not np.array_equal(s, sign_vector(6, 1000))
    assert abs(s.mean()) < 0.1


def test_round_one_sends_the_colluders_own_updates():
    own = cluster(3, 8)
    state = observe({}, np.zeros(8, np.float32), 1, PoisonedFLParams(), 0)

    out = poisonedfl(
        cluster(4, 8), own, PoisonedFLParams(), None, view=AttackView(1, 0, state=state)
    )

    assert np.array_equal(out, own)


def test_crafted_row_follows_the_papers_magnitude_rule():
    p, d = PoisonedFLParams(scale=3.0), 6
    w0 = np.zeros(d, np.float32)
    w1 = np.array([0.5, -1.0, 0.2, 0.0, 2.0, -0.3], np.float32)
    last = np.array([1.0, 1.0, -1.0, 1.0, -1.0, 1.0])
    state = observe(observe({}, w0, 1, p, 9), w1, 2, p, 9)
    state = {**state, "last_malicious": last}

    out = poisonedfl(cluster(2, d), cluster(2, d), p, None, view=AttackView(2, 9, state=state))

    g = w1.astype(np.float64)
    v = np.abs(g - last * np.linalg.norm(g) / np.linalg.norm(last))
    expected = 3.0 * np.linalg.norm(g) * v / np.linalg.norm(v) * sign_vector(9, d)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    assert np.all(out == out[0])


def test_scale_decays_after_a_window_that_did_not_follow_the_sign_vector():
    p, d, seed = PoisonedFLParams(scale=2.0, decay=0.5, floor=0.6, window=2), 400, 1
    s = sign_vector(seed, d)
    state = observe({}, np.zeros(d), 1, p, seed)
    against = observe(state, -s, 3, p, seed)  # moved against s on every coordinate
    along = observe(state, s, 3, p, seed)
    early = observe(state, -s, 2, p, seed)  # window not over yet
    floored = observe({**against, "window_round": np.int64(3)}, -2 * s, 5, p, seed)

    assert float(against["scale"]) == 1.0 and float(along["scale"]) == 2.0
    assert float(early["scale"]) == 2.0
    assert float(floored["scale"]) == 1.0  # 0.5 would pass below the floor 0.6


def test_k99_is_the_binomial_quantile():
    d = 10_000
    assert abs(aligned_needed(d) - (d / 2 + 2.3263 * np.sqrt(d) / 2)) <= 2


def test_the_state_survives_a_checkpoint_bit_for_bit(tmp_path):
    p = PoisonedFLParams()
    state = observe(observe({}, np.zeros(5, np.float32), 1, p, 0), np.ones(5, np.float32), 2, p, 0)
    state = {**state, "last_malicious": np.linspace(-1, 1, 5)}

    path = checkpoint.save(tmp_path, ServerState(2, np.ones(5, np.float32), attack_state=state))
    back = checkpoint.load(path).attack_state

    assert set(back) == set(state)
    for key, value in state.items():
        assert np.asarray(value).tobytes() == back[key].tobytes(), key


@pytest.mark.parametrize("bad", [{"decay": 1.0}, {"scale": 0.0}, {"window": 0}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError, match="attack"):
        poisonedfl(cluster(2, 3), cluster(1, 3), PoisonedFLParams(**bad), None)
