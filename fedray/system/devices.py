"""Device profiles: each client's compute speed, bandwidths and dropout probabilities.

Nothing is stored per client: a profile is derived on demand from `seeding.uniforms`
named by (seed, client id, DEVICE), vectorised over whatever ids are asked for (a cohort),
so a population of 10^6 costs what its cohort costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from fedray import seeding
from fedray.system.config import System
from fedray.system.trace import device_trace


@dataclass(frozen=True)
class Profiles:
    """Per-client arrays, aligned with the ids they were drawn for."""

    speed: np.ndarray  # (n,) samples per second
    upload: np.ndarray  # (n,) bytes per second
    download: np.ndarray  # (n,) bytes per second
    tier: np.ndarray  # (n,) int64 tier index; -1 outside the tiers source
    dropout: np.ndarray  # (n, 3) probabilities: before, during, after training


def profiles(system: System, seed: int, client_ids: np.ndarray) -> Profiles:
    """Return the device profiles of `client_ids` (any order, any size)."""
    ids = np.asarray(client_ids, dtype=np.int64)
    d = system.devices
    u = seeding.uniforms(seed, seeding.NO_ROUND, ids, seeding.DEVICE, 3)
    base = np.array([system.dropout.before, system.dropout.during, system.dropout.after])
    dropout = np.broadcast_to(base, (len(ids), 3)).copy()
    tier = np.full(len(ids), -1, np.int64)
    if d.source == "lognormal":
        # ndtri(u) is N(0, 1) by inversion; u = 0 has probability 2^-53 and maps to -inf.
        z = ndtri(np.clip(u, 1e-300, None))
        speed, up, down = (s.median * np.exp(s.sigma * z[:, i]) for i, s in enumerate(_spreads(d)))
    elif d.source == "tiers":
        shares = np.array([t.share for t in d.tiers], np.float64)
        tier = np.searchsorted(np.cumsum(shares) / shares.sum(), u[:, 0], side="right")
        tier = np.minimum(tier, len(d.tiers) - 1).astype(np.int64)
        speed, up, down = (np.array([getattr(t, k) for t in d.tiers])[tier] for k in _SPEEDS)
        for j, key in enumerate(("drop_before", "drop_during", "drop_after")):
            own = np.array(
                [getattr(t, key) if getattr(t, key) is not None else np.nan for t in d.tiers]
            )
            per = own[tier]
            dropout[:, j] = np.where(np.isnan(per), dropout[:, j], per)
    else:
        trace = device_trace(d.trace)
        rows = trace.rows(ids)
        speed, up, down = trace.speed[rows], trace.upload[rows], trace.download[rows]
        if trace.dropout is not None:
            dropout = trace.dropout[rows]
    return Profiles(
        np.asarray(speed, np.float64) / d.compute_factor,
        np.asarray(up, np.float64),
        np.asarray(down, np.float64),
        tier,
        dropout,
    )


_SPEEDS = ("speed", "upload", "download")


def _spreads(d):
    return (d.speed, d.upload, d.download)
