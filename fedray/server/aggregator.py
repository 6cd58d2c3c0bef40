"""The Aggregator: a Ray actor that owns the server state and evaluates the global model.

Update batches reach it as Ray object references, straight from the workers; the driver
only sees the small metrics it returns.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from fedray import calls, seeding
from fedray.attacks import frontier, runtime
from fedray.attacks.view import AttackView
from fedray.client.plan import client_plan, strategy_hints
from fedray.client.pool import answered
from fedray.client.train import evaluate, train_client
from fedray.compression import clients as compression
from fedray.data import build_federation, central_test_set
from fedray.data.federation import ClientData
from fedray.defenses import needs_root
from fedray.defenses.common import RoundContext
from fedray.models import build_model, unflatten
from fedray.server import audit, privacy, secure_dp
from fedray.server.buffer import buffered
from fedray.server.client_state import defense_tables, read_history, write_history
from fedray.server.secure import SecureRound, round_plan, session_params
from fedray.server.state import ServerState, make_aggregate, server_round
from fedray.strategies.scaffold import server_message
from fedray.types import UpdateBatch


class Aggregator:
    def __init__(self, scenario: dict, state: ServerState, store=None):
        """`store`: the ClientStateStore actor when clients keep variates (SCAFFOLD)."""
        from fedray.scenario import load_scenario

        self.scenario = load_scenario(scenario)
        self.state = state
        self.store = store
        # Built now, at actor start-up, so no round pays for loading the test split.
        torch.set_num_threads(1)
        self._test = central_test_set(self.scenario)
        x, _, num_classes = self._test
        m = self.scenario.model
        self._model = build_model(m.type, m.params, tuple(x.shape[1:]), num_classes)
        self._root = self._root_set() if needs_root(self.scenario.defense) else None
        self._malicious = runtime.adversary(self.scenario)
        self._sends_variate = bool(strategy_hints(self.scenario).get("control_variates"))
        self._secure = None  # this round's SecureRound, between its protocol stages
        self._audit_data = None  # privacy audits' member sample and local z, built on first use
        self._timeout = self.scenario.resources.call_timeout

    def reset(self, scenario: dict, state: ServerState, store=None) -> None:
        """Become a fresh Aggregator for another run, in this warm process."""
        self.__init__(scenario, state, store)

    def _root_set(self) -> ClientData:
        """FLTrust's clean root set: `defense.root_size` examples drawn once from the pooled
        training data (Cao et al. 2021 assume the server collects such a small set)."""
        x, y = build_federation(self.scenario).pooled_train()
        rng = seeding.rng(self.scenario.seed, purpose=seeding.ROOT)
        pick = np.sort(
            rng.choice(len(y), size=min(self.scenario.defense.root_size, len(y)), replace=False)
        )
        return ClientData(x[pick], y[pick], x[:0], y[:0])

    def _reference(self, round_: int) -> np.ndarray | None:
        """The server's own update on its root set, trained like a client's."""
        if self._root is None:
            return None
        s = self.scenario
        generator = seeding.torch_generator(s.seed, round_, 0, seeding.ROOT)
        update = train_client(
            self._model, self.state.params, -1, self._root, s.client, generator, torch.device("cpu")
        )
        return update.delta

    def step(self, round_: int, *batches: UpdateBatch) -> dict:
        """Aggregate round `round_`'s update batches into the global parameters."""
        if round_ != self.state.round + 1:
            raise RuntimeError(
                f"aggregator is at round {self.state.round}; asked to apply round {round_}"
            )
        dim = len(self.state.params)
        empty = UpdateBatch(
            np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
        )
        batch = UpdateBatch.concat(list(batches)) if batches else empty
        batch = compression.decode_batch(batch, dim)
        reference = self._reference(round_)
        view = self._attack_view(round_, reference)
        batch, attack = runtime.attack_batch(self.scenario, batch, self._malicious, round_, view)
        attack_state = attack.pop("attack_state", view.state)
        if runtime.active(self.scenario, round_):  # the adversary sends through the codec too
            bad = np.isin(batch.client_ids, self._malicious)
            batch = compression.recompress(self.scenario, round_, batch, bad)
        tables = defense_tables(self.scenario.defense) if self.store is not None else ()
        history = {t: read_history(self.store, t, batch.client_ids, self._timeout) for t in tables}
        self.state, metrics = server_round(
            self.state, batch, self.scenario, reference, history=next(iter(history.values()), None)
        )
        self.state = replace(self.state, attack_state=attack_state)
        for table, old in history.items():  # each kept client's history gains its update
            kept = ~np.isin(batch.client_ids, metrics["rejected_ids"])
            rows = old[kept] + batch.deltas[kept].astype(np.float32)
            write_history(self.store, table, batch.client_ids[kept], rows, self._timeout)
        metrics.update(attack)
        if runtime.active(self.scenario, round_) and "defense_selected_ids" in metrics:
            kept = np.isin(metrics["defense_selected_ids"], self._malicious)
            metrics["malicious_kept"] = int(kept.sum())
        if self.store is not None and "control_delta" in batch.extras:
            kept = batch.rows(~np.isin(batch.client_ids, metrics["rejected_ids"]))
            added = self.store.add.remote(kept.client_ids, kept.extras["control_delta"])
            calls.get(added, self._timeout, "the client state store (its add call)")
        if self.store is not None:
            kept = ~np.isin(batch.client_ids, metrics["rejected_ids"])
            for table, ids, rows in compression.state_writes(batch, kept):
                put = self.store.put.remote(table, ids, rows)
                calls.get(put, self._timeout, f"the client state store (its {table} write)")
        return metrics

    def _attack_view(self, round_: int, reference) -> AttackView:
        """What the adversary knows this round: the model, last aggregate, the defense in place
        (its queries draw from their own stream, so they leave the real rule's draws alone)."""
        s, state = self.scenario, self.state

        def defense(rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            # Client slot `population` names no client: no data-poisoning stream shares it.
            rng = seeding.rng(s.seed, round_, s.federation.population, seeding.ATTACK)
            ctx = RoundContext(rng, state.defense_state.get("previous"), reference)
            aggregate, _ = make_aggregate(s.defense, ctx)
            w = np.ones(len(rows)) if weights is None else np.asarray(weights, np.float64)
            return aggregate(np.asarray(rows, np.float32), w)

        memory = frontier.observe(s, state.attack_state, state.params, round_)
        previous = state.defense_state.get("previous")
        return AttackView(round_, s.seed, state.params, previous, defense, memory)

    def buffer_step(self, round_: int, picks: list, weights: list, *batches: UpdateBatch) -> dict:
        """FedBuff: apply server step `round_` to the buffered rows of `batches` (`picks[i]`
        from batch i), each scaled by its staleness weight; otherwise exactly `step`."""
        # Decoded first: a staleness weight scales what the client sent, not its payload.
        dim = len(self.state.params)
        decoded = [compression.decode_batch(b, dim) for b in batches]
        return self.step(round_, buffered(decoded, picks, weights))

    # Secure aggregation: the protocol's server half, stage by stage. Messages arrive as
    # lists of object references (one per worker; a lost worker's reply is a dropout) and
    # leave as one dict per worker group, client id -> what that client receives next.

    def secagg_begin(self, round_: int, cohort: np.ndarray) -> None:
        s, dim = self.scenario, len(self.state.params)
        dp = secure_dp.setup(s, round_, dim, privacy.clip_bound(s, self.state.privacy_state))
        self._secure = SecureRound(s, round_, round_plan(s, round_, cohort), dp)

    def secagg_keys(self, groups: list, *replies):
        return _split(self._secure.keys(_gather(replies, self._timeout)), groups)

    def secagg_shares(self, groups: list, *replies):
        return _split(self._secure.shares(_gather(replies, self._timeout)), groups)

    def secagg_masked(self, groups: list, *replies):
        masked = {}
        for part in answered(replies, self._timeout):
            masked.update(part)
        return _split(self._secure.masked(masked), groups)

    def secagg_signatures(self, groups: list, *replies):
        return _split(self._secure.signatures(_gather(replies, self._timeout)), groups)

    def secagg_step(self, round_: int, *replies) -> dict:
        """Unmask each bucket's sum and apply the round: the strategy and the defense see one
        row per bucket (its weighted mean); ids in the metrics are translated back to the
        bucket members, so a client is rejected or kept with its bucket."""
        if round_ != self.state.round + 1:
            raise RuntimeError(
                f"aggregator is at round {self.state.round}; asked to apply round {round_}"
            )
        batch, secure, members = self._secure.finish(_gather(replies, self._timeout))
        batch = compression.scatter_shared(self.scenario, round_, batch, len(self.state.params))
        unclipped, self._secure = self._secure.unclipped, None
        # The adversary's memory of the public global models (Neurotoxin's w_{r-1}).
        memory = frontier.observe(self.scenario, self.state.attack_state, self.state.params, round_)
        self.state, metrics = server_round(
            self.state,
            batch,
            self.scenario,
            self._reference(round_),
            secure["secagg_survivors"],
            unclipped=unclipped,
        )
        self.state = replace(self.state, attack_state=memory)
        for key in ("rejected_ids", "defense_selected_ids"):
            if key in metrics:
                metrics[key] = [c for b in metrics[key] for c in members.get(int(b), [])]
        if runtime.active(self.scenario, round_) and "defense_selected_ids" in metrics:
            kept = np.isin(metrics["defense_selected_ids"], self._malicious)
            metrics["malicious_kept"] = int(kept.sum())
        return {**metrics, **secure}

    def account_local(self, ids: list, zs: list, qs: list, steps: list) -> dict:
        """Add a round's local DP-SGD steps to the clients' running totals; return epsilons."""
        ledger = privacy.record_local(self.scenario, self.state.privacy_state, ids, zs, qs, steps)
        self.state = replace(self.state, privacy_state=ledger)
        return privacy.local_metrics(self.scenario, ledger)

    def privacy_projection(self, cohort_steps: tuple | None = None) -> float:
        """Epsilon if the next round runs: user level, one more step at the nominal z; local,
        the largest over the cohort's clients after their planned steps."""
        s, ledger = self.scenario, self.state.privacy_state
        if s.privacy.mode in privacy.USER_LEVEL:
            curve = None
            if secure_dp.is_integer(s):  # at the fewest survivors that release a sum, t
                t = session_params(s.secure_aggregation, s.federation.clients_per_round).threshold
                dim, clip = len(self.state.params), privacy.clip_bound(s, ledger)
                curve = secure_dp.ledger_curve(s, dim, clip, t)
            return privacy.user_epsilon(s, ledger, privacy.worst_noise_multiplier(s), curve)
        return privacy.local_projection(s, ledger, *cohort_steps)

    def params(self) -> np.ndarray:
        return self.state.params

    def server_message(self) -> dict:
        """What clients receive besides the parameters (SCAFFOLD's server variate, Neurotoxin's
        mask)."""
        out = {}
        if self._sends_variate:  # SCAFFOLD's c; not d zeros for other strategies
            out.update(server_message(self.state.strategy_state, len(self.state.params)))
        if secure_dp.carries_count(self.scenario):  # adaptive clipping: clients clip to S
            out["clip"] = privacy.clip_bound(self.scenario, self.state.privacy_state)
        out.update(
            frontier.client_message(self.scenario, self.state.attack_state, self.state.params)
        )
        return out

    def server_state(self) -> ServerState:
        """The state to checkpoint; the client store checkpoints its own files."""
        return self.state

    def evaluate(self) -> dict:
        """Accuracy and loss of the global model on the central test split."""
        x, y, _ = self._test
        unflatten(self._model, self.state.params)
        acc, loss, n = evaluate(
            self._model, x, y, self.scenario.evaluation.batch_size, torch.device("cpu")
        )
        attack = runtime.attack_metrics(self.scenario, self._predict, x, y, tuple(x.shape[1:]))
        return {
            "test_accuracy": acc,
            "test_loss": loss,
            "test_examples": n,
            **attack,
            **self._audit(),
        }

    def _audit(self) -> dict:
        """Membership inference and gradient inversion, when `privacy.audit` asks for them."""
        s = self.scenario
        a = s.privacy.audit
        if not (a.membership or a.inversion):
            return {}
        if self._audit_data is None:  # built at the first audit, from the rounds so far
            federation = build_federation(s)
            members, others = audit.audit_sample(
                federation, s, a.membership_examples, self.state.round
            )
            if others is None:  # no local test splits: the central one stands in
                others = self._test[:2]
            z = client_plan(s, federation.sizes).dp_noise_multiplier
            self._audit_data = (members, others, z)
        members, others, z = self._audit_data
        out = {}
        if a.membership:
            out.update(
                audit.membership(
                    self._model, members, others, a.membership_examples, s.evaluation.batch_size
                )
            )
        if a.inversion:
            out.update(audit.inversion(self._model, s, members, self.state.round, z))
        return out

    @torch.no_grad()
    def _predict(self, x: np.ndarray) -> np.ndarray:
        self._model.eval()
        return self._model(torch.as_tensor(x)).argmax(1).numpy()


def _gather(replies, timeout: float) -> list:
    """The workers' replies to a protocol stage; one that does not come in time is a dropout."""
    return [item for part in answered(replies, timeout) for item in part]


def _split(per_client: dict, groups: list):
    """One dict per worker group (a single one bare, as Ray returns one value unwrapped)."""
    parts = tuple({c: per_client[c] for c in ids if c in per_client} for ids in groups)
    return parts[0] if len(parts) == 1 else parts
