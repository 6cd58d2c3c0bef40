"""The adversary through the engine: fixed set, data poisoning, model attacks, measurements."""

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from fedray.attacks import malicious_clients
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]


def test_sign_flip_marks_the_fixed_malicious_set_and_reports_norms(tmp_path, warm):
    scenario = tiny(
        rounds=2,
        attack={"type": "sign_flip", "fraction": 0.3, "scale": 4.0},
        evaluation={"federated_clients": 0},
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    clients = pq.read_table(result.out_dir / "clients.parquet").to_pylist()
    expected = set(malicious_clients(3, 20, 0.3).tolist())
    assert {c["client_id"] for c in clients if c["malicious"]} == {
        c["client_id"] for c in clients if c["client_id"] in expected
    }
    rows = result.history.to_pylist()
    assert sum(r["malicious_clients"] for r in rows) == sum(c["malicious"] for c in clients) > 0
    with_both = [r for r in rows if r.get("malicious_norm_mean") and r.get("honest_norm_mean")]
    assert with_both and all(r["malicious_norm_mean"] > r["honest_norm_mean"] for r in with_both)


def test_boosted_backdoor_plants_its_trigger_and_is_measured(tmp_path, warm):
    attack = {
        "type": "backdoor",
        "count": 6,
        "target": 0,
        "poison_fraction": 0.8,
        "size": 3,
        "boost": 3.0,
    }
    scenario = tiny(
        rounds=6,
        attack=attack,
        federation={"population": 20, "clients_per_round": 10},
        client={"epochs": 3, "batch_size": 8, "lr": 0.2},
        evaluation={"federated_clients": 0},
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    success = result.history.column("backdoor_success").to_pylist()
    assert all(0.0 <= s <= 1.0 for s in success)
    assert result.summary["final_backdoor_success"] == success[-1] > 0.3  # chance is 0.1


def test_targeted_label_flip_reports_the_source_class_accuracy(tmp_path, warm):
    attack = {"type": "label_flip", "fraction": 0.5, "source": 1, "target": 7}
    result = fedray.run(
        tiny(rounds=2, attack=attack, evaluation={"federated_clients": 0}),
        out=tmp_path / "run",
        warm=warm,
    )

    accuracy = result.history.column("target_accuracy").to_pylist()
    assert all(0.0 <= a <= 1.0 for a in accuracy)
    assert np.isfinite(result.params).all()
