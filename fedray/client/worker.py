"""The Worker: a Ray actor that trains many virtual clients per call.

It builds its model and data from the scenario's names when it starts and keeps them for
the whole run; per call it receives the global parameters (one shared object) and a list of
client ids, and returns one stacked `UpdateBatch` plus small per-client records.
"""

from __future__ import annotations

import logging
import os
import socket

import numpy as np
import ray
import torch

from fedray import backend, seeding
from fedray.attacks import runtime
from fedray.client.plan import client_plan
from fedray.client.train import evaluate, train_client
from fedray.client.vectorized import block_size_for, blocks, choose, train_block
from fedray.compression import clients as compression
from fedray.data import build_federation
from fedray.models import build_model, unflatten
from fedray.server.privacy import USER_LEVEL
from fedray.server.secure_dp import private_client
from fedray.types import ClientUpdate

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, scenario: dict, own_clients: list[int] | None = None):
        from fedray.scenario import load_scenario

        self.scenario = load_scenario(scenario)
        res = self.scenario.resources
        # One intra-op thread per CPU the worker holds: more would fight the other workers,
        # and a fixed count keeps float results identical from run to run.
        torch.set_num_threads(max(1, int(res.num_cpus)))
        use_cuda = res.num_gpus > 0 and torch.cuda.is_available()
        self.device = torch.device("cuda" if use_cuda else "cpu")
        # Rebuilt here from names and the seed (the same partition the driver drew), so no
        # large object is shipped to or pinned for each actor.
        self.federation = build_federation(self.scenario)
        self.model = build_model(
            self.scenario.model.type,
            self.scenario.model.params,
            self.federation.input_shape,
            self.federation.num_classes,
        ).to(self.device)
        self.plan = client_plan(self.scenario, self.federation.sizes)
        self.malicious = set(runtime.adversary(self.scenario).tolist())
        self.secure = None
        self._server = None  # the round's server message, under secure aggregation
        if self.scenario.secure_aggregation.protocol != "none":
            from fedray.client.colluders import Colluders
            from fedray.client.secure import SecureClients

            self.secure = SecureClients(self.scenario)
            self.colluders = Colluders(self.scenario, self.malicious)
        # Cross-silo: each client trains alone on its own actor; blocks would buy nothing.
        mode = "off" if own_clients else self.scenario.client.vectorize
        self.vectorize, self.vectorize_reason = choose(
            mode, self.model, self.plan, self.federation.input_shape
        )
        if mode == "auto" and not self.vectorize:
            log.warning(
                "client.vectorize: auto trains one client at a time: %s", self.vectorize_reason
            )
        if not self.vectorize:  # vectorised blocks use no torch.optim: nothing to warm up
            self._warm_up()
        # Cross-silo: a worker pinned to its own clients holds their data for the whole run.
        self._held = {c: self.federation.client(c) for c in (own_clients or [])}

    def reset(self, scenario: dict, own_clients: list[int] | None = None) -> None:
        """Become a fresh worker for another run's scenario, in this warm process."""
        self.__init__(scenario, own_clients)

    def _warm_up(self) -> None:
        """Take one optimizer step on a throwaway copy of the model.

        torch spends most of a second on its first backward pass and optimizer step in a
        process (building a torch.optim optimizer imports torch._dynamo, 1.8 s of CPU);
        paying it here keeps it in start-up, out of round 1's time.
        """
        import copy

        from fedray.client.train import make_optimizer

        model = copy.deepcopy(self.model)
        optimizer = make_optimizer(model, self.scenario.client)
        x = torch.zeros((1, *self.federation.input_shape), device=self.device)
        torch.nn.functional.cross_entropy(
            model(x), torch.zeros(1, dtype=torch.long, device=self.device)
        ).backward()
        optimizer.step()

    def _client(self, client_id: int):
        held = self._held.get(client_id)
        return held if held is not None else self.federation.client(client_id)

    def info(self) -> dict:
        """Where this worker runs: node (id, IP, host name), pid, GPU ids Ray assigned, torch
        device."""
        if self.scenario.resources.backend == "local":  # in the driver's process
            node, ip, gpus = "local", "127.0.0.1", _visible_gpus(self.device)
        else:
            node = ray.get_runtime_context().get_node_id()
            ip, gpus = ray.util.get_node_ip_address(), [str(g) for g in ray.get_gpu_ids()]
        return {
            "node_id": node,
            "ip": ip,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "gpu_ids": gpus,
            "device": str(self.device),
            # Downlink compression starts each client from its own copy: the loop (see _fit).
            "vectorized": self.vectorize and self.scenario.compression.downlink.type == "none",
            "vectorize_reason": self.vectorize_reason
            if self.scenario.compression.downlink.type == "none"
            else "downlink compression: each client starts from its own copy of the model",
        }

    def train(
        self,
        params: np.ndarray,
        round_: int,
        client_ids: list[int],
        server=None,
        states=None,
        steps: dict | None = None,
    ):
        """Train each client from `params`; return (UpdateBatch, per-client records).

        Under secure aggregation the first item is instead the list of the clients' public
        keys: each update stays here, encoded, until it leaves masked (`secagg_mask`).

        Args:
            server: what the server sends besides the parameters (SCAFFOLD: {"c": (d,)}).
            states: (ids (k,), (k, d)) persisted client variates for the round's cohort.
            steps: {client id: local steps} for clients the virtual clock cuts short
                (partial work); the others train their full epochs.
        """
        records, jobs = [], []
        # Once for the share: the blocks are cut by these, and a generated federation keeps
        # them for generating each client.
        ids = np.sort(np.asarray(client_ids, np.int64))
        sizes = self.federation.sizes(ids)
        for cid in client_ids:
            record, job = self._prepare(round_, cid, server, states)
            records.append(record)
            if job is not None:
                jobs.append(job)
        starts = {job[0]: self._download(round_, params, job[0], states) for job in jobs}
        if self.scenario.compression.downlink.type == "none":
            updates = self._fit(params, ids, sizes, jobs, steps or {})
        else:
            updates = self._fit_each(jobs, lambda cid: starts[cid][0], steps or {})
        updates, payloads = self._upload(round_, updates, starts, states, len(params))
        by_id = {u.client_id: u for u in updates}
        for record in records:
            if record["client_id"] in by_id:
                record.update(status="trained", **by_id[record["client_id"]].metrics)
        if self.secure is not None and self.scenario.system.mode != "async":
            return self._advertise(round_, updates, server), records
        # FedBuff under secure aggregation: the update waits in the object store, where only
        # workers read it, until its buffer fills and its session opens (`secagg_buffer`).
        return compression.wire_batch(updates, payloads, len(params)), records

    def _download(self, round_: int, params: np.ndarray, cid: int, states) -> tuple:
        """(the model client `cid` starts from, bytes it downloaded): its copy plus the
        server's compressed delta with downlink compression, else the global model."""
        copy = None
        if states is not None and compression.COPY in states:
            ids, rows = states[compression.COPY]
            at = int(np.searchsorted(ids, cid))
            copy = rows[at] if states[f"{compression.COPY}_known"][at] else None
        return compression.download(self.scenario, round_, cid, params, copy)

    def _upload(self, round_: int, updates: list, starts: dict, states, dim: int) -> tuple:
        """Compress each update (with its residual under error feedback); return the updates as
        the server will decode them, and their payloads (None when uncompressed)."""
        residuals = states.get(compression.RESIDUAL) if states is not None else None
        # SCAFFOLD's variates travel beside the model both ways, as float32.
        beside = compression.dense_bytes(dim) if self.plan.control_variates else 0
        out, payloads = [], []
        for u in updates:
            own = None
            if residuals is not None:
                own = residuals[1][int(np.searchsorted(residuals[0], u.client_id))]
            payload, u = compression.upload(self.scenario, round_, u, own)
            if self.secure is not None:  # its update leaves masked: secagg_bytes_up counts it
                del u.metrics["bytes_up"]
            start, down = starts[u.client_id]
            if "bytes_up" in u.metrics:
                u.metrics["bytes_up"] += beside
            u.metrics["bytes_down"] = down + beside
            if self.scenario.compression.downlink.type != "none":
                u.extras[compression.COPY] = start
            out.append(u)
            payloads.append(payload)
        return out, payloads

    def _prepare(self, round_: int, cid: int, server, states) -> tuple[dict, tuple | None]:
        """A client's record, and what training it needs: (id, data, generator, control, keep),
        with a malicious client's data already poisoned and its step mask (Neurotoxin) in
        `keep`; None for an empty client."""
        data = self._client(cid)
        record = {
            "client_id": cid,
            "round": round_,
            "num_examples": len(data.y_train),
            "label_histogram": np.bincount(
                data.y_train, minlength=self.federation.num_classes
            ).tolist(),
        }
        if len(data.y_train) == 0:  # nothing to learn from: not trained, not sent
            empty = {"status": "empty", "train_loss": np.nan, "update_norm": np.nan, "seconds": 0.0}
            return {**record, **empty}, None
        keep = None
        if cid in self.malicious and runtime.active(self.scenario, round_):
            fed = self.federation
            data = runtime.poison_data(
                self.scenario, data, cid, round_, fed.num_classes, fed.input_shape
            )
            keep = (server or {}).get(runtime.STEP_MASK)
        generator = seeding.torch_generator(self.scenario.seed, round_, cid, seeding.TRAIN)
        control = None
        if self.plan.control_variates:
            ids, rows = states["control"]
            own = rows[int(np.searchsorted(ids, cid))]
            control = (server["c"], own)
        return record, (cid, data, generator, control, keep)

    def _fit_each(self, jobs: list[tuple], start, caps: dict) -> list:
        """Train the prepared clients one by one, client `cid` from `start(cid)`: the global
        model, or with downlink compression its own copy (a vectorised block starts from one)."""
        cfg = self.scenario.client
        return [
            train_client(
                self.model,
                start(cid),
                cid,
                data,
                cfg,
                gen,
                self.device,
                self.plan,
                ctl,
                caps.get(cid),
                keep,
            )
            for cid, data, gen, ctl, keep in jobs
        ]

    def _fit(
        self, params: np.ndarray, ids: np.ndarray, sizes: np.ndarray, jobs: list[tuple], caps: dict
    ) -> list:
        """Train the prepared clients, in blocks cut from the sorted share `ids` by their
        `sizes` when vectorised (the pool hands out whole blocks, so they are the blocks of the
        cohort), else one by one; return their ClientUpdates."""
        cfg = self.scenario.client
        if not self.vectorize:
            return self._fit_each(jobs, lambda cid: params, caps)
        by_id = {job[0]: job for job in jobs}
        updates = []
        # Empty clients are dropped after cutting, so a block is the same on every worker.
        size = block_size_for(cfg.block_size, self.scenario.federation.clients_per_round)
        # Cut as the pool cut them (by training size), so a worker count changes no bit.
        for block in blocks(ids, size, sizes):
            items = [by_id[int(c)] for c in block if int(c) in by_id]
            if not items:
                continue
            members, datas, gens, ctls, keeps = (list(x) for x in zip(*items))
            controls = ctls if self.plan.control_variates else None
            cut = [caps.get(c) for c in members] if caps else None
            updates += train_block(
                self.model,
                params,
                members,
                datas,
                cfg,
                gens,
                self.device,
                self.plan,
                controls,
                cut,
                keeps,
            )
        return updates

    def _advertise(self, round_: int, updates: list, server=None) -> list:
        """Encode each update into its client's secure-aggregation session; return public keys.

        A malicious client boosts its own update here (model replacement): the server could
        not do it for the adversary on a masked vector, and clipping then bounds the boost.
        `server`: what the server sent this round (adaptive clipping's current S), kept for
        the colluders' crafted rows, which open their sessions later (`secagg_collude`).
        """
        self._server = server
        if not updates:
            return []
        keys = []
        # Random-k with a cohort-shared seed: only the shared coordinates are masked and summed.
        shared = compression.shared_indices(self.scenario, round_, len(updates[0].delta))
        for u in updates:
            delta = u.delta if shared is None else u.delta[shared]
            # A model attack's colluders craft this row first (fedray.client.colluders).
            if not self.colluders.hold(round_, u.client_id, delta, u.num_examples):
                keys += self._start_secure(round_, u.client_id, delta, u.num_examples)
        return keys

    def _start_secure(self, round_: int, cid: int, delta: np.ndarray, num_examples: int) -> list:
        """Boost (malicious), clip and noise (user-level DP), open its session; its public
        keys. Under the integer mechanism or adaptive clipping the client encodes its own
        vector (`fedray.server.secure_dp.private_client`)."""
        if cid in self.malicious and runtime.active(self.scenario, round_):
            delta = delta * np.float32(self.scenario.attack.boost)
        encoded = None
        if self.scenario.privacy.mode in USER_LEVEL:
            delta, encoded = private_client(self.scenario, round_, cid, delta, self._server)
        return self.secure.start(round_, cid, delta, num_examples, encoded)

    def collude_rows(self, round_: int) -> dict:
        """The malicious clients' own updates held this round, for the colluders' coordinator."""
        return self.colluders.rows(round_) if self.secure is not None else {}

    def secagg_collude(self, round_: int, crafted: dict) -> list:
        """Open the held malicious clients' sessions with their crafted rows; their keys."""
        keys = []
        if self.secure is None:  # restarted without secure aggregation: holds nothing
            return keys
        for cid, row, num_examples in self.colluders.release(round_, crafted):
            keys += self._start_secure(round_, cid, row, num_examples)
        return keys

    def secagg_buffer(self, round_: int, message: tuple) -> list:
        """FedBuff server step `round_`: open the buffer's secure session (`message`: the
        buffer's members, and the parts this worker's clients hold: (batch ref, client ids,
        staleness weights)). Each client masks its update times its staleness weight, so the
        server's sum is the buffer's weighted sum. Returns the clients' public keys."""
        if self.secure is None:  # restarted without secure aggregation: its clients drop out
            return []
        cohort, parts, server = message
        self.secure.open(round_, np.asarray(cohort, np.int64))
        updates = []
        for ref, ids, weights in parts:
            batch = backend.get(ref)
            where = {int(c): i for i, c in enumerate(batch.client_ids)}
            for cid, w in zip(ids, weights, strict=True):
                i = where[int(cid)]
                delta = batch.deltas[i] if w == 1 else batch.deltas[i] * np.float32(w)
                updates.append(ClientUpdate(int(cid), delta, int(batch.num_examples[i])))
        return self._advertise(round_, sorted(updates, key=lambda u: u.client_id), server)

    # The protocol's later stages. A worker lost mid-round comes back as a fresh process that
    # holds no session; on a reused pool Ray restarts it with the first run's scenario, which
    # may have no secure aggregation at all. Either way it answers with nothing, and the
    # clients it held count as dropouts.

    def secagg_share(self, round_: int, neighbour_keys: dict) -> list:
        return self.secure.share(round_, neighbour_keys) if self.secure else []

    def secagg_mask(self, round_: int, routed: dict) -> dict:
        return self.secure.mask(round_, routed) if self.secure else {}

    def secagg_sign(self, round_: int, views: dict) -> list:
        return self.secure.sign(round_, views) if self.secure else []

    def secagg_unmask(self, round_: int, survivors: dict) -> list:
        return self.secure.unmask(round_, survivors) if self.secure else []

    def secagg_finish(self, round_: int) -> dict:
        return self.secure.finish(round_) if self.secure else {}

    def evaluate(self, params: np.ndarray, client_ids: list[int]) -> list[dict]:
        """Evaluate `params` on each client's local test split."""
        unflatten(self.model, params)
        out = []
        for cid in client_ids:
            data = self._client(cid)
            acc, loss, n = evaluate(
                self.model,
                data.x_test,
                data.y_test,
                self.scenario.evaluation.batch_size,
                self.device,
            )
            out.append({"client_id": cid, "accuracy": acc, "loss": loss, "num_examples": n})
        return out


def _visible_gpus(device: torch.device) -> list[str]:
    """The GPU a worker in the driver's process uses (`resources.backend: local`), by the
    index CUDA gives it; none on a CPU."""
    if device.type != "cuda":
        return []
    return [str(torch.cuda.current_device() if device.index is None else device.index)]
