"""What a user sees in TensorBoard, read back from the event files two small runs write."""

import re

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2

import fedray
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

FEATURE_GROUPS = ("attack/", "secure_aggregation/", "privacy/", "audit/")


@pytest.fixture(scope="module")
def plain(ray_cluster, tmp_path_factory, warm):
    """Three rounds of FedAvg with federated eval and the centralized baseline."""
    scenario = tiny(evaluation__centralized_baseline=True)
    return (
        fedray.run(scenario, out=tmp_path_factory.mktemp("tb") / "plain", warm=warm).out_dir
        / "tensorboard"
    )


@pytest.fixture(scope="module")
def attacked(ray_cluster, tmp_path_factory, warm):
    """Two rounds under a sign-flip attack and central DP, federated eval off."""
    scenario = tiny(
        rounds=2,
        attack={"type": "sign_flip", "fraction": 0.3},
        privacy={"mode": "central", "noise_multiplier": 1.0, "clip": 0.5},
        evaluation={"federated_clients": 0},
    )
    return (
        fedray.run(scenario, out=tmp_path_factory.mktemp("tb") / "attacked", warm=warm).out_dir
        / "tensorboard"
    )


def load(run_dir):
    return EventAccumulator(str(run_dir), size_guidance={"tensors": 0}).Reload()


def charts(run_dir) -> dict:
    """{category: {chart title: [tag regex, ...]}} from the run's Custom Scalars layout."""
    (event,) = load(run_dir).Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])
    return {
        c.title: {chart.title: list(chart.multiline.tag) for chart in c.chart}
        for c in layout.category
    }


def test_runs_are_named_federated_and_baseline(plain):
    assert sorted(p.name for p in plain.iterdir()) == ["baseline", "federated"]
    assert not list(plain.glob("events.out.tfevents.*"))  # nothing left as the run "."


def test_plain_run_has_the_curves_a_user_looks_for_and_no_feature_groups(plain):
    events = load(plain / "federated")

    scalars = set(events.Tags()["scalars"])
    for tag in (
        "test/accuracy",
        "test/loss",
        "train/loss",
        "train/norm_mean",
        "system/wall_seconds",
        "clients/trained",
        "clients/rejected_nonfinite",
        "federated_eval/accuracy_p10",
    ):
        assert tag in scalars, tag
    assert [e.step for e in events.Scalars("test/accuracy")] == [1, 2, 3]
    assert [t for t in scalars if t.startswith(FEATURE_GROUPS)] == []
    assert "federated_eval/client_accuracy" in events.Tags()["histograms"]
    assert any("scenario" in t for t in events.Tags()["tensors"])
    assert set(load(plain / "baseline").Tags()["scalars"]) == {"test/accuracy", "test/loss"}


def test_attacked_private_run_writes_its_groups_and_leaves_federated_eval_out(attacked):
    events = load(attacked / "federated")

    scalars = set(events.Tags()["scalars"])
    for tag in (
        "attack/malicious_clients",
        "attack/honest_norm_mean",
        "attack/malicious_norm_mean",
        "privacy/epsilon",
    ):
        assert tag in scalars, tag
    assert not [t for t in scalars if t.startswith(("federated_eval/", "secure_aggregation/"))]
    assert "federated_eval/client_accuracy" not in events.Tags()["histograms"]


@pytest.mark.parametrize(
    "run, categories",
    [
        ("plain", ["accuracy", "update norms"]),
        ("attacked", ["accuracy", "update norms", "privacy: epsilon against accuracy"]),
    ],
)
def test_custom_scalars_charts_draw_tags_that_exist(run, categories, request):
    run_dir = request.getfixturevalue(run)
    layout = charts(run_dir / "federated")
    tags = {t for d in run_dir.iterdir() for t in load(d).Tags()["scalars"]}

    assert list(layout) == categories
    for category in layout.values():
        for title, regexes in category.items():
            for regex in regexes:
                assert any(re.search(regex, t) for t in tags), (title, regex)
    (accuracy,) = layout["accuracy"].values()
    assert len(accuracy) == (2 if run == "plain" else 1)  # worst-10% only with federated eval
    (norms,) = layout["update norms"].values()
    assert any("malicious" in r for r in norms) == (run == "attacked")
