"""User code for the multi-node tests, referenced as `tests.cluster_plugins:NAME`."""

import os
import time

import ray
from torch import nn


class _Gated(nn.Module):
    """Logistic regression whose training waits at a gate, so a test can lose a node while
    its worker is surely mid-call.

    Once the file `gate` exists (the driver's round-1 checkpoint), a training forward pass
    writes `<gate>.<node id>` (this worker is in round 2 now) and waits until `<gate>.open`
    exists. Without those files it is plain logistic regression: the same parameters.
    """

    def __init__(self, input_shape, num_classes, gate):
        super().__init__()
        self.gate = gate
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x):
        import torch

        if torch.is_grad_enabled() and os.path.exists(self.gate):
            node = ray.get_runtime_context().get_node_id()
            open(f"{self.gate}.{node}", "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(f"{self.gate}.open") and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.net(x)


def gated_model(input_shape, num_classes, gate):
    return _Gated(input_shape, num_classes, gate)
