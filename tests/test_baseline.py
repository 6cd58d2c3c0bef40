"""The centralized baseline: trained without torch.optim, yet to the bit as `fit` trains it,
and in a background thread that hands back its curve or its error."""

import numpy as np
import pytest
import torch

from fedray import seeding
from fedray.baseline import Baseline, centralized_curve, pooled_fit
from fedray.client.train import fit
from fedray.models import build_model, flatten
from fedray.scenario import load_scenario
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "client",
    [
        {"optimizer": "sgd", "lr": 0.1},
        {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
        {"optimizer": "adam", "lr": 0.01, "weight_decay": 1e-4},
    ],
)
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_pooled_fit_is_fit_to_the_bit(client, model):
    scenario = load_scenario(
        {"client": {"epochs": 2, "batch_size": 7, **client}, "model": {"type": model}}
    )
    cfg, params = scenario.client, scenario.model.params
    torch.manual_seed(0)
    shape = (1, 8, 8) if model == "cnn" else (64,)
    one, two = build_model(model, params, shape, 10), build_model(model, params, shape, 10)
    two.load_state_dict(one.state_dict())
    gen = np.random.default_rng(1)
    x = torch.as_tensor(gen.random((45, *shape), np.float32))
    y = torch.as_tensor(gen.integers(0, 10, 45))

    fit(one, x, y, cfg, seeding.torch_generator(0, 1, 0, seeding.BASELINE))
    pooled_fit(two, x, y, cfg, seeding.torch_generator(0, 1, 0, seeding.BASELINE))

    np.testing.assert_array_equal(flatten(one), flatten(two))


def tiny():
    return load_scenario(
        ROOT / "scenarios" / "quickstart.yaml",
        {"rounds": 3, "federation.population": 20, "client.epochs": 1},
    )


def test_the_thread_gives_the_curve_computed_in_place():
    from fedray.prepare import prepare

    scenario = tiny()
    prepared = prepare(scenario)

    threaded = Baseline(scenario, prepared.initial_params, prepared.federation).result()
    here = Baseline(scenario, prepared.initial_params, prepared.federation, background=False)
    assert here.result() == threaded  # resources.backend: local trains it in the caller

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the thread trains it: resources.num_cpus
    try:
        assert threaded == centralized_curve(scenario, prepared.initial_params)
    finally:
        torch.set_num_threads(threads)
    assert [row["round"] for row in threaded] == [1, 2, 3]


def test_the_threads_error_reaches_the_caller():
    scenario = tiny()

    with pytest.raises(RuntimeError, match="invalid for input of size 3"):
        Baseline(scenario, np.zeros(3, np.float32)).result()  # parameters of the wrong size


def test_a_cancelled_baseline_stops_early():
    from fedray.prepare import prepare

    scenario = load_scenario(
        ROOT / "scenarios" / "quickstart.yaml", {"rounds": 200, "federation.population": 20}
    )
    prepared = prepare(scenario)
    baseline = Baseline(scenario, prepared.initial_params, prepared.federation)

    baseline.cancel()

    assert len(baseline.result()) < 200
