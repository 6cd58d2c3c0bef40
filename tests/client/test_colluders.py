"""A worker's share of the colluding adversary: what it holds back and what it hands over."""

import numpy as np
import pytest

from fedray.attacks.runtime import adversary
from fedray.client.colluders import Colluders, attacking
from fedray.scenario import load_scenario
from tests.scenario.test_load import problems_of

SECAGG = {"protocol": "secagg"}


def scenario(secure=SECAGG, **attack):
    return load_scenario(
        {
            "federation": {"population": 20, "clients_per_round": 10},
            "attack": {"type": "alie", "fraction": 0.3, **attack},
            "secure_aggregation": secure,
        }
    )


def hold_all(colluders, round_, ids):
    rows = {c: np.full(4, float(c), np.float32) for c in ids}
    held = {c for c in ids if colluders.hold(round_, c, rows[c], 10 + c)}
    return rows, held


def test_only_malicious_updates_are_held_and_handed_over():
    s = scenario()
    bad = set(adversary(s).tolist())
    colluders = Colluders(s, bad)

    rows, held = hold_all(colluders, 1, range(20))

    assert held == bad
    handed = colluders.rows(1)
    assert set(handed["own"]) == bad and handed["honest"] == {}
    for c, row in handed["own"].items():
        np.testing.assert_array_equal(row, rows[c])


def test_release_gives_the_crafted_rows_in_id_order_and_forgets_them():
    s = scenario()
    bad = sorted(adversary(s).tolist())
    colluders = Colluders(s, set(bad))
    rows, _ = hold_all(colluders, 1, range(20))
    crafted = {c: np.full(4, -1.0, np.float32) for c in bad[1:]}  # none for bad[0]

    out = colluders.release(1, crafted)

    assert [c for c, _, _ in out] == bad
    np.testing.assert_array_equal(out[0][1], rows[bad[0]])  # nothing came: its own update
    assert all((r == -1).all() for _, r, _ in out[1:]) and out[0][2] == 10 + bad[0]
    assert colluders.release(1, crafted) == [] and colluders.release(2, crafted) == []


def test_an_omniscient_upper_bound_also_hands_over_honest_copies():
    s = scenario(knowledge="omniscient", allow_omniscient=True)
    bad = set(adversary(s).tolist())
    colluders = Colluders(s, bad)

    hold_all(colluders, 1, range(20))

    assert set(colluders.rows(1)["honest"]) == set(range(20)) - bad


@pytest.mark.parametrize(
    "secure, attack, expected",
    [
        ({}, {}, False),  # plaintext: the Aggregator crafts
        (SECAGG, {}, True),
        (SECAGG, {"type": "label_flip"}, False),  # a data attack trains on poisoned data
        (SECAGG, {"start_round": 2}, False),
    ],
)
def test_the_colluders_act_on_attacked_secure_rounds_of_model_attacks(secure, attack, expected):
    s = scenario(secure, **attack)

    assert attacking(s, 1) is expected
    colluders = Colluders(s, set(adversary(s).tolist()))
    assert bool(hold_all(colluders, 1, range(20))[1]) is expected


def test_an_unknown_knowledge_is_refused_with_the_choices():
    problems = problems_of({"attack": {"type": "ipm", "fraction": 0.2, "knowledge": "psychic"}})

    assert any(
        p.startswith("attack.knowledge") and "'colluding'" in p and "'psychic'" in p
        for p in problems
    ), problems
