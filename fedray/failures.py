"""Why a run stopped other than for bad input: light, so that the CLI can catch these
without importing Ray (`fedray validate` never needs it)."""

from __future__ import annotations


class StartupError(RuntimeError):
    """The actors could not start: the cluster is full, or a worker failed to build."""


class NoAnswer(RuntimeError):
    """An actor the run cannot go on without did not answer within resources.call_timeout."""


class MissingExtra(Exception):
    """An optional dependency is not installed; the message says what to install."""
