"""The refused combinations, each with a message that says why and what to do."""

import subprocess
import sys

import pytest
import yaml

from fedray.scenario import ScenarioError, load_scenario
from tests.factories import tiny


def problems(**overrides) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tiny(**overrides))
    return str(info.value)


SECURE = {"protocol": "secagg", "clip": 1.0}


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            {"compression": {"type": "topk", "k": 10}, "secure_aggregation": SECURE},
            "compression.type: top-k lets each client choose its own coordinates, so masked "
            "vectors would not line up",
        ),
        (
            {"compression": {"type": "randomk", "k": 10}, "secure_aggregation": SECURE},
            "compression.shared: under secure aggregation every client must keep the same "
            "coordinates",
        ),
        (
            {"compression": {"type": "qsgd"}, "secure_aggregation": SECURE},
            "secure aggregation already quantizes every coordinate",
        ),
        (
            {
                "compression": {"type": "randomk", "k": 5, "shared": True, "error_feedback": True},
                "secure_aggregation": SECURE,
            },
            "compression.error_feedback: under secure aggregation the update leaves masked",
        ),
        ({"compression": {"type": "topk"}}, "give k (a count) or fraction"),
        ({"compression": {"type": "randomk", "k": 3, "fraction": 0.1}}, "exactly one"),
        ({"compression": {"type": "qsgd", "bits": 4, "levels": 9}}, "compression.levels: 4 bits"),
        ({"compression": {"error_feedback": True}}, "type none leaves nothing out"),
        (
            {"compression": {"downlink": {"type": "sign"}}, "client": {"vectorize": "on"}},
            "client.vectorize: with downlink compression each client starts from its own copy",
        ),
        ({"compression": {"type": "zip"}}, "compression.type: unknown name"),
        ({"compression": {"type": "topk", "k": 0}}, "compression.k: out of range"),
        ({"compression": {"type": "topk", "k": 2.5}}, "compression.k: wrong type"),
        ({"compression": {"type": "randomk", "fraction": 0}}, "compression.fraction: out of range"),
        ({"compression": {"type": "qsgd", "bucket": 0}}, "compression.bucket: out of range"),
        ({"compression": {"type": "sign", "k": 3}}, "compression.k: unknown key"),
        ({"compression": [1, 2]}, "compression: wrong type"),
        ({"compression": {"downlink": 5}}, "compression.downlink: wrong type"),
        ({"compression": {"type": "module:thing"}}, "compression.type: unknown name"),
        ({"compression": {"type": "topk", "fraction": 1.5}}, "compression.fraction: out of range"),
        ({"compression": {"downlink": {"type": "qsgd", "bits": 9}}}, "compression.downlink.bits"),
    ],
)
def test_refused_with_the_reason(overrides, expected):
    assert expected in problems(**overrides)


def test_every_problem_is_reported_at_once():
    text = problems(
        compression={"type": "topk", "error_feedback": "yes", "downlink": {"type": "x"}}
    )
    assert "compression.error_feedback: wrong type" in text
    assert "compression.downlink.type: unknown name" in text


def test_compression_composes_with_central_dp_and_a_robust_rule():
    s = load_scenario(
        tiny(
            compression={"type": "sign", "error_feedback": True},
            privacy={"mode": "central", "noise_multiplier": 1.0},
        )
    )
    assert s.compression.type == "sign" and s.privacy.mode == "central"
    s = load_scenario(tiny(compression={"type": "topk", "k": 5}, defense={"type": "median"}))
    assert s.defense.type == "median"


def test_random_k_with_a_shared_seed_passes_under_secure_aggregation():
    s = load_scenario(
        tiny(
            compression={"type": "randomk", "fraction": 0.1, "shared": True},
            secure_aggregation=SECURE,
        )
    )
    assert s.compression.params.shared


def test_cli_validate_exits_2_with_k_larger_than_the_model(tmp_path):
    # logreg on digits has 64 * 10 + 10 = 650 parameters: only the built model tells.
    path = tmp_path / "big_k.yaml"
    path.write_text(yaml.safe_dump(tiny(compression={"type": "topk", "k": 1000})))
    done = subprocess.run(
        [sys.executable, "-m", "fedray.cli", "validate", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "compression.k: sparsification keeps k=1000 coordinates of a model with d=650" in (
        done.stdout + done.stderr
    )
    assert "Traceback" not in done.stderr
