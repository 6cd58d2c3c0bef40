"""Secure aggregation on a worker: the client sessions of its share of one round.

A client that finished training encodes its update (clip, weight, stochastic rounding)
and keeps it here with its `ClientSession` (secret keys, its seed b_u); only public keys,
encrypted shares, a masked vector and unmasking shares ever leave. Simulated dropout
decides, per client and seeded, the stage at which it goes silent.
"""

from __future__ import annotations

import numpy as np

from fedray import seeding
from fedray.secagg import keys, pki
from fedray.secagg.client import ClientSession
from fedray.secagg.dishonest import Collusion
from fedray.secagg.encoding import quantize
from fedray.secagg.messages import SecAggAbort
from fedray.server.secure import STAGES, client_units, colluders, round_plan
from fedray.system.clock import cohort_size

NONFINITE = "rejected: non-finite update"


def drop_stage(seed: int, round_: int, client_id: int, dropout) -> str | None:
    """The first protocol stage at which this client goes silent this round, or None.

    Each stage it reaches, it drops with that stage's probability (`secure_aggregation.dropout`).
    """
    draws = seeding.rng(seed, round_, client_id, seeding.DROPOUT).random(len(STAGES))
    for stage, u in zip(STAGES, draws):
        if u < getattr(dropout, stage):
            return stage
    return None


class SecureClients:
    """This worker's clients in the current round's protocol, by client id."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.round = 0
        self._plan = None
        self._colluders: set[int] = set()
        self.registry = pki.DerivedPki(
            lambda c: seeding.rng(scenario.seed, seeding.NO_ROUND, c, seeding.SECAGG).bytes(32)
        )
        self._clear()

    def _clear(self) -> None:
        self.sessions: dict[int, ClientSession] = {}
        self.inputs: dict[int, np.ndarray] = {}  # encoded updates, until they leave masked
        self.drops_at: dict[int, str | None] = {}  # the stage each client goes silent at
        self.dropped: dict[int, str] = {}  # the stage (and why) each one did
        self.rejected: set[int] = set()  # non-finite updates, refused before encoding
        self.views: dict[int, list[int]] = {}  # the survivor set each client signed

    def _reset(self, round_: int) -> None:
        if round_ != self.round:  # a new round: whatever an earlier one left is dead
            s = self.scenario
            # Over-committed rounds ask more clients; those the clock keeps out never send
            # their keys, so the protocol sees them as dropouts before advertising.
            fed = s.federation
            count = cohort_size(s.system, fed.clients_per_round, fed.population)
            self.open(
                round_,
                seeding.sample_clients(s.seed, round_, fed.population, count, seeding.SAMPLE),
            )

    def open(self, round_: int, cohort: np.ndarray) -> None:
        """Start round `round_`'s protocol among `cohort`: a synchronous round's sample, or
        the members of one FedBuff buffer (a session per buffer, opened when it fills)."""
        self.round = round_
        self._clear()
        self._plan = round_plan(self.scenario, round_, cohort)
        if self.scenario.secure_aggregation.server_attack == "drop_honest":
            self._colluders = colluders(self.scenario, round_, self._plan)

    def _alive(self, client_id: int, stage: str) -> bool:
        """False once the client has dropped; drops it here if this is its stage."""
        if client_id in self.dropped:
            return False
        if self.drops_at[client_id] == stage:
            self.dropped[client_id] = stage
            return False
        return True

    def start(
        self, round_: int, client_id: int, delta: np.ndarray, num_examples: int, encoded=None
    ) -> list:
        """Encode a trained client's update and open its session; return its public keys
        ([] when it drops before advertising them), and under a simulated server attack what
        it leaks to the server (`Collusion`). `encoded`: the update already encoded for the
        sum (integer-domain DP, adaptive clipping's bit; `fedray.server.secure_dp`)."""
        self._reset(round_)
        if not np.isfinite(delta).all():  # as the server screens plaintext rows: never sent
            self.rejected.add(client_id)
            return []
        s = self.scenario
        cfg = s.secure_aggregation
        units, max_units = client_units(cfg, num_examples)
        rng = seeding.rng(s.seed, round_, client_id, seeding.QUANTIZE)
        self.inputs[client_id] = (
            encoded
            if encoded is not None
            else quantize(
                delta,
                units=units,
                max_units=max_units,
                clip=cfg.clip,
                bits=cfg.bits,
                modulus_bits=cfg.modulus_bits,
                rng=rng,
            )
        )
        self.sessions[client_id] = self._session(round_, client_id)
        self.drops_at[client_id] = drop_stage(s.seed, round_, client_id, cfg.dropout)
        if not self._alive(client_id, "advertise"):
            return []
        return [self.sessions[client_id].advertise(), *self._leaks(round_, client_id)]

    def _session(self, round_: int, client_id: int, context_round: int | None = None):
        params = self._plan.params_of(client_id)
        context = (
            round_ if context_round is None else context_round,
            self._plan.bucket_of(client_id),
        )
        identity = self.registry.identity(client_id) if params.malicious else None
        return ClientSession(
            client_id, params, identity=identity, registry=self.registry, context=context
        )

    def _leaks(self, round_: int, client_id: int) -> list:
        """The simulated attacker's side channel: a colluder's input, or old leaked keys."""
        attack = self.scenario.secure_aggregation.server_attack
        if attack == "drop_honest" and client_id in self._colluders:
            return [Collusion(client_id, "input", self.inputs[client_id])]
        if attack == "replay_keys":  # its advert of an earlier round, and that round's secrets
            old = self._session(round_, client_id, context_round=round_ - 1)
            secrets = (keys.private_bytes(old._c), keys.private_bytes(old._s))
            return [Collusion(client_id, "old_keys", (old.advertise(), secrets))]
        return []

    def share(self, round_: int, neighbour_keys: dict) -> list:
        """Each live client's encrypted shares of b_u and its masking key for its neighbours."""
        out = []
        for cid, routed_keys in self._mine(round_, neighbour_keys, "share"):
            try:
                out += self.sessions[cid].share_keys(routed_keys)
            except SecAggAbort as exc:  # too few neighbours left to share with
                self.dropped[cid] = f"share ({exc})"
        return out

    def mask(self, round_: int, routed: dict) -> dict:
        """Each live client's masked input, from the shares its neighbours sent it."""
        return {
            cid: self.sessions[cid].masked_input(self.inputs.pop(cid), received)
            for cid, received in self._mine(round_, routed, "masked_input")
        }

    def sign(self, round_: int, views: dict) -> list:
        """Consistency round (malicious): each live client signs the survivor set it was told."""
        out = []
        for cid, view in self._mine(round_, views, "unmask"):
            try:
                out.append(self.sessions[cid].consistency(view))
                self.views[cid] = view
            except SecAggAbort as exc:  # caught the server claiming too few survivors
                self.dropped[cid] = f"consistency ({exc})"
        return out

    def unmask(self, round_: int, messages: dict) -> list:
        """Each live client's shares for the server: b of survivors, masking keys of the rest.
        `messages`: client -> its survivor set, or (malicious) the survivors' signatures on it."""
        out = []
        for cid, msg in self._mine(round_, messages, "unmask"):
            session = self.sessions[cid]
            try:
                if session.params.malicious:
                    out.append(session.unmask(self.views[cid], msg))
                else:
                    out.append(session.unmask(msg))
            except SecAggAbort as exc:  # too few survivors, or it caught the server lying
                self.dropped[cid] = f"unmask ({exc})"
        return out

    def _mine(self, round_: int, messages: dict, stage: str):
        if round_ != self.round:
            return []
        return [
            (cid, messages[cid])
            for cid in sorted(self.sessions)
            if cid in messages and self._alive(cid, stage)
        ]

    def finish(self, round_: int) -> dict[int, dict]:
        """Per-client protocol records (bytes, seconds, stage dropped at); forget the round."""
        if round_ != self.round:
            return {}
        out = {
            cid: {
                "secagg_bytes_up": int(sess.stats.get("bytes_up", 0)),
                "secagg_bytes_down": int(sess.stats.get("bytes_down", 0)),
                "secagg_seconds": float(sess.stats.get("seconds", 0.0)),
                "secagg_dropped_at": self.dropped.get(cid, ""),
            }
            for cid, sess in self.sessions.items()
        }
        out.update({cid: {"secagg_dropped_at": NONFINITE} for cid in self.rejected})
        self._clear()
        return out
