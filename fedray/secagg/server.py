"""The server's side of one instance of SecAgg / SecAgg+: route messages, then unmask the sum.

Bonawitz et al., CCS 2017 (semi-honest server) on the neighbour graph of Bell et al.,
CCS 2020. The client sets shrink stage by stage: U1 advertised keys, U2 sent shares, U3 sent
masked inputs (the survivors, whose sum is the output). From the last phase's shares the
server rebuilds b_u for u in U3 and s_sk_v for v in U2 \\ U3, and removes PRG(b_u) and the
pairwise masks between each such v and its surviving neighbours. A secret needs t shares;
when any cannot be rebuilt the instance aborts (`SecAggAbort`) and yields nothing.

Traffic statistics use the clients' directions: bytes_up is what clients sent the server,
bytes_down what the server sent them.
"""

from __future__ import annotations

import time

import numpy as np

from fedray.secagg import prg
from fedray.secagg.client import SECRET_BYTES, check_vector, pairwise_masks
from fedray.secagg.decode import InconsistentShares, reconstruct_checked
from fedray.secagg.graph import neighbour_graph
from fedray.secagg.messages import (
    ID_BYTES,
    EncryptedShare,
    Params,
    ProtocolViolation,
    PublicKeys,
    SecAggAbort,
    SignedSurvivors,
    UnmaskResponse,
)


class ServerSession:
    """One protocol instance (one bucket of one round) on the server, stage by stage."""

    def __init__(self, cohort: np.ndarray, params: Params, rng: np.random.Generator):
        start = time.perf_counter()
        self.cohort = np.sort(np.asarray(cohort, dtype=np.int64))
        self.params = params
        self.graph = neighbour_graph(self.cohort, params.neighbors, rng)
        # neighbours as positions in the cohort, for counting members with a boolean mask
        self._positions = {u: np.searchsorted(self.cohort, v) for u, v in self.graph.items()}
        self.keys: dict[int, PublicKeys] = {}  # U1, after dropping clients that cannot share
        self.sharers: list[int] = []  # U2
        self.survivors: list[int] = []  # U3
        self._masked: dict[int, np.ndarray] = {}
        self._recover: list[int] = []  # U2 \ U3 whose masking keys must be rebuilt
        self._stage = "collect_keys"
        self.stats = {
            "survivors": 0,
            "dropped_before_sharing": 0,
            "dropped_after_sharing": 0,
            "bytes_up": 0,
            "bytes_down": 0,
            "seconds": time.perf_counter() - start,
            "inconsistent_shares": [],  # (owner, holder) whose share was off the polynomial
        }

    def _enter(self, stage: str, senders: list[int], allowed: set[int]) -> float:
        if stage != self._stage:
            raise ProtocolViolation(f"{stage} called at stage '{self._stage}'")
        unknown = sorted(set(senders) - allowed)
        if unknown or len(set(senders)) != len(senders):
            raise ProtocolViolation(
                f"{stage}: messages from clients {unknown} that may not send now, or a repeated "
                f"sender among {sorted(senders)}"
            )
        return time.perf_counter()

    def _leave(self, start: float, stage: str, up: int, down: int) -> None:
        self._stage = stage
        self.stats["bytes_up"] += up
        self.stats["bytes_down"] += down
        self.stats["seconds"] += time.perf_counter() - start

    def _abort_below_t(self, stage: str, count: int, what: str = "clients") -> None:
        if count < self.params.threshold:
            self._stage = "aborted"
            raise SecAggAbort(stage, count, self.params.threshold, what=what)

    def _member_mask(self, members) -> np.ndarray:
        return np.isin(self.cohort, np.fromiter(members, dtype=np.int64, count=len(members)))

    def _count(self, u: int, mask: np.ndarray) -> int:
        """How many of u's neighbours are members (`mask` over the cohort)."""
        return int(mask[self._positions[u]].sum())

    def collect_keys(self, adverts: list[PublicKeys]) -> dict[int, list[PublicKeys]]:
        """Round 0: return, for each client that can share, its advertising neighbours' keys.

        A client with fewer than t - 1 advertising neighbours could not hand out t shares;
        it is left out (repeatedly, as that thins its neighbours' lists too). Aborts when
        fewer than t advertised or fewer than t are left.
        """
        ids = [a.client_id for a in adverts]
        start = self._enter("collect_keys", ids, set(self.cohort.tolist()))
        self.stats["bytes_up"] += sum(a.nbytes for a in adverts)
        self.stats["dropped_before_sharing"] = len(self.cohort)
        self._abort_below_t("advertise", len(adverts))
        alive, t = set(ids), self.params.threshold
        while True:
            mask = self._member_mask(alive)
            weak = {u for u in alive if self._count(u, mask) + 1 < t}
            if not weak:
                break
            alive -= weak
        self._abort_below_t("advertise", len(alive), "clients with t - 1 advertising neighbours")
        self.keys = {a.client_id: a for a in adverts if a.client_id in alive}
        out = {u: [self.keys[int(v)] for v in self.graph[u] if int(v) in alive] for u in self.keys}
        # Each owner's shares are evaluated at 1..(its holders): positions in its sorted holder
        # list, not client ids, so any id fits the field (ids reach millions; p ~ 2^20).
        self._points = {
            u: {v: i + 1 for i, v in enumerate(sorted([u, *(k.client_id for k in ks)]))}
            for u, ks in out.items()
        }
        down = sum(k.nbytes for keys in out.values() for k in keys)
        self._leave(start, "route_shares", 0, down)
        return out

    def route_shares(self, shares: list[EncryptedShare]) -> dict[int, list[EncryptedShare]]:
        """Round 1: return, for each client that shared (U2), the ciphertexts addressed to it.

        Each sender must have sent one share to every neighbour it was given keys of.
        """
        senders = sorted({s.sender for s in shares})
        start = self._enter("route_shares", senders, set(self.keys))
        sent: dict[int, list[int]] = {u: [] for u in senders}
        for s in shares:
            sent[s.sender].append(s.receiver)
        for u, got in sent.items():
            expected = sorted(int(v) for v in self.graph[u] if int(v) in self.keys)
            if sorted(got) != expected:
                raise ProtocolViolation(
                    f"client {u} sent shares to {sorted(got)}; its neighbours are {expected}"
                )
        self.stats["bytes_up"] += sum(s.nbytes for s in shares)
        self.sharers = senders
        self.stats["dropped_before_sharing"] = len(self.cohort) - len(senders)
        self._abort_below_t("share", len(senders))
        members = set(senders)
        out: dict[int, list[EncryptedShare]] = {u: [] for u in senders}
        for s in sorted(shares, key=lambda s: (s.receiver, s.sender)):
            if s.receiver in members:
                out[s.receiver].append(s)
        down = sum(s.nbytes for routed in out.values() for s in routed)
        self._leave(start, "collect_masked", 0, down)
        return out

    def collect_masked(self, masked: dict[int, np.ndarray]) -> list[int]:
        """Round 2: keep the masked inputs; return the survivors U3 (sorted).

        Aborts when fewer than t survive, or when some secret the server will need could not
        get t shares from survivors (b_u of a survivor, s_sk of a client that dropped now).
        """
        start = self._enter("collect_masked", list(masked), set(self.sharers))
        m = self.params.modulus_bits
        vectors = {int(u): check_vector(y, m) for u, y in masked.items()}
        if len({len(y) for y in vectors.values()}) > 1:
            raise ValueError(
                f"masked inputs differ in length: {sorted({len(y) for y in vectors.values()})}"
            )
        self.stats["bytes_up"] += sum(
            ID_BYTES + len(y) * self.params.word_bytes for y in vectors.values()
        )
        self.survivors = sorted(vectors)
        survived = set(self.survivors)
        self.stats["survivors"] = len(survived)
        self.stats["dropped_after_sharing"] = len(self.sharers) - len(survived)
        self._abort_below_t("masked_input", len(survived))
        mask = self._member_mask(survived)
        self._recover = []
        for u in self.sharers:
            nearby = self._count(u, mask)
            if u not in survived and nearby == 0:
                continue  # nobody left masked with u: its key is not needed
            if u not in survived:
                self._recover.append(u)
            secret = "seed b_u" if u in survived else "masking key s_sk"
            holders = nearby + (u in survived)
            self._abort_below_t("masked_input", holders, f"holders of client {u}'s {secret}")
        self._masked = vectors
        down = len(survived) * ID_BYTES * len(survived)
        self._leave(start, "consistency" if self.params.malicious else "finish", 0, down)
        return list(self.survivors)

    def views(self) -> dict[int, list[int]]:
        """What each survivor is told survived (an honest server: U3, to everyone)."""
        return {u: list(self.survivors) for u in self.survivors}

    def collect_signatures(self, signed: list[SignedSurvivors]) -> dict[int, list]:
        """Consistency round (malicious threat model): forward to each survivor that signed
        the signatures of its neighbours and its own (the holders whose agreement its t counts,
        k + 1 at most, as in SecAgg+); the clients check them."""
        start = self._enter("consistency", [s.client_id for s in signed], set(self.survivors))
        self.stats["bytes_up"] += sum(s.nbytes for s in signed)
        self._abort_below_t("consistency", len(signed))
        by_id = {s.client_id: s for s in signed}
        out = {
            u: [by_id[v] for v in sorted({u, *(int(w) for w in self.graph[u])}) if v in by_id]
            for u in by_id
        }
        self._leave(start, "finish", 0, sum(s.nbytes for sent in out.values() for s in sent))
        return out

    def finish(self, responses: list[UnmaskResponse]) -> np.ndarray:
        """Round 4: rebuild the secrets and return sum_{u in U3} x_u mod 2^m as (d,) uint64."""
        start = self._enter("finish", [r.client_id for r in responses], set(self.survivors))
        self.stats["bytes_up"] += sum(r.nbytes for r in responses)
        self._abort_below_t("unmask", len(responses))
        b_rows, s_rows = self._gather(responses)
        total = self._unmasked_sum(b_rows, s_rows)
        self._leave(start, "done", 0, 0)
        return total

    def _unmasked_sum(self, b_rows: dict, s_rows: dict) -> np.ndarray:
        """sum_{u in U3} y_u - PRG(b_u), plus the masks dropped clients left, mod 2^m."""
        m = self.params.modulus_bits
        length = len(next(iter(self._masked.values())))
        plus, minus = np.zeros(length, prg.word_dtype(m)), np.zeros(length, prg.word_dtype(m))
        for y in self._masked.values():
            plus += y.astype(plus.dtype)
        for u in self.survivors:
            minus += prg.keystream_words(self._rebuild(u, b_rows[u], "seed b_u"), length, m)
        for v, rows in s_rows.items():
            s_sk = self._rebuild(v, rows, "masking key s_sk")
            peers = {
                int(u): self.keys[int(u)].s_pk for u in self.graph[v] if int(u) in self._masked
            }
            # v's own would-be masks with its survivors are the negatives of theirs with v.
            p, n = pairwise_masks(s_sk, v, peers, length=length, bits=m)
            plus += p
            minus += n
        return prg.reduce(plus - minus, m)

    def _gather(self, responses: list[UnmaskResponse]) -> tuple[dict, dict]:
        """owner -> [(holder, share)] for b of survivors and s_sk of clients dropped after sharing."""
        survived, dropped = set(self.survivors), set(self._recover)
        b_rows = {u: [] for u in self.survivors}
        s_rows = {v: [] for v in self._recover}
        for r in sorted(responses, key=lambda r: r.client_id):
            if set(r.b_shares) - survived or set(r.s_shares) - dropped:
                raise ProtocolViolation(
                    f"client {r.client_id} sent b shares for {sorted(r.b_shares)} and s_sk shares "
                    f"for {sorted(r.s_shares)}; b is only for survivors, s_sk only for dropped"
                )
            for owner, share in r.b_shares.items():
                b_rows[owner].append((r.client_id, share))
            for owner, share in r.s_shares.items():
                s_rows[owner].append((r.client_id, share))
        return b_rows, s_rows

    def _rebuild(self, owner: int, rows: list[tuple[int, np.ndarray]], secret: str) -> bytes:
        self._abort_below_t("unmask", len(rows), f"holders of client {owner}'s {secret}")
        points = self._points[owner]
        xs = np.array([points[holder] for holder, _ in rows], dtype=np.int64)
        shares = np.stack([share for _, share in rows])
        t = self.params.threshold
        try:
            value, bad = reconstruct_checked(xs, shares, t=t, length=SECRET_BYTES)
        except InconsistentShares as exc:
            liars = [rows[i][0] for i in exc.holders]
            self._stage = "aborted"
            raise SecAggAbort(
                "unmask",
                len(rows),
                t,
                reason=f"the shares of client {owner}'s {secret} are inconsistent and too "
                f"few agree to correct them (holders off the best polynomial: {liars})",
            ) from None
        # Corrected: the extra shares outvoted them. Name who sent a share off the polynomial.
        self.stats["inconsistent_shares"] += [(owner, rows[i][0]) for i in bad]
        return value
