"""The adaptive-attack hook: user code that queries the defense in place."""

import numpy as np
import pytest

from fedray.attacks.adaptive import run_plugin, signature_problem, trial
from fedray.attacks.runtime import adversary, attack_batch
from fedray.attacks.view import AttackView, mean_defense
from fedray.registry import load_plugin
from fedray.scenario import ScenarioError, load_scenario
from fedray.types import UpdateBatch
from tests.attacks import frontier_plugins as plugins
from tests.attacks.updates import cluster

PLUGINS = "tests.attacks.frontier_plugins"


def test_a_plugin_queries_the_bound_defense_and_its_rows_replace_the_malicious_ones():
    s = load_scenario(
        {
            "federation": {"population": 20, "clients_per_round": 10},
            "attack": {"type": f"{PLUGINS}:push_until_it_moves", "count": 3},
        }
    )
    bad = adversary(s)
    ids = np.asarray(sorted(set(range(7)) | set(bad.tolist())), np.int64)
    rng = np.random.default_rng(0)
    batch = UpdateBatch(
        ids, (0.5 + rng.standard_normal((len(ids), 4))).astype(np.float32), np.full(len(ids), 5)
    )
    seen = []

    def defense(rows, weights=None):
        seen.append(rows.shape)
        return mean_defense(rows, weights)

    out, metrics = attack_batch(s, batch, bad, 1, AttackView(defense=defense))

    is_bad = np.isin(ids, bad)
    honest = batch.deltas[~is_bad]
    assert len(seen) == 5 and all(shape == (len(ids), 4) for shape in seen)
    np.testing.assert_allclose(
        out.deltas[is_bad], np.repeat(-8 * honest.mean(0)[None], 3, 0), rtol=1e-6
    )
    assert np.array_equal(out.deltas[~is_bad], honest) and "attack_skipped" not in metrics


def test_a_four_argument_plugin_is_called_without_the_defense():
    own = cluster(2, 3)
    out = run_plugin("x", plugins.four_arguments, cluster(4, 3), own, {}, None, mean_defense)
    assert np.array_equal(out, own * 0)


def test_a_plugin_returning_the_wrong_rows_says_what_was_expected():
    with pytest.raises(ValueError, match=r"returned shape \(1, 3\); expected \(2, 3\)"):
        run_plugin("x", plugins.wrong_rows, cluster(4, 3), cluster(2, 3), {}, None, mean_defense)
    with pytest.raises(ValueError, match="returned shape"):
        trial("x", plugins.wrong_rows, {})


@pytest.mark.parametrize(
    "name, says",
    [("needs_five", "cannot be called with"), ("NOT_A_FUNCTION", "not a function")],
)
def test_signature_problems_are_named(name, says):
    assert says in signature_problem(name, load_plugin(f"{PLUGINS}:{name}"))


@pytest.mark.parametrize(
    "attack_type, says",
    [
        (f"{PLUGINS}:needs_five", "attack.type: tests.attacks.frontier_plugins:needs_five cannot"),
        (f"{PLUGINS}:NOT_A_FUNCTION", "not a function"),
        ("tests.attacks.no_such_module:fn", "cannot import module"),
    ],
)
def test_bad_plugins_fail_validation_with_one_line(attack_type, says):
    with pytest.raises(ScenarioError) as err:
        load_scenario({"attack": {"type": attack_type, "count": 1}})
    assert says in str(err.value)
