"""Centralized baseline: the same model and optimizer trained on the pooled client data.

Logged beside the federated curve so a user sees the price of federation. One baseline
"round" is `client.epochs` epochs over all clients' training data, evaluated on the same
central test split at the same rounds.
"""

from __future__ import annotations

import numpy as np
import torch

from fedray import seeding
from fedray.client.train import evaluate, fit
from fedray.data import build_federation
from fedray.models import build_model, unflatten


def centralized_curve(scenario, initial_params: np.ndarray) -> list[dict]:
    """Return `[{round, baseline_test_accuracy, baseline_test_loss}]` for the evaluated rounds."""
    torch.set_num_threads(max(1, int(scenario.resources.num_cpus)))
    federation = build_federation(scenario)
    x, y = federation.pooled_train()
    x_test, y_test = federation.central_test()
    model = build_model(
        scenario.model.type, scenario.model.params, federation.input_shape, federation.num_classes
    )
    unflatten(model, initial_params)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    curve = []
    for r in range(1, scenario.rounds + 1):
        fit(
            model,
            xt,
            yt,
            scenario.client,
            seeding.torch_generator(scenario.seed, r, 0, seeding.BASELINE),
        )
        if r % scenario.evaluation.every == 0 or r == scenario.rounds:
            acc, loss, _ = evaluate(
                model, x_test, y_test, scenario.evaluation.batch_size, torch.device("cpu")
            )
            curve.append({"round": r, "baseline_test_accuracy": acc, "baseline_test_loss": loss})
    return curve
