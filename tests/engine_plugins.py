"""User code for the end-to-end tests, referenced as `tests.engine_plugins:NAME`."""

from torch import nn


def five_class_model(input_shape, num_classes):
    """A model whose head ignores the dataset's label count (a common user mistake)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))


def frozen_strategy(params, updates, num_examples, state, cfg):
    """A strategy that never moves the model: the test accuracy must stay constant."""
    return params, state, {"frozen": 1.0}


class _CrashOnce(nn.Module):
    """Logistic regression whose process dies the first time it trains while `flag` exists."""

    def __init__(self, input_shape, num_classes, flag):
        super().__init__()
        self.flag = flag
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x):
        import os

        import torch

        if torch.is_grad_enabled() and os.path.exists(self.flag):
            os.remove(self.flag)
            os._exit(1)  # a worker lost mid-round, as when a node is preempted
        return self.net(x)


def crash_once_model(input_shape, num_classes, flag):
    return _CrashOnce(input_shape, num_classes, flag)


class _HangOnce(nn.Module):
    """Logistic regression whose process hangs (alive, silent) the first time it trains
    while `flag` exists. Removing the flag is atomic: exactly one worker hangs."""

    def __init__(self, input_shape, num_classes, flag):
        super().__init__()
        self.flag = flag
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x):
        import os
        import time

        import torch

        # The worker's warm-up step trains on zeros: hang in real training only.
        if torch.is_grad_enabled() and bool(x.any()) and os.path.exists(self.flag):
            try:
                os.remove(self.flag)
            except FileNotFoundError:  # another worker took it
                return self.net(x)
            time.sleep(10**6)  # a deadlock, a stuck filesystem, a GPU that no longer answers
        return self.net(x)


def hang_once_model(input_shape, num_classes, flag):
    return _HangOnce(input_shape, num_classes, flag)


def proximal_strategy(params, batch, state, cfg, ctx):
    """A user strategy that asks its clients for a proximal term through `fn.client`."""
    return params + ctx.aggregate(batch.deltas, batch.num_examples), state, {}


proximal_strategy.client = lambda cfg: {"proximal_mu": float(cfg.get("mu", 0.1))}


def batchnorm_model(input_shape, num_classes):
    """A model Opacus cannot give per-example gradients for (BatchNorm mixes the batch)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Linear(32, num_classes)
    )
