"""TensorBoard curves against the virtual clock: step = virtual seconds, not rounds.

A sibling run (`tensorboard/virtual_clock`) so that its steps, on another scale than the
rounds of `federated`, never mix with them, and a resumed run purges only its own events.
"""

from __future__ import annotations

from pathlib import Path

from fedray.metrics.tensorboard import TensorBoardSink

# What is drawn against virtual time: the accuracy, and the round count that got there.
SERIES = ("test_accuracy", "test_loss", "fed_accuracy_mean", "round")
TAG_PREFIX = "virtual_clock/"


class VirtualClockSink:
    def __init__(self, out: Path, resume_seconds: float | None = None):
        purge = int(resume_seconds) + 1 if resume_seconds is not None else None
        self.sink = TensorBoardSink(str(out / "tensorboard" / "virtual_clock"), purge_step=purge)

    def write(self, row: dict) -> None:
        seconds = row.get("virtual_seconds")
        if seconds is None:
            return
        step = int(seconds)  # TensorBoard steps are integers: whole virtual seconds
        for key in SERIES:
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.sink.scalar(TAG_PREFIX + key, value, step)

    def close(self) -> None:
        self.sink.close()
