"""The whole secure-aggregation protocol in one process, for tests and benchmarks.

Every client and the server run in turn, stage by stage, as the Ray actors would; clients
listed under a stage in `drop` go silent there. Client keys are derived from `rng`, so a
run is reproducible bit for bit, and for the same reason its keys are not secret: the real
deployment builds `ClientSession`s without `entropy`, from os.urandom.
"""

from __future__ import annotations

import time

import numpy as np

from fedray.secagg.client import ClientSession
from fedray.secagg.messages import Params
from fedray.secagg.server import ServerSession

STAGES = ("advertise", "share", "masked_input", "unmask")


def run(
    inputs: dict[int, np.ndarray],
    params: Params,
    *,
    rng: np.random.Generator,
    drop: dict[str, set[int]] | None = None,
) -> tuple[np.ndarray, dict]:
    """Run SecAgg / SecAgg+ over `inputs` and return the survivors' sum and statistics.

    Args:
        inputs: client id -> (d,) uint64 vector in [0, 2^m) (a `quantize` output).
        params: threshold, neighbours, modulus bits.
        rng: builds the neighbour graph and derives the clients' keys.
        drop: stage name ("advertise", "share", "masked_input", "unmask") -> ids that go
            silent at that stage.

    Returns:
        ((d,) uint64 sum mod 2^m of the inputs of the clients that sent a masked input,
        statistics: the server's, plus client traffic and time, and the wall time).

    Raises:
        SecAggAbort: when too few clients are left at some stage.
    """
    drop = drop or {}
    unknown = sorted(set(drop) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown drop stages {unknown}; valid: {list(STAGES)}")
    silent = {stage: {int(u) for u in drop.get(stage, ())} for stage in STAGES}
    start = time.perf_counter()
    cohort = np.array(sorted(inputs), dtype=np.int64)
    server = ServerSession(cohort, params, rng)
    clients = {int(u): ClientSession(int(u), params, entropy=rng.bytes(32)) for u in cohort}

    def live(ids, stage):
        return [u for u in ids if u not in silent[stage]]

    adverts = [clients[u].advertise() for u in live(clients, "advertise")]
    keys = server.collect_keys(adverts)
    shares = [s for u in live(keys, "share") for s in clients[u].share_keys(keys[u])]
    routed = server.route_shares(shares)
    masked = {
        u: clients[u].masked_input(inputs[u], routed[u]) for u in live(routed, "masked_input")
    }
    survivors = server.collect_masked(masked)
    responses = [clients[u].unmask(survivors) for u in live(survivors, "unmask")]
    total = server.finish(responses)
    return total, _stats(server, clients, time.perf_counter() - start)


def _stats(server: ServerSession, clients: dict[int, ClientSession], wall: float) -> dict:
    per_client = [c.stats for c in clients.values()]
    out = {
        f"server_{k}" if k in ("bytes_up", "bytes_down", "seconds") else k: v
        for k, v in server.stats.items()
    }
    for key in ("bytes_up", "bytes_down", "seconds"):
        out[f"client_{key}_max"] = max(s[key] for s in per_client)
        out[f"client_{key}_total"] = sum(s[key] for s in per_client)
    out["wall_seconds"] = wall
    return out
