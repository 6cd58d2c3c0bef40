"""The whole secure-aggregation protocol in one process, for tests and benchmarks.

Every client and the server run in turn, stage by stage, as the Ray actors would; clients
listed under a stage in `drop` go silent there. Client keys are derived from `rng`, so a
run is reproducible bit for bit, and for the same reason its keys are not secret: the real
deployment builds `ClientSession`s without `entropy`, from os.urandom.
"""

from __future__ import annotations

import time

import numpy as np

from fedray.secagg import keys, pki
from fedray.secagg.client import ClientSession
from fedray.secagg.dishonest import DishonestServer
from fedray.secagg.messages import Params
from fedray.secagg.server import ServerSession

STAGES = ("advertise", "share", "masked_input", "unmask")


def run(
    inputs: dict[int, np.ndarray],
    params: Params,
    *,
    rng: np.random.Generator,
    drop: dict[str, set[int]] | None = None,
    attack: str = "none",
    corrupt: set[int] = frozenset(),
    context: tuple[int, int] = (1, 0),
) -> tuple[np.ndarray, dict]:
    """Run SecAgg / SecAgg+ over `inputs` and return the survivors' sum and statistics.

    Args:
        inputs: client id -> (d,) uint64 vector in [0, 2^m) (a `quantize` output).
        params: threshold, neighbours, modulus bits.
        rng: builds the neighbour graph and derives the clients' keys.
        drop: stage name ("advertise", "share", "masked_input", "unmask") -> ids that go
            silent at that stage.
        attack: a `dishonest.ATTACKS` deviation the server performs ("none": honest).
        corrupt: clients colluding with the server (it knows their inputs).
        context: (round, bucket) the signatures name (malicious parameters).

    Returns:
        ((d,) uint64 sum mod 2^m of the inputs of the clients that sent a masked input,
        statistics: the server's, plus client traffic and time, the wall time, and
        `leaked`: client id -> the input a dishonest server recovered).

    Raises:
        SecAggAbort: when too few clients are left at some stage; `DeviationCaught` when an
            honest client caught the server lying.
    """
    drop = drop or {}
    unknown = sorted(set(drop) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown drop stages {unknown}; valid: {list(STAGES)}")
    silent = {stage: {int(u) for u in drop.get(stage, ())} for stage in STAGES}
    start = time.perf_counter()
    cohort = np.array(sorted(inputs), dtype=np.int64)
    if attack == "none":
        server = ServerSession(cohort, params, rng)
    else:
        server = DishonestServer(
            cohort, params, rng, attack=attack, corrupt={c: inputs[c] for c in corrupt}
        )
    registry, entropy = pki.Pki(), {int(u): rng.bytes(32) for u in cohort}
    clients = {u: _client(u, params, e, registry, context) for u, e in entropy.items()}
    if attack == "replay_keys":  # adverts of the round before, whose secrets it learned
        server.recorded = {
            u: _old_advert(u, params, e, registry, context) for u, e in entropy.items()
        }

    def live(ids, stage):
        return [u for u in ids if u not in silent[stage]]

    adverts = [clients[u].advertise() for u in live(clients, "advertise")]
    routed_keys = server.collect_keys(adverts)
    shares = [s for u in live(routed_keys, "share") for s in clients[u].share_keys(routed_keys[u])]
    routed = server.route_shares(shares)
    masked = {
        u: clients[u].masked_input(inputs[u], routed[u]) for u in live(routed, "masked_input")
    }
    server.collect_masked(masked)
    views = server.views()
    answering = live(views, "unmask")
    signed = {}
    if params.malicious:
        signed = server.collect_signatures([clients[u].consistency(views[u]) for u in answering])
    responses = [clients[u].unmask(views[u], signed.get(u)) for u in answering]
    total = server.finish(responses)
    stats = _stats(server, clients, time.perf_counter() - start)
    stats["leaked"] = dict(getattr(server, "leaked", {}))
    return total, stats


def _identity(entropy: bytes):
    # HKDF's output blocks do not depend on its length: the session's first four secrets
    # are unchanged, and the fifth seeds the long-term identity key.
    return pki.identity_key(keys.derive_secrets(entropy, 5)[4])


def _client(u, params, entropy, registry, context) -> ClientSession:
    identity = _identity(entropy)
    registry.register(u, identity.public_key())
    return ClientSession(
        u, params, entropy=entropy, identity=identity, registry=registry, context=context
    )


def _old_advert(u, params, entropy, registry, context):
    old_entropy = keys.derive_secrets(entropy + b"earlier round", 1)[0]
    round_, bucket = context
    old = ClientSession(
        u,
        params,
        entropy=old_entropy,
        identity=_identity(entropy),
        registry=registry,
        context=(round_ - 1, bucket),
    )
    advert = old.advertise()
    return advert, (keys.private_bytes(old._c), keys.private_bytes(old._s))


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
