"""The adversary inside a run: which rows it rewrites, what it measures."""

import numpy as np
import pytest

from fedray.attacks import MODEL_ATTACKS, malicious_clients
from fedray.attacks.runtime import adversary, attack_batch, attack_metrics, poison_data
from fedray.data.federation import ClientData
from fedray.scenario import load_scenario
from fedray.types import UpdateBatch


def scenario(**attack):
    return load_scenario(
        {"federation": {"population": 20, "clients_per_round": 10}, "attack": attack}
    )


def cohort(ids, d=6, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.asarray(ids, np.int64)
    return UpdateBatch(
        ids, rng.standard_normal((len(ids), d)).astype(np.float32), np.full(len(ids), 5)
    )


def test_adversary_is_the_seeded_set():
    s = scenario(type="sign_flip", fraction=0.25)

    assert adversary(s).tolist() == malicious_clients(0, 20, 0.25).tolist()
    assert adversary(scenario()).size == 0


def test_alie_rewrites_only_malicious_rows_from_the_honest_ones():
    s = scenario(type="alie", count=3)
    bad = adversary(s)
    batch = cohort(sorted(set(range(8)) | set(bad.tolist())))
    is_bad = np.isin(batch.client_ids, bad)

    out, metrics = attack_batch(s, batch, bad, round_=1)

    assert np.array_equal(out.deltas[~is_bad], batch.deltas[~is_bad])
    rng = np.random.default_rng()  # ALIE is deterministic: the rng is not used
    expected = MODEL_ATTACKS["alie"].fn(
        batch.deltas[~is_bad], batch.deltas[is_bad], s.attack.params, rng
    )
    assert np.allclose(out.deltas[is_bad], expected)
    assert metrics["malicious_clients"] == int(is_bad.sum())


def test_boost_multiplies_malicious_rows_after_a_data_attack():
    s = scenario(type="backdoor", count=2, boost=5.0)
    bad = adversary(s)
    batch = cohort(sorted(set(bad.tolist()) | {c for c in range(6) if c not in bad}))
    is_bad = np.isin(batch.client_ids, bad)

    out, metrics = attack_batch(s, batch, bad, round_=1)

    assert np.allclose(out.deltas[is_bad], 5.0 * batch.deltas[is_bad])
    assert metrics["malicious_norm_mean"] > 0 and "honest_norm_mean" in metrics


def test_omniscient_attack_with_nobody_honest_sends_its_own_updates():
    s = scenario(type="ipm", count=2, epsilon=3.0)
    bad = adversary(s)
    batch = cohort(bad.tolist())

    out, _ = attack_batch(s, batch, bad, round_=1)

    assert np.array_equal(out.deltas, batch.deltas)


def test_schedule_spares_rounds_before_the_start():
    s = scenario(type="sign_flip", count=4, start_round=3)
    bad = adversary(s)
    batch = cohort(list(range(20)))

    early, _ = attack_batch(s, batch, bad, round_=2)
    late, _ = attack_batch(s, batch, bad, round_=3)

    assert np.array_equal(early.deltas, batch.deltas)
    assert not np.array_equal(late.deltas, batch.deltas)


def test_label_flip_poisons_training_labels_only():
    data = ClientData(
        np.zeros((4, 2), np.float32),
        np.array([0, 1, 2, 9]),
        np.zeros((1, 2), np.float32),
        np.array([3]),
    )

    out = poison_data(scenario(type="label_flip", count=1), data, 0, 1, 10, (2,))

    assert out.y_train.tolist() == [9, 8, 7, 0] and out.y_test.tolist() == [3]


@pytest.mark.parametrize(
    "attack, key",
    [
        ({"type": "backdoor", "count": 1, "target": 2}, "backdoor_success"),
        ({"type": "label_flip", "count": 1, "source": 1, "target": 7}, "target_accuracy"),
    ],
)
def test_attack_metrics_against_a_constant_predictor(attack, key):
    s = scenario(**attack)
    x = np.zeros((6, 64), np.float32)
    y = np.array([0, 1, 1, 2, 3, 1])

    got = attack_metrics(s, lambda xs: np.full(len(xs), 2), x, y, (64,))

    # backdoor: 5 test rows are not the target 2; all are predicted 2 -> success 1.0
    # label flip: the 3 rows of source class 1 are predicted 2 -> accuracy 0.0
    assert got == {key: 1.0 if key == "backdoor_success" else 0.0}


def test_an_attack_that_cannot_run_this_round_leaves_the_rows_and_says_so():
    s = scenario(type="alie", count=8)  # a cohort of 10 with 8 malicious: ALIE's z is undefined
    bad = adversary(s)
    honest = [c for c in range(20) if c not in bad][:2]
    batch = cohort(sorted(set(bad.tolist()) | set(honest)))

    out, metrics = attack_batch(s, batch, bad, round_=1)

    assert metrics["attack_skipped"] == 1.0 and "alie" in metrics["attack_error"].lower()
    assert np.array_equal(out.deltas, batch.deltas)
