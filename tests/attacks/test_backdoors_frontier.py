"""Neurotoxin's mask, DBA's trigger parts, the edge-case tail: against their definitions."""

import math

import numpy as np
import pytest

from fedray.attacks import frontier
from fedray.attacks.dba import DbaParams, dba, part_mask, stamp
from fedray.attacks.edge_case import EdgeCaseParams, edge_case, edge_test_mask, fit
from fedray.attacks.neurotoxin import keep_mask, project
from fedray.attacks.runtime import adversary, attack_batch, attack_metrics, poison_data
from fedray.attacks.view import AttackView
from fedray.data.federation import ClientData
from fedray.scenario import ScenarioError, load_scenario
from fedray.types import UpdateBatch


def test_neurotoxin_masks_the_top_fraction_of_the_previous_update():
    previous = np.array([0.1, -5.0, 0.3, 2.0, -0.2, 0.0, 1.0, 0.05, -0.4, 0.6])
    rows = np.ones((2, 10), np.float32)

    out = project(rows, previous, 0.25)  # ceil(2.5) = 3 coordinates: |-5|, |2|, |1|

    assert out[0].tolist() == [1, 0, 1, 0, 1, 1, 0, 1, 1, 1]
    assert np.array_equal(project(rows, None, 0.25), rows)  # round 1: nothing to mask
    assert keep_mask(previous, 10, 0.0).all()
    for k in (0.01, 0.1, 0.5):
        assert (~keep_mask(np.arange(200.0), 200, k)).sum() == math.ceil(k * 200)


@pytest.mark.parametrize("mode, masked", [("async", [0, 0, 1, 1]), ("none", [1, 1, 1, 1])])
def test_neurotoxin_projects_finished_rows_only_under_fedbuff(mode, masked):
    # Elsewhere its clients masked every local step already: the server leaves the rows.
    s = load_scenario(
        {
            "federation": {"population": 20, "clients_per_round": 10},
            "attack": {"type": "neurotoxin", "count": 3, "top_fraction": 0.5},
            "system": {"mode": mode},
        }
    )
    bad = adversary(s)
    ids = np.asarray(sorted(set(range(6)) | set(bad.tolist())), np.int64)
    batch = UpdateBatch(ids, np.ones((len(ids), 4), np.float32), np.full(len(ids), 5))
    previous = np.array([4.0, -3.0, 0.1, 0.2], np.float32)

    out, _ = attack_batch(s, batch, bad, 2, AttackView(2, previous=previous))

    is_bad = np.isin(ids, bad)
    assert np.all(out.deltas[is_bad] == masked) and np.all(out.deltas[~is_bad] == 1)


def test_dba_parts_split_the_global_trigger_and_match_the_documented_pixels():
    shape, p = (64,), DbaParams()
    parts = [part_mask(shape, p, k) for k in range(4)]

    union = np.logical_or.reduce(parts)
    assert sum(int(m.sum()) for m in parts) == int(union.sum()) == 8  # disjoint
    assert np.array_equal(union, part_mask(shape, p, None))
    assert sorted(map(tuple, np.argwhere(union).tolist())) == [
        (0, 0),
        (0, 1),
        (0, 3),
        (0, 4),
        (2, 0),
        (2, 1),
        (2, 3),
        (2, 4),
    ]


def test_dba_poisons_with_its_own_part_only():
    x, y = np.zeros((10, 64), np.float32), np.arange(10) % 10
    p = DbaParams(target=3, poison_fraction=0.4)

    px, py = dba(x, y, p, np.random.default_rng(0), (64,), part=2, num_classes=10)

    changed = np.flatnonzero((px != x).any(axis=1))
    assert len(changed) == 4 and np.all(py[changed] == 3)
    assert np.array_equal(np.flatnonzero(px[changed[0]]), np.flatnonzero(part_mask((64,), p, 2)))
    assert np.all(
        py[np.setdiff1d(np.arange(10), changed)] == y[np.setdiff1d(np.arange(10), changed)]
    )


def test_dba_part_is_the_rank_among_the_malicious_and_success_uses_the_full_trigger():
    s = load_scenario(
        {
            "federation": {"population": 20, "clients_per_round": 10},
            "attack": {"type": "dba", "count": 6, "parts": 4},
        }
    )
    bad = adversary(s)
    assert [frontier.dba_part(s, int(c)) for c in bad] == [0, 1, 2, 3, 4, 5]
    data = ClientData(np.zeros((6, 64), np.float32), np.arange(6) % 10, None, None)
    poisoned = poison_data(s, data, int(bad[5]), 1, 10, (64,))
    lit = np.flatnonzero((poisoned.x_train != 0).any(axis=0))
    assert np.array_equal(lit, np.flatnonzero(part_mask((64,), s.attack.params, 1)))  # 5 mod 4

    full = stamp(np.zeros((1, 64), np.float32), (64,), s.attack.params, None)

    def predict(xs):  # labels the target only when every part is present
        return np.where((xs[:, full[0] > 0] > 0).all(axis=1), 0, 5)

    x_test, y_test = np.zeros((8, 64), np.float32), np.arange(8) % 4
    assert attack_metrics(s, predict, x_test, y_test, (64,)) == {"backdoor_success": 1.0}


def test_dba_layout_that_does_not_fit_says_what_to_lower():
    with pytest.raises(ValueError, match="lower attack.parts, attack.length or attack.gap"):
        part_mask((64,), DbaParams(parts=4, length=5), None)


def blobs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3))
    x[:10] *= 6  # ten far-out points of class 0
    y = np.zeros(300, np.int64)
    y[200:] = 1
    return x.astype(np.float32), y


def test_edge_case_tail_is_the_lowest_density_share_of_the_source_class():
    x, y = blobs()
    p = EdgeCaseParams(source=0, target=1, tail=0.05)  # ceil(0.05 * 200) = 10 points

    edge = fit(x, y, p)

    assert len(edge.x) == 10
    assert sorted(map(bytes, edge.x)) == sorted(map(bytes, x[:10]))
    mask = edge_test_mask(edge, x, y, p)
    assert set(np.flatnonzero(mask)) == set(range(10))
    px, py = edge_case(x[200:205], y[200:205], p, None, (3,), edge=edge, num_classes=2)
    assert len(px) == 15 and np.all(py[5:] == 1) and np.array_equal(px[5:], edge.x)


@pytest.mark.parametrize("source, target", [(0, 0), (0, 9)])
def test_edge_case_classes_are_checked(source, target):
    x, y = blobs()
    with pytest.raises(ValueError, match="two different classes"):
        edge_case(
            x,
            y,
            EdgeCaseParams(source=source, target=target),
            None,
            (3,),
            edge=fit(x, y, EdgeCaseParams(source=0)),
            num_classes=2,
        )


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"secure_aggregation": {"protocol": "secagg"}}, "which secure aggregation hides"),
        ({"compression": {"type": "topk", "k": 5}}, "after the uplink codec would have run"),
    ],
)
def test_neurotoxin_under_fedbuff_refuses_what_it_cannot_compose_with(extra, says):
    # Synchronous rounds accept both: the clients mask every step before the codec and masks.
    load_scenario({"attack": {"type": "neurotoxin", "count": 2}, **extra})
    with pytest.raises(ScenarioError) as err:
        load_scenario(
            {"attack": {"type": "neurotoxin", "count": 2}, "system": {"mode": "async"}, **extra}
        )
    assert says in str(err.value)
