"""Whether a client answers when the server asks it at virtual time t."""

from __future__ import annotations

import numpy as np

from fedray import seeding
from fedray.system.config import Availability
from fedray.system.trace import availability_trace


def online(cfg: Availability, seed: int, round_: int, client_ids, t: float) -> np.ndarray:
    """(n,) bool: each client is reachable at virtual second `t` of round `round_`.

    bernoulli draws per (round, client); diurnal is on while (t / period + phase) mod 1 is
    below `on_fraction`, the phase drawn once per client; trace reads its intervals.
    """
    ids = np.asarray(client_ids, dtype=np.int64)
    if cfg.type == "always":
        return np.ones(len(ids), bool)
    if cfg.type == "bernoulli":
        u = seeding.uniforms(seed, round_, ids, seeding.AVAILABILITY)[:, 0]
        return u < cfg.probability
    if cfg.type == "diurnal":
        phase = seeding.uniforms(seed, seeding.NO_ROUND, ids, seeding.AVAILABILITY)[:, 0]
        return np.mod(t / cfg.period + phase, 1.0) < cfg.on_fraction
    return availability_trace(cfg.trace).online(ids, t)
