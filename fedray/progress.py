"""The progress bar: round, accuracy and time in a terminal; silent otherwise."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(
        self,
        total: int,
        done: int,
        enabled: bool | None = None,
        unit: str = "round",
        on_update=None,
    ):
        enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = tqdm(
            total=total, initial=done, unit=unit, disable=not enabled, dynamic_ncols=True
        )
        self._accuracy = None
        self._on_update = on_update  # e.g. `fedray tune`'s report of each round's row

    def update(self, row: dict) -> None:
        if row.get("test_accuracy") is not None:
            self._accuracy = row["test_accuracy"]
        postfix = {"round": row["round"]}
        if self._accuracy is not None:
            postfix["acc"] = f"{self._accuracy:.3f}"
        if row.get("train_loss") is not None:
            postfix["loss"] = f"{row['train_loss']:.3f}"
        if row.get("virtual_seconds") is not None:  # the system model's clock
            postfix["virtual"] = f"{row['virtual_seconds']:.0f}s"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)
        if self._on_update is not None:
            self._on_update(row)

    def close(self) -> None:
        self._bar.close()
