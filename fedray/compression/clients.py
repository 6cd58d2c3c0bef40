"""Compression inside a round: what a client downloads and uploads, what the server decodes,
and which per-client vectors persist. Pure numpy; the Worker and the Aggregator call it.

Order on a client (DESIGN.md's round): download (decode the server's delta onto its copy)
-> train -> delta -> compress (with its residual) -> [clip / noise and mask, under secure
aggregation]. Every draw is named (seed, round, client, COMPRESS or COMPRESS_DOWN), so the
bits do not depend on which worker runs the client. Two tables of the client state store
persist across rounds: `residual` (uplink error feedback, e_i) and `copy` (the model the
client holds, x_i: downlink messages are deltas from it).
"""

from __future__ import annotations

import numpy as np

from fedray import seeding
from fedray.attacks import DATA_ATTACKS
from fedray.compression import COPY, RESIDUAL, decode, encode, error_feedback, size
from fedray.compression.sparse import random_indices, resolve_k
from fedray.types import ClientUpdate, UpdateBatch


def dense_bytes(d: int) -> int:
    """Bytes of a (d,) vector sent as float32 (the `none` codec)."""
    return size("none", None, d)


def uplink_rng(seed: int, round_: int, client_id: int, section) -> np.random.Generator:
    """A client's compression stream; random-k with `shared` uses the cohort's one."""
    shared = section.type == "randomk" and section.params.shared
    return seeding.rng(seed, round_, seeding.NO_CLIENT if shared else client_id, seeding.COMPRESS)


def shared_indices(scenario, round_: int, d: int) -> np.ndarray | None:
    """The coordinates every client keeps this round under random-k with `shared` (the ones
    its payloads name), else None. Under secure aggregation only these are masked and summed."""
    c = scenario.compression
    if not (c.type == "randomk" and c.params.shared):
        return None
    rng = uplink_rng(scenario.seed, round_, seeding.NO_CLIENT, c)
    return random_indices(int(rng.integers(0, 2**63)), d, resolve_k(c.params, d))


def scatter_shared(scenario, round_: int, batch: UpdateBatch, dim: int) -> UpdateBatch:
    """Put securely summed rows of the shared coordinates back into (n, dim) deltas."""
    idx = shared_indices(scenario, round_, dim)
    if idx is None or batch.deltas.shape[1] == dim:
        return batch
    rows = np.zeros((len(batch.client_ids), dim), np.float32)
    rows[:, idx] = batch.deltas
    return UpdateBatch(batch.client_ids, rows, batch.num_examples, batch.extras)


def upload(
    scenario, round_: int, update: ClientUpdate, residual
) -> tuple[bytes | None, ClientUpdate]:
    """Compress one client's update; return (payload, the update as the server decodes it).

    Without compression the payload is None (the delta travels as float32, and `bytes_up`
    counts that). With error feedback the new residual rides in `extras["residual"]`, for
    the server to store after the round.
    """
    c = scenario.compression
    d = len(update.delta)
    if c.type == "none":
        metrics = {**update.metrics, "bytes_up": size("none", None, d)}
        return None, ClientUpdate(
            update.client_id, update.delta, update.num_examples, metrics, update.extras
        )
    rng = uplink_rng(scenario.seed, round_, update.client_id, c)
    payload, sent, residual = error_feedback.send(
        update.delta,
        residual if c.error_feedback else None,
        lambda x: encode(x, c.type, c.params, rng),
        lambda p: decode(p, d),
    )
    extras = {**update.extras, RESIDUAL: residual} if c.error_feedback else update.extras
    metrics = {**update.metrics, "bytes_up": len(payload)}
    return payload, ClientUpdate(update.client_id, sent, update.num_examples, metrics, extras)


def download(scenario, round_: int, client_id: int, params: np.ndarray, copy) -> tuple:
    """The model a client starts from and the bytes it downloaded: (start (d,), bytes).

    A client with no copy yet (`copy` None), or any client without downlink compression,
    downloads the whole model as float32. Otherwise the server sends C(params - copy) and
    the client adds what it decodes to its copy; the new copy is the start.
    """
    part, d = scenario.compression.downlink, len(params)
    if part.type == "none" or copy is None:
        return params, size("none", None, d)
    rng = seeding.rng(scenario.seed, round_, client_id, seeding.COMPRESS_DOWN)
    payload = encode((params - copy).astype(np.float32), part.type, part.params, rng)
    return (copy + decode(payload, d)).astype(np.float32), len(payload)


def wire_batch(updates: list[ClientUpdate], payloads: list, dim: int) -> UpdateBatch:
    """The batch a worker sends: payloads in place of the deltas when compressed."""
    batch = UpdateBatch.stack(updates, dim)
    if not updates or payloads[0] is None:
        return batch
    by_id = {u.client_id: p for u, p in zip(updates, payloads)}
    return UpdateBatch(
        batch.client_ids,
        np.zeros((len(batch.client_ids), 0), np.float32),
        batch.num_examples,
        batch.extras,
        tuple(by_id[int(c)] for c in batch.client_ids),
    )


def decode_batch(batch: UpdateBatch, dim: int) -> UpdateBatch:
    """Decode a batch's payloads into (k, dim) deltas; a malformed payload becomes a NaN row,
    which screening rejects and counts."""
    if not batch.payloads:
        return batch
    rows = np.empty((len(batch.payloads), dim), np.float32)
    for i, payload in enumerate(batch.payloads):
        try:
            rows[i] = decode(payload, dim)
        except ValueError:
            rows[i] = np.nan
    return UpdateBatch(batch.client_ids, rows, batch.num_examples, batch.extras)


def recompress(scenario, round_: int, batch: UpdateBatch, rows: np.ndarray) -> UpdateBatch:
    """Put the rows `rows` (bool mask) through the uplink codec, without error feedback: an
    attacker crafting its update knows the compressor, and what arrives is its decoding."""
    c = scenario.compression
    if c.type == "none" or not rows.any() or scenario.attack.type in DATA_ATTACKS:
        return batch  # poisoned data trains an update the worker already compressed
    deltas, d = batch.deltas.copy(), batch.deltas.shape[1]
    for i in np.flatnonzero(rows):
        rng = uplink_rng(scenario.seed, round_, int(batch.client_ids[i]), c)
        deltas[i] = decode(encode(deltas[i], c.type, c.params, rng), d)
    return UpdateBatch(batch.client_ids, deltas, batch.num_examples, batch.extras)


def state_writes(batch: UpdateBatch, keep: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(table, ids, rows) to store after a round, for the rows in `keep`."""
    return [
        (t, batch.client_ids[keep], batch.extras[t][keep])
        for t in (RESIDUAL, COPY)
        if t in batch.extras
    ]


def traffic(records: list[dict]) -> dict:
    """Round totals and per-client means of `bytes_up` and `bytes_down` over `records`."""
    out = {}
    for key in ("bytes_up", "bytes_down"):
        values = [r[key] for r in records if r.get(key) is not None]
        if values:
            out[f"{key}_total"] = int(np.sum(values, dtype=np.int64))
            out[f"{key}_mean"] = float(np.mean(values))
    return out
