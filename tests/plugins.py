"""User code referred to as `module:attr` by tests: models that fit, and one that does not."""

import math

from torch import nn


def small_mlp(input_shape, num_classes, hidden=8):
    """A valid user model; `hidden` arrives as a keyword from the scenario's model section."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def wrong_width(input_shape, num_classes):
    """A user model with one logit too many."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes + 1))


def not_a_module(input_shape, num_classes):
    return lambda x: x


def dropout_mlp(input_shape, num_classes, hidden=8):
    """A model with dropout: vectorised training cannot seed it per client."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), hidden),
        nn.Dropout(0.1),
        nn.Linear(hidden, num_classes),
    )


BUILDS = {"count": 0}


def fails_in_the_worker(input_shape, num_classes):
    """Builds once (the driver's check), then fails: a worker that cannot build its model."""
    BUILDS["count"] += 1
    if BUILDS["count"] > 1:
        raise RuntimeError("no such device")
    return small_mlp(input_shape, num_classes)
