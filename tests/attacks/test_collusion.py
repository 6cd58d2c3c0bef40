"""Colluding attackers: their statistics come from exactly their own updates."""

import numpy as np
import pytest

from fedray.attacks import alie_z
from fedray.attacks.collusion import craft, craft_by_id, knowledge, statistics, upper_bound
from fedray.attacks.runtime import adversary, attack_batch
from fedray.scenario import load_scenario
from fedray.types import UpdateBatch
from tests.attacks.updates import cluster, sq_distances

SECAGG = {"protocol": "secagg"}


def scenario(secure=None, **attack):
    return load_scenario(
        {
            "federation": {"population": 20, "clients_per_round": 10},
            "attack": attack,
            "secure_aggregation": secure or {},
        }
    )


def batch_of(s, honest_seed=0):
    """A cohort of 10: the run's malicious clients plus honest ones, rows by client id."""
    bad = adversary(s)
    others = [c for c in range(20) if c not in set(bad.tolist())][: 10 - len(bad)]
    ids = np.array(sorted([*bad.tolist(), *others]), np.int64)
    rows = cluster(len(ids), 7, seed=honest_seed)
    is_bad = np.isin(ids, bad)
    rows[is_bad] = cluster(int(is_bad.sum()), 7, seed=99, centre=-0.3, spread=0.4)
    return UpdateBatch(ids, rows, np.full(len(ids), 5)), bad, is_bad


def test_knowledge_defaults_to_colluding_under_secure_aggregation_only():
    assert knowledge(scenario(type="alie", count=3)) == "omniscient"
    assert knowledge(scenario(SECAGG, type="alie", count=3)) == "colluding"
    assert knowledge(scenario(type="alie", count=3, knowledge="colluding")) == "colluding"
    bound = scenario(SECAGG, type="alie", count=3, knowledge="omniscient", allow_omniscient=True)
    assert upper_bound(bound) and not upper_bound(scenario(type="alie", count=3))


def test_statistics_are_the_rows_mean_std_and_largest_pairwise_distance():
    rows = cluster(5, 9, seed=4)

    stats = statistics(rows)

    r = rows.astype(np.float64)
    np.testing.assert_allclose(stats["mean"], r.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], r.std(axis=0), rtol=1e-12)
    assert stats["spread"] == pytest.approx(sq_distances(rows, rows).max(), rel=1e-9)
    assert statistics(rows[:1])["spread"] == 0.0


def test_colluding_alie_uses_exactly_the_malicious_rows_and_the_cohort_size():
    s = scenario(type="alie", count=4, knowledge="colluding")
    batch, bad, is_bad = batch_of(s)

    out, metrics = attack_batch(s, batch, bad, round_=1)

    own = batch.deltas[is_bad].astype(np.float64)  # the colluders' benign updates, by hand
    z = alie_z(10, 4)
    expected = (own.mean(axis=0) - z * own.std(axis=0)).astype(np.float32)
    np.testing.assert_allclose(out.deltas[is_bad], np.tile(expected, (4, 1)), rtol=1e-6)
    np.testing.assert_array_equal(out.deltas[~is_bad], batch.deltas[~is_bad])
    assert metrics["attack_reference_rows"] == 4


@pytest.mark.parametrize("attack", ["alie", "ipm", "min_max", "min_sum"])
def test_no_honest_row_changes_what_colluders_send(attack):
    s = scenario(type=attack, count=4, knowledge="colluding")
    a, bad, is_bad = batch_of(s, honest_seed=0)
    b, _, _ = batch_of(s, honest_seed=1)  # other honest rows, the same malicious ones
    assert not np.array_equal(a.deltas[~is_bad], b.deltas[~is_bad])

    out_a, _ = attack_batch(s, a, bad, round_=1)
    out_b, _ = attack_batch(s, b, bad, round_=1)

    np.testing.assert_array_equal(out_a.deltas[is_bad], out_b.deltas[is_bad])
    omniscient = scenario(type=attack, count=4)
    assert not np.array_equal(
        attack_batch(omniscient, a, bad, 1)[0].deltas[is_bad],
        attack_batch(omniscient, b, bad, 1)[0].deltas[is_bad],
    )


def test_colluding_min_max_stays_within_the_colluders_own_spread():
    s = scenario(type="min_max", count=4, knowledge="colluding")
    batch, bad, is_bad = batch_of(s)

    out, _ = attack_batch(s, batch, bad, round_=1)

    own = batch.deltas[is_bad]
    spread = sq_distances(own, own).max()
    to_own = sq_distances(out.deltas[is_bad][:1], own).max()
    assert to_own <= spread * (1 + 1e-6) and to_own > 0.9 * spread  # the largest step inside


@pytest.mark.parametrize("attack", ["alie", "ipm", "min_max", "sign_flip", "gaussian"])
def test_the_coordinator_crafts_what_the_plaintext_path_crafts(attack):
    s = scenario(SECAGG, type=attack, count=4)
    plain = scenario(type=attack, count=4, knowledge="colluding")
    batch, bad, is_bad = batch_of(s)
    own = {int(c): r for c, r in zip(batch.client_ids[is_bad], batch.deltas[is_bad])}

    crafted, metrics = craft_by_id(s, 1, own, {}, needs_reference=attack != "sign_flip")

    out, _ = attack_batch(plain, batch, bad, round_=1)
    for c, row in zip(batch.client_ids[is_bad], out.deltas[is_bad]):
        np.testing.assert_array_equal(crafted[int(c)], row)
    assert metrics["attack_reference_rows"] == 4 and "attack_upper_bound" not in metrics


def test_alie_with_a_malicious_majority_of_the_cohort_is_skipped_and_said():
    s = scenario(SECAGG, type="alie", count=4)
    rows = cluster(7, 3)

    out, metrics = craft(s, 1, rows, rows, needs_reference=True)  # 7 of a cohort of 10

    np.testing.assert_array_equal(out, rows)
    assert metrics["attack_skipped"] == 1.0 and "malicious minority" in metrics["attack_error"]


def test_no_finite_reference_row_leaves_the_rows_as_they_are():
    s = scenario(SECAGG, type="ipm", count=4)
    rows = np.full((2, 3), np.nan, np.float32)

    out, metrics = craft(s, 1, rows, rows, needs_reference=True)

    assert np.isnan(out).all() and metrics["attack_reference_rows"] == 0


def test_under_fedbuff_alie_takes_the_buffer_as_its_cohort():
    s = load_scenario(
        {
            "federation": {"population": 40, "clients_per_round": 10},
            "system": {"mode": "async", "fedbuff": {"concurrency": 30, "buffer": 20}},
            "attack": {"type": "alie", "count": 4},
            "secure_aggregation": SECAGG,
        }
    )
    rows = cluster(4, 5, seed=2)

    out, _ = craft(s, 1, rows, rows, needs_reference=True)

    r = rows.astype(np.float64)
    expected = r.mean(axis=0) - alie_z(20, 4) * r.std(axis=0)
    np.testing.assert_allclose(out, np.tile(expected, (4, 1)).astype(np.float32), rtol=1e-6)
