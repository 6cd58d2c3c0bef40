"""Which TensorBoard groups and Custom Scalars charts a scenario gets (no Ray)."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedray.metrics.dashboard import FEATURE_GROUPS, hidden_groups, layout
from fedray.metrics.tensorboard import TensorBoardSink, tag
from fedray.scenario import load_scenario
from tests.factories import tiny

ATTACK = {"type": "sign_flip", "fraction": 0.3}
SECAGG = {"protocol": "secagg"}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("test_accuracy", "test/accuracy"),
        ("update_norm_mean", "train/norm_mean"),
        ("fed_accuracy_p10", "federated_eval/accuracy_p10"),
        ("clients_empty", "clients/empty"),
        ("rejected_empty", "clients/rejected_empty"),
        ("honest_norm_mean", "attack/honest_norm_mean"),
        ("malicious_norm_mean", "attack/malicious_norm_mean"),
        ("privacy_epsilon", "privacy/epsilon"),
        ("audit_membership_auc", "audit/membership_auc"),
        ("wall_seconds", "system/wall_seconds"),
    ],
)
def test_tag_groups_metrics_by_prefix(name, expected):
    assert tag(name) == expected


@pytest.mark.parametrize(
    "overrides, shown",
    [
        ({}, {"federated_eval"}),
        ({"evaluation": {"federated_clients": 0}}, set()),
        ({"attack": ATTACK}, {"attack", "federated_eval"}),
        ({"attack": {"type": "none", "fraction": 0.3}}, {"federated_eval"}),
        ({"secure_aggregation": SECAGG}, {"secure_aggregation", "federated_eval"}),
        ({"privacy": {"mode": "central", "noise_multiplier": 1.0}}, {"privacy", "federated_eval"}),
        ({"privacy": {"audit": {"membership": True}}}, {"audit", "federated_eval"}),
    ],
)
def test_feature_groups_follow_the_scenario(overrides, shown):
    scenario = load_scenario(tiny(**overrides))

    assert set(FEATURE_GROUPS) - hidden_groups(scenario) == shown


def test_layout_charts_only_the_features_that_are_on():
    plain = layout(load_scenario(tiny(evaluation={"federated_clients": 0})))
    private = layout(
        load_scenario(tiny(privacy={"mode": "local", "noise_multiplier": 1.0}, attack=ATTACK))
    )

    assert list(plain) == ["accuracy", "update norms"]
    assert plain["accuracy"] == {"test accuracy": ["Multiline", ["^test/accuracy$"]]}
    assert list(private) == ["accuracy", "update norms", "privacy: epsilon against accuracy"]
    assert private["privacy: epsilon against accuracy"]["epsilon spent"][1] == [
        "^privacy/epsilon$",
        "^privacy/epsilon_median$",
    ]
    assert private["accuracy"] == {
        "test accuracy; worst-10% client accuracy": [
            "Multiline",
            ["^test/accuracy$", "^federated_eval/accuracy_p10$"],
        ]
    }
    (norms,) = private["update norms"].values()
    assert norms[1] == ["^attack/honest_norm_mean$", "^attack/malicious_norm_mean$"]


def test_layout_under_secure_aggregation_charts_client_norms_and_backdoor_success():
    attack = {"type": "backdoor", "fraction": 0.3, "target": 0}
    charts = layout(load_scenario(tiny(attack=attack, secure_aggregation=SECAGG)))

    (norms,) = charts["update norms"].values()
    assert norms[1] == ["^train/norm_mean$", "^train/norm_max$"]
    assert charts["attack"]["attack success"][1] == ["^attack/backdoor_success$", "^test/accuracy$"]


def test_sink_leaves_hidden_groups_out_of_scalars_and_histograms(tmp_path):
    sink = TensorBoardSink(str(tmp_path), hide={"attack", "federated_eval"})

    sink.write(
        1,
        {"round": 1, "test_accuracy": 0.5, "malicious_clients": 0, "note": "text"},
        {"federated_eval/client_accuracy": [0.1, 0.2], "clients/update_norm": [1.0, 2.0]},
    )
    sink.close()

    events = EventAccumulator(str(tmp_path)).Reload()
    assert events.Tags()["scalars"] == ["test/accuracy"]
    assert events.Tags()["histograms"] == ["clients/update_norm"]


@pytest.mark.parametrize(
    "attack, charted",
    [
        ({"type": "label_flip", "fraction": 0.3, "source": 1, "target": 7}, True),
        ({"type": "label_flip", "fraction": 0.3}, False),
        (ATTACK, False),
    ],
)
def test_attack_success_is_charted_when_the_attack_measures_it(attack, charted):
    charts = layout(load_scenario(tiny(attack=attack)))

    assert ("attack" in charts) == charted
