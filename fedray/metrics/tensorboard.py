"""TensorBoard sink: scalars, histograms and the resolved scenario, one step per round."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

# A metric's name prefix -> its TensorBoard group, and whether the prefix is dropped from
# the tag. It is kept where dropping it would make two metrics share a tag (clients_empty
# and rejected_empty; honest_ and malicious_norm_mean).
GROUPS = (
    ("test_", "test", True),
    ("train_", "train", True),
    ("update_", "train", True),
    ("fed_", "federated_eval", True),
    ("clients_", "clients", True),
    ("updates_", "clients", True),
    ("rejected_", "clients", False),
    ("attack_", "attack", True),
    ("malicious_", "attack", False),
    ("honest_", "attack", False),
    ("backdoor_", "attack", False),
    ("target_", "attack", False),
    ("defense_", "defense", True),
    ("secagg_", "secure_aggregation", True),
    ("privacy_", "privacy", True),
    ("audit_", "audit", True),
    ("baseline_", "baseline", True),
    ("bytes_", "communication", False),
)
NOT_SCALARS = frozenset({"round"})  # the step itself


def tag(name: str) -> str:
    """The TensorBoard tag of metric `name`: `group/rest`, e.g. fed_accuracy_p10 ->
    federated_eval/accuracy_p10; names no group claims go to system/."""
    for prefix, group, strip in GROUPS:
        if name.startswith(prefix):
            return f"{group}/{name[len(prefix) :] if strip else name}"
    return f"system/{name}"


def _sort_after_existing(log_dir: Path) -> None:
    """Wait, if need be, until a new event file's name sorts after the directory's others.

    TensorBoard reads a directory's event files in name order, and a name starts with its
    writer's start second, then a per-process counter that does not sort as a number (10
    before 9). A resumed run's file carries the purge that drops the crashed rounds, so it
    must be read last: when an earlier file began in this very second (a quick resume),
    the new one starts in the next.
    """
    seconds = []
    for path in log_dir.glob("events.out.tfevents.*"):
        stamp = path.name.split(".")[3]
        if stamp.isdigit():
            seconds.append(int(stamp))
    if seconds and max(seconds) >= int(time.time()):
        time.sleep(max(seconds) + 1 - time.time())


class TensorBoardSink:
    def __init__(self, log_dir: str, purge_step: int | None = None, hide: Iterable[str] = ()):
        """Write to `log_dir`; tags in a group of `hide` (e.g. "attack") are never written."""
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a crashed run wrote past its last checkpoint, so a resumed
        # run's curves do not fold back on themselves.
        if purge_step is not None:
            _sort_after_existing(Path(log_dir))
        self._writer = SummaryWriter(log_dir=log_dir, purge_step=purge_step)
        self._hide = frozenset(hide)

    def text(self, tag: str, markdown: str) -> None:
        self._writer.add_text(tag, markdown, 0)

    def layout(self, charts: dict) -> None:
        """Write a Custom Scalars layout, {category: {title: ["Multiline", [tag regex, ...]]}}."""
        self._writer.add_custom_scalars(charts)

    def scalar(self, tag_: str, value: float, step: int) -> None:
        """One scalar under an explicit tag (for runs whose x axis is not the round)."""
        self._writer.add_scalar(tag_, value, step)

    def write(self, round_: int, metrics: dict, histograms: dict | None = None) -> None:
        """Log every finite number in `metrics` as `group/name` scalars at step `round_`."""
        for name, value in metrics.items():
            if (
                name not in NOT_SCALARS
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and self._shown(tag(name))
            ):
                self._writer.add_scalar(tag(name), value, round_)
        for name, values in (histograms or {}).items():
            values = np.asarray(values, dtype=np.float64)
            values = values[np.isfinite(values)]
            if len(values) and self._shown(name):
                self._histogram(name, values, round_)

    def _shown(self, tag_: str) -> bool:
        return tag_.split("/", 1)[0] not in self._hide

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
