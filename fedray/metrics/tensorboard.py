"""TensorBoard sink: scalars, histograms and the resolved scenario, one step per round."""

from __future__ import annotations

import math

import numpy as np


class TensorBoardSink:
    def __init__(self, log_dir: str, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a crashed run wrote past its last checkpoint, so a resumed
        # run's curves do not fold back on themselves.
        self._writer = SummaryWriter(log_dir=log_dir, purge_step=purge_step)

    def text(self, tag: str, markdown: str) -> None:
        self._writer.add_text(tag, markdown, 0)

    def write(self, round_: int, metrics: dict, histograms: dict | None = None) -> None:
        """Log every finite number in `metrics` as `group/name` scalars at step `round_`."""
        for name, value in metrics.items():
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                self._writer.add_scalar(_tag(name), value, round_)
        for name, values in (histograms or {}).items():
            values = np.asarray(values, dtype=np.float64)
            values = values[np.isfinite(values)]
            if len(values):
                self._histogram(name, values, round_)

    def _histogram(self, name: str, values: np.ndarray, round_: int, bins: int = 30) -> None:
        # Binned here rather than by torch's add_histogram, which fails on very wide ranges
        # (diverged clients send update norms near 1e38).
        low, high = float(values.min()), float(values.max())
        edges = np.linspace(low, high, bins + 1)
        if np.all(np.diff(edges) > 0):
            counts, edges = np.histogram(values, bins=edges)
        else:  # all values (numerically) equal: one bucket
            counts, edges = np.array([len(values)]), np.array([low, high])
        self._writer.add_histogram_raw(
            name,
            min=low,
            max=high,
            num=len(values),
            sum=float(values.sum()),
            sum_squares=float(np.square(values).sum()),
            bucket_limits=edges[1:].tolist(),
            bucket_counts=counts.tolist(),
            global_step=round_,
        )

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


def _tag(name: str) -> str:
    """Group metrics in TensorBoard's sidebar: test/, train/, federated_eval/, system/, ..."""
    for prefix, group in (
        ("test_", "test"),
        ("backdoor_", "attack"),
        ("malicious_", "attack"),
        ("honest_", "attack"),
        ("target_", "attack"),
        ("baseline_", "baseline"),
        ("fed_", "federated_eval"),
        ("train_", "train"),
        ("update_", "train"),
        ("clients_", "clients"),
        ("rejected_", "clients"),
        ("updates_", "clients"),
        ("secagg_", "secure_aggregation"),
        ("privacy_", "privacy"),
        ("audit_", "privacy"),
    ):
        if name.startswith(prefix):
            return f"{group}/{name[len(prefix) :]}"
    return f"system/{name}"
