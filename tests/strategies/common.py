"""Running a strategy as the server does, with the plain weighted mean as its aggregate."""

import numpy as np

from fedray.strategies.aggregate import weighted_mean
from fedray.strategies.context import ServerContext
from fedray.types import UpdateBatch


def context(population: int = 100, client_lr: float = 0.1, round_: int = 1) -> ServerContext:
    return ServerContext(weighted_mean, round_, population, client_lr)


def batch(updates, examples, **extras) -> UpdateBatch:
    updates = np.asarray(updates, np.float32)
    ids = np.arange(len(updates), dtype=np.int64)
    return UpdateBatch(
        ids, updates, np.asarray(examples, np.int64), {k: np.asarray(v) for k, v in extras.items()}
    )


def step(fn, params, updates, examples, cfg, state=None, ctx=None, **extras):
    """One server step of strategy `fn`: (new params, new state, metrics)."""
    return fn(params, batch(updates, examples, **extras), dict(state or {}), cfg, ctx or context())
