"""Differential privacy through the engine: noise, the ledger, budgets and audits."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from fedray.privacy.accounting import epsilon
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

FAST = {"federated_clients": 0}


def test_central_dp_reports_the_accountants_epsilon_every_round(tmp_path, warm):
    scenario = tiny(
        rounds=3,
        privacy={"mode": "central", "noise_multiplier": 1.1, "clip": 0.5},
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    eps = result.history.column("privacy_epsilon").to_pylist()
    q = 6 / 20
    assert eps == pytest.approx([epsilon([(1.1, q, r)], delta=1e-5) for r in (1, 2, 3)])
    assert result.history.column("privacy_noise_multiplier").to_pylist() == [1.1] * 3
    clipped = result.history.column("privacy_clipped").to_pylist()
    unclipped = result.history.column("privacy_unclipped").to_pylist()
    assert [a + b for a, b in zip(clipped, unclipped)] == [6, 6, 6]


def test_central_dp_noise_moves_the_model_by_about_z_s_over_m(tmp_path, warm):
    base = tiny(rounds=1, evaluation=FAST, client={"lr": 1e-6, "epochs": 1, "batch_size": 16})
    quiet = fedray.run(base, out=tmp_path / "quiet", warm=warm)
    noisy = fedray.run(
        {**base, "privacy": {"mode": "central", "noise_multiplier": 2.0, "clip": 1.0}},
        out=tmp_path / "noisy",
        warm=warm,
    )

    # lr ~ 0: the updates are ~0, so the step is the noise alone, std z S / m per coordinate
    step = noisy.params.astype(np.float64) - quiet.params
    assert np.std(step) == pytest.approx(2.0 * 1.0 / 6, rel=0.1)


def test_target_epsilon_is_met_at_the_last_round(tmp_path, warm):
    scenario = tiny(
        rounds=4,
        privacy={"mode": "central", "target_epsilon": 5.0, "clip": 0.5},
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    eps = result.history.column("privacy_epsilon").to_pylist()
    assert 4.9 < eps[-1] <= 5.0
    assert eps == sorted(eps)


def test_budget_stops_the_run_before_it_is_exceeded(tmp_path, warm):
    scenario = tiny(
        rounds=6,
        privacy={"mode": "central", "noise_multiplier": 0.8, "budget": 8.0, "clip": 0.5},
        evaluation={"every": 10, "federated_clients": 0},
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    eps = result.history.column("privacy_epsilon").to_pylist()
    assert len(eps) == 4 and eps[-1] <= 8.0
    accuracy = result.history.column("test_accuracy").to_pylist()
    assert accuracy[-1] is not None and accuracy[0] is None  # the last model is evaluated
    assert epsilon([(0.8, 6 / 20, len(eps) + 1)], delta=1e-5) > 8.0
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["stopped_at_round"] == len(eps)
    assert "privacy budget" in summary["stop_reason"]
    assert summary["final_test_accuracy"] == accuracy[-1]


def test_budget_warns_and_goes_on_when_asked(tmp_path, warm):
    scenario = tiny(
        rounds=3,
        privacy={
            "mode": "central",
            "noise_multiplier": 0.8,
            "budget": 1.0,
            "on_budget": "warn",
            "clip": 0.5,
        },
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    assert result.history.num_rows == 3
    assert result.history.column("privacy_budget_exceeded").to_pylist()[-1] == 1.0


def test_adaptive_clipping_moves_the_bound(tmp_path, warm):
    scenario = tiny(
        rounds=4,
        privacy={
            "mode": "central",
            "noise_multiplier": 0.5,
            "clip": 100.0,
            "adaptive_clipping": {
                "enabled": True,
                "target_quantile": 0.5,
                "lr": 0.5,
                "count_noise": 1.0,
            },
        },
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    bounds = result.history.column("privacy_clip").to_pylist()
    assert bounds[-1] < 100.0 * 0.9  # far above every norm: every update unclipped, S shrinks
    assert bounds == sorted(bounds, reverse=True)


def test_local_dp_epsilon_grows_for_a_client_sampled_again(tmp_path, warm):
    scenario = tiny(
        rounds=3,
        federation={"population": 8, "clients_per_round": 8},
        privacy={"mode": "local", "noise_multiplier": 1.0, "clip": 1.0},
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    eps = result.history.column("privacy_epsilon_max").to_pylist()
    assert eps[0] < eps[1] < eps[2]  # the same clients every round: their budgets add up
    clients = pq.read_table(result.out_dir / "clients.parquet").to_pylist()
    assert all(c["dp_steps"] > 0 for c in clients if c["status"] == "trained")
    assert np.isfinite(result.params).all()


def distributed(rounds: int, threshold: int, masked_input_dropout: float, **overrides) -> dict:
    """Distributed DP (z = 1, S = 0.5) under SecAgg with dropouts before masking."""
    return tiny(
        rounds=rounds,
        secure_aggregation={
            "protocol": "secagg",
            "weighting": "uniform",
            "clip": 4.0,
            "threshold": threshold,
            "allow_insecure": True,  # low thresholds, to let dropouts thin the noise
            "dropout": {"masked_input": masked_input_dropout},
        },
        privacy={"mode": "distributed", "noise_multiplier": 1.0, "clip": 0.5},
        evaluation=FAST,
        **overrides,
    )


def test_distributed_dp_under_secagg_reports_the_noise_that_survived(tmp_path, warm):
    scenario = distributed(3, 3, 0.3, federation={"population": 20, "clients_per_round": 10})

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    h = result.history.to_pydict()
    assert h["secagg_buckets_aborted"] == [0, 0, 0]
    survivors = h["secagg_survivors"]
    assert h["privacy_noise_multiplier"] == pytest.approx([np.sqrt(s / 10) for s in survivors])
    assert min(survivors) < 10  # some dropped, so less noise protected that round
    history = [(np.sqrt(s / 10), 10 / 20, 1) for s in survivors]
    assert h["privacy_epsilon"][-1] == pytest.approx(epsilon(history, delta=1e-5))


def test_a_round_that_releases_nothing_costs_no_epsilon(tmp_path, warm):
    scenario = distributed(2, 6, 0.9)

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    h = result.history.to_pydict()
    assert h["secagg_buckets_aborted"] == [1, 1]
    assert h["privacy_epsilon"] == [0.0, 0.0]


def test_audits_report_membership_auc_and_inversion(tmp_path, warm):
    scenario = tiny(
        rounds=1,
        model={"type": "logreg"},
        privacy={"audit": {"membership": True, "inversion": True, "inversion_steps": 5}},
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    row = result.history.to_pylist()[-1]
    assert 0.0 <= row["audit_membership_auc"] <= 1.0
    assert row["audit_inversion_available"] == 1.0
    assert row["audit_inversion_ratio"] >= 0.0


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (
            {
                "model": {"type": "tests.engine_plugins:batchnorm_model"},
                "privacy": {"mode": "local", "noise_multiplier": 1.0},
            },
            "BatchNorm",
        ),
        (
            {"privacy": {"mode": "central", "target_epsilon": 1e-4}},
            "privacy:",
        ),
        (
            {
                "privacy": {
                    "mode": "central",
                    "noise_multiplier": 1.5,
                    "adaptive_clipping": {"enabled": True},
                }
            },
            "count_noise_std",
        ),
        (
            {
                "privacy": {"mode": "distributed", "noise_multiplier": 2.0},
                "secure_aggregation": {"protocol": "secagg", "weighting": "uniform"},
            },
            "cut off the clients' noise",
        ),
    ],
)
def test_prepare_refuses_what_privacy_cannot_run(overrides, needle):
    from fedray.api import prepare
    from fedray.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError) as info:
        prepare(load_scenario(tiny(**overrides)))

    assert needle in str(info.value)


def test_local_target_epsilon_lets_the_run_finish_within_it(tmp_path, warm):
    scenario = tiny(
        rounds=4,
        privacy={"mode": "local", "target_epsilon": 5.0, "clip": 1.0},
        evaluation=FAST,
    )

    result = fedray.run(scenario, out=tmp_path / "run", warm=warm)

    assert result.history.num_rows == 4  # calibrated for the client that spends the most
    assert result.history.column("privacy_epsilon_max").to_pylist()[-1] <= 5.0


def test_resume_refuses_to_recalibrate_a_target_epsilon_run(tmp_path):
    from fedray.api import _resolve
    from fedray.scenario import ScenarioError, load_scenario, to_yaml

    scenario = load_scenario(tiny(privacy={"mode": "central", "target_epsilon": 5.0}))
    (tmp_path / "scenario.yaml").write_text(to_yaml(scenario))

    with pytest.raises(ScenarioError) as info:
        _resolve(None, ["rounds=6"], None, tmp_path)

    assert "recalibrate" in str(info.value)
    assert _resolve(None, ["rounds=3"], None, tmp_path)[0].rounds == 3


def test_prepare_refuses_a_max_weight_that_leaves_updates_a_few_bits():
    from fedray.api import prepare
    from fedray.scenario import ScenarioError, load_scenario

    scenario = tiny(secure_aggregation={"protocol": "secagg", "max_weight": 10**8})
    with pytest.raises(ScenarioError) as info:
        prepare(load_scenario(scenario))

    assert "secure_aggregation.max_weight" in str(info.value)
