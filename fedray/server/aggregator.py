"""The Aggregator: a Ray actor that owns the server state and evaluates the global model.

Update batches reach it as Ray object references, straight from the workers; the driver
only sees the small metrics it returns.
"""

from __future__ import annotations

import numpy as np
import torch

from fedray.client.train import evaluate
from fedray.data import central_test_set
from fedray.models import build_model, unflatten
from fedray.server.state import ServerState, server_round
from fedray.types import UpdateBatch


class Aggregator:
    def __init__(self, scenario: dict, state: ServerState):
        from fedray.scenario import load_scenario

        self.scenario = load_scenario(scenario)
        self.state = state
        # Built now, at actor start-up, so no round pays for loading the test split.
        torch.set_num_threads(1)
        self._test = central_test_set(self.scenario)
        x, _, num_classes = self._test
        m = self.scenario.model
        self._model = build_model(m.type, m.params, tuple(x.shape[1:]), num_classes)

    def step(self, round_: int, *batches: UpdateBatch) -> dict:
        """Aggregate round `round_`'s update batches into the global parameters."""
        if round_ != self.state.round + 1:
            raise RuntimeError(
                f"aggregator is at round {self.state.round}; asked to apply round {round_}"
            )
        batch = (
            UpdateBatch.concat(list(batches))
            if batches
            else UpdateBatch(
                np.zeros(0, np.int64),
                np.zeros((0, len(self.state.params)), np.float32),
                np.zeros(0, np.int64),
            )
        )
        self.state, metrics = server_round(self.state, batch, self.scenario.strategy)
        return metrics

    def params(self) -> np.ndarray:
        return self.state.params

    def server_state(self) -> ServerState:
        return self.state

    def evaluate(self) -> dict:
        """Accuracy and loss of the global model on the central test split."""
        x, y, _ = self._test
        unflatten(self._model, self.state.params)
        acc, loss, n = evaluate(
            self._model, x, y, self.scenario.evaluation.batch_size, torch.device("cpu")
        )
        return {"test_accuracy": acc, "test_loss": loss, "test_examples": n}
