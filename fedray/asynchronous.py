"""FedBuff's server steps on the virtual clock: the asynchronous counterpart of a round.

The schedule (who trains from which model version, which reports fill which buffer) is
`fedray.system.fedbuff`'s pure event loop; this module plays it on the actors, reusing the
engine's pieces: `run_rounds` records, checkpoints and checks the privacy budget per server
step; `round_row` marks and evaluates. Each step: train, in one pool call, every client the
clock launched from the current version (they share one model, like a synchronous cohort)
-> the Aggregator applies the buffer (rows picked from the batches that hold them, scaled
by staleness) -> one row of metrics.parquet per server step.

Resume: the schedule is replayed to the checkpointed step; clients then in flight trained
from older versions, whose parameters the checkpoint keeps beside it (`fedbuff_*.npz`).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from fedray import backend, calls
from fedray.client.colluders import coordinate
from fedray.engine import Handles, _ask, round_row, run_rounds, secure_step, start_system
from fedray.files import write_durably
from fedray.server.secure_dp import carries_count
from fedray.system.fedbuff import FedBuffClock, Interval
from fedray.system.payload import payload_bytes


def run_async(h: Handles, output, first_round: int, params_ref, progress) -> dict:
    """Play FedBuff server steps `first_round..scenario.rounds` (see `engine.run_rounds`)."""
    if h.system is None:
        h.system = start_system(h, output, params_ref)
    player = FedBuffPlayer(h, Path(output.out), first_round, params_ref)
    return run_rounds(
        h, output, first_round, params_ref, progress, player.play, player.save_versions
    )


class FedBuffPlayer:
    """Driver-side state between server steps: the clock, and the updates in flight."""

    def __init__(self, h: Handles, out: Path, first_round: int, params_ref):
        s = h.scenario
        self.h, self.out = h, out
        dim, comp = h.system.dim, getattr(s, "compression", None)
        self.clock = FedBuffClock(
            s.system,
            seed=s.seed,
            population=s.federation.population,
            sizes=h.sizes,
            epochs=s.client.epochs,
            batch_size=s.client.batch_size,
            bytes_down=payload_bytes(comp, dim, "down"),
            bytes_up=payload_bytes(comp, dim, "up"),
        )
        self.pending: dict[int, tuple] = {}  # client id -> (batch ref, worker record, version)
        self.trainer: dict[int, int] = {}  # client id -> the worker that trained it
        self.versions: dict[int, object] = {first_round - 1: params_ref}
        self._replay(first_round - 1)

    def _replay(self, done: int) -> None:
        """Advance the schedule past `done` steps; retrain the clients then in flight."""
        launched: dict[int, list] = {}
        for _ in range(done):
            interval = self.clock.next_interval()
            launched[interval.version] = list(interval.launched)
            for rep in interval.buffer:
                launched[rep["model_version"]] = [
                    x for x in launched[rep["model_version"]] if x[0] != rep["client_id"]
                ]
        waiting = {v: ids for v, ids in launched.items() if ids}
        if not waiting:
            return
        saved = np.load(self.out / "checkpoints" / f"fedbuff_{done:07d}.npz")
        for version, items in sorted(waiting.items()):
            ref = backend.put(saved[f"v{version}"], near=self.h.aggregator)
            self.versions[version] = ref
            self._train(version, items, ref, [])

    def _train(self, version: int, items: list, params_ref, failed_out: list) -> list[dict]:
        """Train `items` ((client id, steps)) from `params_ref` in one pool call."""
        h = self.h
        ids = np.array(sorted(c for c, _ in items), np.int64)
        steps = dict(items)
        refs, records, failed, holders = h.pool.train(
            params_ref, version + 1, ids, h.sizes(ids), None, None, steps
        )
        failed_out += failed
        batch_of = {c: refs[i] for i, (_, held) in enumerate(holders) for c in held}
        self.trainer.update({c: w for w, held in holders for c in held})
        for rec in records:
            self.pending[rec["client_id"]] = (batch_of.get(rec["client_id"]), rec, version)
        return records

    def play(self, h: Handles, round_: int, params_ref):
        """Server step `round_`: train this interval's launches, apply the buffer, record."""
        start = time.perf_counter()
        interval = self.clock.next_interval()
        self.versions[interval.version] = params_ref
        failed: list = []
        if interval.launched:
            self._train(interval.version, interval.launched, params_ref, failed)
        records, refs, picks, weights = self._buffer(interval, round_)
        if h.scenario.secure_aggregation.protocol == "none":
            step = h.aggregator.buffer_step.remote(round_, picks, weights, *refs)
            server = _ask(h, step, "buffer_step")
        else:
            server = self._secure_step(round_, records, refs, picks, weights)
        params_ref = h.aggregator.params.remote()
        row, histograms = round_row(
            h, round_, server, records, failed, params_ref, len(interval.launched)
        )
        records += [{**rec, "round": round_, "status": rec["sim_reason"]} for rec in interval.lost]
        row.update(h.pool.take_faults())
        row.update(_clock_metrics(interval, self.clock, records))
        h.system.account(records, row)
        self._forget()
        self.versions[round_] = params_ref
        row["wall_seconds"] = time.perf_counter() - start
        return row, sorted(records, key=lambda r: r["client_id"]), histograms, params_ref

    def _buffer(self, interval: Interval, round_: int):
        """The buffer's worker records, and per batch the client ids and weights to apply."""
        records, by_ref = [], {}
        for rep in interval.buffer:
            held = self.pending.pop(rep["client_id"], None)
            if held is None:  # its worker was lost: recorded as failed when it trained
                continue
            ref, rec, _ = held
            records.append({**rec, **_clock_columns(rep), "round": round_})
            if ref is not None and rec.get("status") == "trained":
                ids, ws = by_ref.setdefault(id(ref), (ref, [], []))[1:]
                ids.append(rep["client_id"])
                ws.append(rep["staleness_weight"])
        groups = list(by_ref.values())
        return records, [g[0] for g in groups], [g[1] for g in groups], [g[2] for g in groups]

    def _secure_step(self, round_: int, records: list, refs: list, picks: list, weights: list):
        """Secure aggregation over the buffer (a SecAgg/SecAgg+ session per server step, among
        the buffer's members): the worker that trained each member masks its staleness-weighted
        update, and the Aggregator learns only the buffer's (bucket) sums."""
        cohort = np.array(sorted(c for ids in picks for c in ids), np.int64)
        parts: dict[int, list] = {}
        for ref, ids, ws in zip(refs, picks, weights, strict=True):
            by_worker: dict[int, tuple] = {}
            for c, w in zip(ids, ws, strict=True):
                held = by_worker.setdefault(self.trainer[c], ([], []))
                held[0].append(c)
                held[1].append(w)
            for worker, (cs, wcs) in by_worker.items():
                parts.setdefault(worker, []).append((ref, cs, wcs))
        holders = [(w, [c for _, cs, _ in parts[w] for c in cs]) for w in sorted(parts)]
        # Adaptive clipping's current S, which each member clips to before masking.
        server = None
        if carries_count(self.h.scenario):
            server = _ask(self.h, self.h.aggregator.server_message.remote(), "server_message")
        messages = [(cohort, parts[w], server) for w, _ in holders]
        adverts = [
            wrapped[0] for wrapped in self.h.pool.call(holders, "secagg_buffer", round_, messages)
        ]
        keys, attack = coordinate(self.h, round_, holders)  # a model attack's colluders
        adverts += [ref for wrapped in keys for ref in wrapped]
        return {**secure_step(self.h, round_, cohort, adverts, holders, records), **attack}

    def _forget(self) -> None:
        """Let go of parameter versions no update in flight needs any more."""
        needed = {v for *_, v in self.pending.values()}
        for v in [v for v in self.versions if v not in needed]:
            del self.versions[v]
        self.trainer = {c: w for c, w in self.trainer.items() if c in self.pending}

    def save_versions(self, round_: int) -> None:
        """Beside checkpoint `round_`: the parameters of every version still in flight."""
        needed = sorted({v for *_, v in self.pending.values()})
        if not needed:
            return
        timeout = self.h.scenario.resources.call_timeout
        arrays = {
            f"v{v}": calls.get(self.versions[v], timeout, "a model version in flight")
            for v in needed
        }
        folder = self.out / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_durably(folder / f"fedbuff_{round_:07d}.npz", buffer.getvalue())


def _clock_columns(rep: dict) -> dict:
    keys = (
        "sim_start",
        "sim_finish",
        "sim_reason",
        "sim_dropped_at",
        "local_steps",
        "model_version",
        "staleness",
    )
    return {k: rep[k] for k in keys}


def _clock_metrics(interval: Interval, clock: FedBuffClock, records: list[dict]) -> dict:
    tau = np.array([r["staleness"] for r in interval.buffer], dtype=np.float64)
    lost = [r["sim_reason"] for r in interval.lost]
    return {
        "virtual_seconds": interval.time,
        "staleness_mean": float(tau.mean()) if len(tau) else None,
        "staleness_max": int(tau.max()) if len(tau) else None,
        "clients_unavailable": lost.count("unavailable"),
        "clients_dropped": lost.count("dropped"),
        "clients_empty": lost.count("empty"),
        "clients_in_flight": len(clock.flight),
    }
