"""What the `system:` section needs from itself and from the rest of the scenario."""

from __future__ import annotations

import os

# Column names only: the readers (pyarrow) load when a scenario names a trace.
DEVICE_COLUMNS = ("client_id", "computation", "communication")
AVAILABILITY_COLUMNS = ("client_id", "active", "inactive", "finish_time")


def check(s, problems) -> None:
    """Add every problem of `s.system` to `problems` (fedray.scenario.convert.Problems)."""
    sysc = s.system
    if sysc.mode == "none":
        _check_off(sysc, problems)
        return
    d = sysc.devices
    if d.source == "tiers" and not d.tiers:
        problems.add("system.devices.tiers", "the tiers source needs tiers", [], "a list of tiers")
    if d.source != "tiers" and d.tiers:
        problems.add(
            "system.devices.tiers", "set, but devices.source is not tiers", len(d.tiers), "[]"
        )
    if d.source == "trace":
        _check_trace("system.devices.trace", d.trace, DEVICE_COLUMNS, problems)
    a = sysc.availability
    if a.type == "trace":
        _check_trace("system.availability.trace", a.trace, AVAILABILITY_COLUMNS, problems)
    if sysc.accountant == "max_participation" and s.privacy.mode not in ("central", "distributed"):
        problems.add(
            "system.accountant",
            "bounds user-level DP by the most-participating client's count",
            sysc.accountant,
            "'poisson', or privacy.mode central / distributed",
        )
    partial = sysc.accept_partial or sysc.dropout.partial == "send"
    if partial and s.privacy.mode == "local":
        problems.add(
            "system.accept_partial",
            "local DP-SGD's steps are Poisson-sampled and accounted as planned, so a client "
            "cannot stop part-way",
            "accept_partial or dropout.partial: send",
            "false and dropout.partial: nothing with privacy.mode: local",
        )
    if sysc.mode == "async":
        _check_async(s, problems)


def _check_off(sysc, problems) -> None:
    from fedray.system.config import System

    default = System()
    for key in ("devices", "availability", "dropout", "deadline", "over_commit", "accept_partial"):
        if getattr(sysc, key) != getattr(default, key):
            problems.add(
                f"system.{key}",
                "set, but system.mode is none (no virtual clock runs)",
                getattr(sysc, key),
                "system.mode: sync or async, or remove it",
            )


def _check_trace(path: str, value: str | None, columns: tuple, problems) -> None:
    """The file exists, has the columns, and its rows make sense (read once, then cached)."""
    from fedray.system import trace

    read = trace.device_trace if columns == DEVICE_COLUMNS else trace.availability_trace
    if not value:
        problems.add(path, "required by the trace source", value, "a CSV or Parquet file")
        return
    if not os.path.isfile(value):
        problems.add(path, "file not found", value, "an existing CSV or Parquet file")
        return
    try:
        missing = trace.missing_columns(value, columns)
    except Exception as exc:  # any unreadable file: say what the reader said
        problems.add(path, f"not a readable CSV or Parquet file ({exc})", value)
        return
    if missing:
        problems.add(
            path, f"the trace lacks columns {missing}", value, "columns " + ", ".join(columns)
        )
        return
    try:
        read(value)
    except ValueError as exc:
        problems.add(path, str(exc).split(": ", 1)[-1], value)
    except Exception as exc:  # a column of the wrong type, say: what the reader said
        problems.add(path, f"unreadable trace ({type(exc).__name__}: {exc})", value)


def _check_async(s, problems) -> None:
    """FedBuff steps on buffers of updates trained from different model versions."""
    sysc = s.system
    refuse = {
        "system.deadline": (
            sysc.deadline is not None,
            sysc.deadline,
            "FedBuff has no rounds to end: the buffer decides when the server steps",
            "null with system.mode: async",
        ),
        "system.over_commit": (
            sysc.over_commit > 0,
            sysc.over_commit,
            "FedBuff keeps system.fedbuff.concurrency clients in flight instead",
            "0 with system.mode: async",
        ),
        "system.accept_partial": (
            sysc.accept_partial,
            True,
            "partial work is cut at a round's deadline, and FedBuff has none",
            "false with system.mode: async",
        ),
        "compression.type": (
            s.secure_aggregation.protocol != "none" and s.compression.type != "none",
            s.compression.type,
            "under secure aggregation a buffer's members mask their updates when it fills, and "
            "the coordinates random-k shares are drawn per synchronous round",
            "'none' with system.mode: async and secure aggregation",
        ),
        "privacy.mode": (
            s.privacy.mode == "local",
            "local",
            "local DP-SGD's ledger is kept per synchronous round",
            "none, central or distributed with system.mode: async",
        ),
        "system.fedbuff.buffer": (
            s.privacy.mode in ("central", "distributed")
            and sysc.fedbuff.buffer != s.federation.clients_per_round,
            sysc.fedbuff.buffer,
            f"{s.privacy.mode} DP noises each server step's mean for "
            "federation.clients_per_round clients and accounts q = clients_per_round / "
            "population per step",
            f"federation.clients_per_round ({s.federation.clients_per_round})",
        ),
        "strategy.name": (
            s.strategy.name == "scaffold",
            "scaffold",
            "SCAFFOLD's control variates assume every client starts from the current model",
            "a strategy without client state (fedavg, fedadam, ...)",
        ),
    }
    if sysc.fedbuff.concurrency > s.federation.population:
        problems.add(
            "system.fedbuff.concurrency",
            "more clients in flight than the population holds",
            sysc.fedbuff.concurrency,
            f"<= federation.population ({s.federation.population})",
        )
    for path, (bad, got, why, expected) in refuse.items():
        if bad:
            problems.add(path, f"cannot compose with system.mode: async: {why}", got, expected)
