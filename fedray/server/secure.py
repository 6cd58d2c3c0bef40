"""Secure aggregation on the server's side of a round: buckets, protocol parameters, and the
per-bucket SecAgg sessions whose only output is each bucket's sum.

The round's plan (which bucket each sampled client is in, t and k per bucket) is a pure
function of the scenario and the round, so workers derive the same plan without a message.
With `buckets: 0` the cohort is one bucket. Every bucket runs its own protocol instance;
a bucket whose survivors fall below t is dropped from the round (`SecAggAbort`), and the
strategy sees one row per finished bucket: its weighted mean, weighted by its total weight.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from fedray import seeding
from fedray.secagg.dishonest import Collusion, DishonestServer
from fedray.secagg.encoding import dequantize
from fedray.secagg.graph import choose_parameters, insecurity
from fedray.secagg.messages import Params, SecAggAbort
from fedray.secagg.server import ServerSession
from fedray.server import privacy, secure_dp
from fedray.types import UpdateBatch

STAGES = ("advertise", "share", "masked_input", "unmask")


@dataclass(frozen=True)
class RoundPlan:
    """Who is in which bucket this round, and each bucket's protocol parameters."""

    cohort: np.ndarray  # (n,) int64 sampled client ids, ascending
    bucket: np.ndarray  # (n,) bucket index of each cohort member
    params: tuple[Params, ...]  # per bucket

    def members(self, b: int) -> np.ndarray:
        return self.cohort[self.bucket == b]

    def bucket_of(self, client_id: int) -> int:
        return int(self.bucket[np.searchsorted(self.cohort, client_id)])

    def params_of(self, client_id: int) -> Params:
        return self.params[self.bucket_of(client_id)]


def bucket_sizes(n: int, buckets: int) -> list[int]:
    """Sizes of `buckets` groups as equal as possible (0 or 1 bucket: the whole cohort)."""
    b = max(buckets, 1)
    return [n // b + (i < n % b) for i in range(b)]


def session_params(cfg, n: int) -> Params:
    """The protocol parameters of a bucket of `n` clients (see `neighbours_and_threshold`)."""
    k, t = neighbours_and_threshold(cfg, n)
    malicious = cfg.threat_model == "malicious"
    return Params(threshold=t, neighbors=k, modulus_bits=cfg.modulus_bits, malicious=malicious)


def neighbours_and_threshold(cfg, n: int) -> tuple[int, int]:
    """Resolve (k, t) for a bucket of `n` clients from the `secure_aggregation` section.

    SecAgg: every pair of clients shares masks (k = n - 1); t defaults to a majority, n//2 + 1.
    SecAgg+: k and t default to the smallest that keep every client's neighbourhood safe
    against `assumed_corrupt` and live through `assumed_dropout` (Bell et al. 2020); a
    given k with no t takes a majority of the k + 1 share holders.
    """
    if cfg.protocol == "secagg":
        k, t = n - 1, cfg.threshold or n // 2 + 1
    elif cfg.neighbors is None:
        k, t = _chosen(n, cfg.assumed_corrupt, cfg.assumed_dropout)
        t = cfg.threshold or t
    else:
        k = min(cfg.neighbors, n - 1)  # even: the loader refuses an odd k
        t = cfg.threshold or (k + 1) // 2 + 1
    if cfg.threat_model == "malicious" and cfg.threshold is None:
        t = min(max(t, (k + 1) // 2 + 1), k + 1)  # no two disjoint groups of holders reach t
    return k, t


@functools.lru_cache(maxsize=64)
def _chosen(n: int, corrupt: float, dropout: float) -> tuple[int, int]:
    return choose_parameters(n, corrupt=corrupt, dropout=dropout)


def round_plan(scenario, round_: int, cohort: np.ndarray) -> RoundPlan:
    """Assign the round's cohort to buckets at random (seeded) and resolve each one's t, k."""
    cfg = scenario.secure_aggregation
    sizes = bucket_sizes(len(cohort), cfg.buckets)
    rng = seeding.rng(scenario.seed, round_, 0, seeding.SECAGG)
    bucket = np.repeat(np.arange(len(sizes)), sizes)[rng.permutation(len(cohort))]
    return RoundPlan(
        np.asarray(cohort, np.int64), bucket, tuple(session_params(cfg, s) for s in sizes)
    )


class SecureRound:
    """The server's half of one round's secure aggregation: one `ServerSession` per bucket.

    Each stage takes the messages that arrived and returns what each client receives next;
    a bucket that aborts is recorded and gets no more messages.
    """

    def __init__(self, scenario, round_: int, plan: RoundPlan, dp=None):
        self.scenario, self.plan = scenario, plan
        self.dp = dp  # secure_dp.SecureDp: integer noise or adaptive clipping's count
        self.unclipped: float | None = None  # the decoded count, summed over buckets
        graph_rng = seeding.rng(scenario.seed, round_, 1, seeding.SECAGG)
        attack = scenario.secure_aggregation.server_attack
        self.sessions = {
            b: ServerSession(plan.members(b), p, graph_rng)
            if attack == "none"
            else DishonestServer(plan.members(b), p, graph_rng, attack=attack)
            for b, p in enumerate(plan.params)
        }
        self.aborted: dict[int, str] = {}
        self.seconds = 0.0
        self.noise = privacy.noise_rng(scenario, round_)  # central DP's

    def _stage(self, items, client_of, call) -> dict[int, object]:
        """Group a stage's messages by their sender's bucket and run `call(session, messages)`
        for every live bucket; record the ones that abort. Returns bucket -> result."""
        grouped: dict[int, list] = {b: [] for b in self.sessions if b not in self.aborted}
        for item in items:
            b = self.plan.bucket_of(client_of(item))
            if b in grouped:
                grouped[b].append(item)
        start, out = time.perf_counter(), {}
        for b, messages in grouped.items():
            try:  # a method name: the session's own (a dishonest server overrides them)
                session = self.sessions[b]
                out[b] = (
                    getattr(session, call)(messages)
                    if isinstance(call, str)
                    else call(session, messages)
                )
            except SecAggAbort as exc:
                self.aborted[b] = str(exc)
        self.seconds += time.perf_counter() - start
        return out

    def keys(self, adverts: list) -> dict:
        """Public keys in; for each client, its neighbours' public keys. A dishonest server
        also takes what its colluders hand it (`Collusion`)."""
        for leak in (a for a in adverts if isinstance(a, Collusion)):
            self.sessions[self.plan.bucket_of(leak.client_id)].take(leak)
        adverts = [a for a in adverts if not isinstance(a, Collusion)]
        done = self._stage(adverts, lambda a: a.client_id, "collect_keys")
        return {cid: keys for per_bucket in done.values() for cid, keys in per_bucket.items()}

    def shares(self, shares: list) -> dict:
        """Encrypted key shares in; for each receiver, the ciphertexts addressed to it."""
        done = self._stage(shares, lambda s: s.sender, "route_shares")
        return {cid: cts for per_bucket in done.values() for cid, cts in per_bucket.items()}

    def masked(self, masked: dict) -> dict:
        """Masked inputs in; for each survivor, the survivors it is told of (its bucket's)."""

        def collect(sess, pairs):
            sess.collect_masked(dict(pairs))
            return sess.views()

        done = self._stage(masked.items(), lambda pair: pair[0], collect)
        return {cid: view for views in done.values() for cid, view in views.items()}

    def signatures(self, signed: list) -> dict:
        """Consistency round (malicious): each survivor's signature on its survivor set in;
        for each signer, every signature of its bucket."""
        done = self._stage(signed, lambda s: s.client_id, "collect_signatures")
        return {cid: out for per_bucket in done.values() for cid, out in per_bucket.items()}

    def finish(self, responses: list) -> tuple[UpdateBatch, dict, dict]:
        """Unmasking shares in; the bucket means as an UpdateBatch (one row per bucket).

        Returns (batch whose client_ids are bucket indices, metrics, bucket -> its surviving
        client ids).
        """
        sums = self._stage(responses, lambda r: r.client_id, "finish")
        cfg = self.scenario.secure_aggregation
        rows, weights, ids, members = [], [], [], {}
        for b, total in sorted(sums.items()):
            weighted, units = self._decode(total)
            members[b] = sorted(self.sessions[b].survivors)
            if units == 0:
                continue
            if self.scenario.privacy.mode in privacy.USER_LEVEL:  # uniform weights: a sum
                clip = self.dp.clip if self.dp is not None else None
                rows.append(privacy.secure_sum_to_mean(self.scenario, weighted, self.noise, clip))
            else:
                rows.append((weighted * (_max_units(cfg) / units)).astype(np.float32))
            weights.append(units)
            ids.append(b)
        dim = len(rows[0]) if rows else 0
        batch = UpdateBatch(
            np.array(ids, np.int64),
            np.stack(rows) if rows else np.zeros((0, dim), np.float32),
            np.array(weights, np.int64),
        )
        return batch, self.metrics(), members

    def _decode(self, total: np.ndarray) -> tuple[np.ndarray, int]:
        """A bucket's (sum of weighted updates, total units); keeps the unclipped count."""
        cfg = self.scenario.secure_aggregation
        if self.dp is None:
            return dequantize(total, clip=cfg.clip, bits=cfg.bits, modulus_bits=cfg.modulus_bits)
        weighted, units, count = secure_dp.decode(self.dp, self.scenario, total)
        if count is not None:
            self.unclipped = (self.unclipped or 0.0) + count
        return weighted, units

    def metrics(self) -> dict:
        stats = [s.stats for s in self.sessions.values()]
        out = {
            "secagg_buckets": len(self.sessions),
            "secagg_buckets_aborted": len(self.aborted),
            "secagg_server_seconds": self.seconds,
        }
        for key in ("survivors", "dropped_before_sharing", "dropped_after_sharing"):
            out[f"secagg_{key}"] = int(sum(s.get(key, 0) for s in stats))
        for key in ("bytes_up", "bytes_down"):
            out[f"secagg_server_{key}"] = int(sum(s.get(key, 0) for s in stats))
        bad = [pair for s in stats for pair in s.get("inconsistent_shares", [])]
        out["secagg_inconsistent_shares"] = len(bad)
        if bad:  # corrected by the extra shares; these holders sent a share off the polynomial
            out["secagg_bad_share_holders"] = ", ".join(
                f"{holder} (of {owner})" for owner, holder in sorted(bad)
            )
        cfg = self.scenario.secure_aggregation
        if cfg.server_attack != "none":  # what the dishonest server recovered, client by client
            leaked = sorted(u for s in self.sessions.values() for u in s.leaked)
            out["secagg_leaked_clients"] = len(leaked)
            out["secagg_leaked_ids"] = ",".join(map(str, leaked))
        if cfg.allow_insecure:  # the run was let through below the security target: say so
            out["secagg_insecure_probability"] = max(
                _insecurity(len(s.cohort), p.neighbors, p.threshold, cfg.assumed_corrupt)
                for s, p in zip(self.sessions.values(), self.plan.params)
            )
        if self.dp is not None and self.dp.integer:
            out["secagg_wrap_probability"] = self.dp.wrap
            out["privacy_granularity"] = self.dp.gamma
            # Delta_2 / (S / gamma): how much rounding inflates the sensitivity
            out["privacy_rounding_inflation"] = self.dp.bound * self.dp.gamma / self.dp.clip
        if self.aborted:
            out["secagg_abort"] = "; ".join(f"bucket {b}: {m}" for b, m in self.aborted.items())
        return out


@functools.lru_cache(maxsize=64)
def _insecurity(n: int, k: int, t: int, corrupt: float) -> float:
    return insecurity(n, k, t, corrupt)


def _max_units(cfg) -> int:
    return cfg.max_weight if cfg.weighting == "examples" else 1


def colluders(scenario, round_: int, plan: RoundPlan) -> set[int]:
    """The clients that collude with a dishonest server this round: floor(assumed_corrupt
    x bucket size) of each bucket, drawn seeded (drop_honest uses their inputs)."""
    cfg = scenario.secure_aggregation
    rng = seeding.rng(scenario.seed, round_, 2, seeding.SECAGG)
    out: set[int] = set()
    for b in range(len(plan.params)):
        members = plan.members(b)
        count = int(cfg.assumed_corrupt * len(members))
        out.update(int(c) for c in rng.choice(members, size=count, replace=False))
    return out


def caught_metrics(client_stats: dict) -> dict:
    """How many honest clients caught the server deviating this round, and the first reason."""
    reasons = [
        st["secagg_dropped_at"]
        for _, st in sorted(client_stats.items())
        if "caught the server" in st.get("secagg_dropped_at", "")
    ]
    out = {"secagg_caught_clients": len(reasons)}
    if reasons:
        out["secagg_caught"] = reasons[0]
    return out


def client_units(cfg, num_examples: int) -> tuple[int, int]:
    """(units, max_units): a client's weight min(n_k, max_weight) / max_weight, in units."""
    if cfg.weighting == "uniform":
        return 1, 1
    return min(int(num_examples), cfg.max_weight), cfg.max_weight
