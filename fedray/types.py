"""Records that cross between the layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ClientUpdate:
    """What one client sends back: its delta (local minus global params) and what it saw."""

    client_id: int
    delta: np.ndarray  # (d,) float32
    num_examples: int
    metrics: dict = field(default_factory=dict)  # for the records: loss, norm, seconds
    extras: dict = field(
        default_factory=dict
    )  # for the server: num_steps, initial_loss, control_delta


@dataclass(frozen=True)
class UpdateBatch:
    """Many clients' updates stacked: the wire format from a Worker to the Aggregator.

    `extras` holds per-row arrays a strategy needs besides the delta: `num_steps` (k,)
    (FedNova), `initial_loss` (k,) (q-FFL), `control_delta` (k, d) (SCAFFOLD), and the
    vectors the client state store keeps: `residual`, `copy` (compression).

    With compression the deltas are (k, 0) and `payloads` holds each row's encoded update
    (bytes); the Aggregator decodes them (`fedray.compression.clients.decode_batch`).
    """

    client_ids: np.ndarray  # (k,) int64, ascending
    deltas: np.ndarray  # (k, d) float32
    num_examples: np.ndarray  # (k,) int64
    extras: dict = field(default_factory=dict)
    payloads: tuple = ()  # (k,) bytes when compressed

    @staticmethod
    def stack(updates: list[ClientUpdate], dim: int) -> UpdateBatch:
        updates = sorted(updates, key=lambda u: u.client_id)
        deltas = np.stack([u.delta for u in updates]) if updates else np.zeros((0, dim), np.float32)
        keys = updates[0].extras.keys() if updates else ()
        return UpdateBatch(
            np.array([u.client_id for u in updates], dtype=np.int64),
            deltas,
            np.array([u.num_examples for u in updates], dtype=np.int64),
            {k: np.stack([np.asarray(u.extras[k]) for u in updates]) for k in keys},
        )

    @staticmethod
    def concat(batches: list[UpdateBatch]) -> UpdateBatch:
        """Join batches and sort rows by client id, so the result never depends on the workers."""
        batches = [b for b in batches if len(b.client_ids)] or batches[:1]
        ids = np.concatenate([b.client_ids for b in batches])
        order = np.argsort(ids, kind="stable")
        keys = batches[0].extras.keys()
        payloads = [p for b in batches for p in b.payloads]
        return UpdateBatch(
            ids[order],
            np.concatenate([b.deltas for b in batches])[order],
            np.concatenate([b.num_examples for b in batches])[order],
            {k: np.concatenate([b.extras[k] for b in batches])[order] for k in keys},
            tuple(payloads[i] for i in order) if payloads else (),
        )

    def rows(self, keep: np.ndarray) -> UpdateBatch:
        """The batch restricted to the rows `keep` picks: a bool mask, or row indices (in
        their order)."""
        keep = np.asarray(keep)
        index = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)
        return UpdateBatch(
            self.client_ids[index],
            self.deltas[index],
            self.num_examples[index],
            {k: v[index] for k, v in self.extras.items()},
            tuple(self.payloads[i] for i in index) if self.payloads else (),
        )
