"""What local training must do, read from the scenario and the strategy's hook, not its name."""

import pytest

from fedray.client.plan import ClientPlan, client_plan
from fedray.scenario import load_scenario


@pytest.mark.parametrize(
    "strategy, client, expected",
    [
        ({"name": "fedavg"}, {}, ClientPlan()),
        ({"name": "fedavg"}, {"proximal_mu": 0.3}, ClientPlan(proximal_mu=0.3)),
        ({"name": "fedprox", "mu": 0.05}, {}, ClientPlan(proximal_mu=0.05)),
        ({"name": "scaffold"}, {}, ClientPlan(control_variates=True)),
        ({"name": "qffl"}, {}, ClientPlan(initial_loss=True)),
        (
            {"name": "tests.engine_plugins:proximal_strategy", "mu": 0.2},
            {},
            ClientPlan(proximal_mu=0.2),
        ),
    ],
)
def test_plan_follows_the_strategy_hook(strategy, client, expected):
    plan = client_plan(load_scenario({"strategy": strategy, "client": client}))

    assert plan == expected
