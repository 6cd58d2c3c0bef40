"""User code for the end-to-end tests, referenced as `tests.engine_plugins:NAME`."""

from torch import nn


def five_class_model(input_shape, num_classes):
    """A model whose head ignores the dataset's label count (a common user mistake)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))


def frozen_strategy(params, updates, num_examples, state, cfg):
    """A strategy that never moves the model: the test accuracy must stay constant."""
    return params, state, {"frozen": 1.0}
