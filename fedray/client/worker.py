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

from fedray import seeding
from fedray.attacks import runtime
from fedray.client.plan import client_plan
from fedray.client.train import evaluate, train_client
from fedray.client.vectorized import block_size_for, blocks, choose, train_block
from fedray.data import build_federation
from fedray.models import build_model, unflatten
from fedray.server.privacy import USER_LEVEL, client_noise, noise_rng
from fedray.types import UpdateBatch

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
        if self.scenario.secure_aggregation.protocol != "none":
            from fedray.client.secure import SecureClients

            self.secure = SecureClients(self.scenario)
        self._warm_up()
        # Cross-silo: each client trains alone on its own actor; blocks would buy nothing.
        mode = "off" if own_clients else self.scenario.client.vectorize
        self.vectorize, self.vectorize_reason = choose(
            mode, self.model, self.plan, self.federation.input_shape
        )
        if mode == "auto" and not self.vectorize:
            log.warning(
                "client.vectorize: auto trains one client at a time: %s", self.vectorize_reason
            )
        # Cross-silo: a worker pinned to its own clients holds their data for the whole run.
        self._held = {c: self.federation.client(c) for c in (own_clients or [])}

    def reset(self, scenario: dict, own_clients: list[int] | None = None) -> None:
        """Become a fresh worker for another run's scenario, in this warm process."""
        self.__init__(scenario, own_clients)

    def _warm_up(self) -> None:
        """Take one optimizer step on a throwaway copy of the model.

        torch spends most of a second on its first backward pass and optimizer step in a
        process; paying it here keeps it in start-up, out of round 1's time.
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
        ctx = ray.get_runtime_context()
        return {
            "node_id": ctx.get_node_id(),
            "ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "device": str(self.device),
            "vectorized": self.vectorize,
            "vectorize_reason": self.vectorize_reason,
        }

    def train(
        self, params: np.ndarray, round_: int, client_ids: list[int], server=None, states=None
    ):
        """Train each client from `params`; return (UpdateBatch, per-client records).

        Under secure aggregation the first item is instead the list of the clients' public
        keys: each update stays here, encoded, until it leaves masked (`secagg_mask`).

        Args:
            server: what the server sends besides the parameters (SCAFFOLD: {"c": (d,)}).
            states: (ids (k,), (k, d)) persisted client variates for the round's cohort.
        """
        records, jobs = [], []
        for cid in client_ids:
            record, job = self._prepare(round_, cid, server, states)
            records.append(record)
            if job is not None:
                jobs.append(job)
        updates = self._fit(params, client_ids, jobs)
        by_id = {u.client_id: u for u in updates}
        for record in records:
            if record["client_id"] in by_id:
                record.update(status="trained", **by_id[record["client_id"]].metrics)
        if self.secure is not None:
            return self._advertise(round_, updates), records
        return UpdateBatch.stack(updates, len(params)), records

    def _prepare(self, round_: int, cid: int, server, states) -> tuple[dict, tuple | None]:
        """A client's record, and what training it needs: (id, data, generator, control),
        with a malicious client's data already poisoned; None for an empty client."""
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
        if cid in self.malicious and runtime.active(self.scenario, round_):
            fed = self.federation
            data = runtime.poison_data(
                self.scenario, data, cid, round_, fed.num_classes, fed.input_shape
            )
        generator = seeding.torch_generator(self.scenario.seed, round_, cid, seeding.TRAIN)
        control = None
        if self.plan.control_variates:
            own = states[1][int(np.searchsorted(states[0], cid))]
            control = (server["c"], own)
        return record, (cid, data, generator, control)

    def _fit(self, params: np.ndarray, client_ids: list[int], jobs: list[tuple]) -> list:
        """Train the prepared clients, in blocks cut from the sorted share when vectorised
        (the pool hands out whole blocks, so they are the blocks of the cohort), else one by
        one; return their ClientUpdates."""
        cfg = self.scenario.client
        if not self.vectorize:
            return [
                train_client(self.model, params, cid, data, cfg, gen, self.device, self.plan, ctl)
                for cid, data, gen, ctl in jobs
            ]
        by_id = {job[0]: job for job in jobs}
        updates = []
        # Empty clients are dropped after cutting, so a block is the same on every worker.
        size = block_size_for(cfg.block_size, self.scenario.federation.clients_per_round)
        for block in blocks(np.sort(np.asarray(client_ids, np.int64)), size):
            items = [by_id[int(c)] for c in block if int(c) in by_id]
            if not items:
                continue
            ids, datas, gens, ctls = (list(x) for x in zip(*items))
            controls = ctls if self.plan.control_variates else None
            updates += train_block(
                self.model, params, ids, datas, cfg, gens, self.device, self.plan, controls
            )
        return updates

    def _advertise(self, round_: int, updates: list) -> list:
        """Encode each update into its client's secure-aggregation session; return public keys.

        A malicious client boosts its own update here (model replacement): the server could
        not do it for the adversary on a masked vector, and clipping then bounds the boost.
        """
        keys = []
        for u in updates:
            delta = u.delta
            if u.client_id in self.malicious and runtime.active(self.scenario, round_):
                delta = delta * np.float32(self.scenario.attack.boost)
            if self.scenario.privacy.mode in USER_LEVEL:
                noise = noise_rng(self.scenario, round_, u.client_id)
                delta = client_noise(self.scenario, delta, noise)
            keys += self.secure.start(round_, u.client_id, delta, u.num_examples)
        return keys

    def secagg_share(self, round_: int, neighbour_keys: dict) -> list:
        return self.secure.share(round_, neighbour_keys)

    def secagg_mask(self, round_: int, routed: dict) -> dict:
        return self.secure.mask(round_, routed)

    def secagg_sign(self, round_: int, views: dict) -> list:
        return self.secure.sign(round_, views)

    def secagg_unmask(self, round_: int, survivors: dict) -> list:
        return self.secure.unmask(round_, survivors)

    def secagg_finish(self, round_: int) -> dict:
        return self.secure.finish(round_)

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
