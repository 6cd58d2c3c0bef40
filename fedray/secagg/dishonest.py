"""A server that deviates from the protocol, for real, to show which guarantee holds.

Each attack is a `DishonestServer` that follows `ServerSession` except where it lies, and
records in `leaked` (client id -> (d,) input) every individual input it recovered:

- `split_views`: tells half of each survivor's share holders that it survived and the other
  half that it dropped, so it gets t shares of both b_u and s_u and unmasks y_u. Works when
  2t <= k + 1 (Bonawitz et al. 2017, section 4; why the malicious model needs t > (k+1)/2).
- `drop_honest`: declares every honest survivor but one victim dropped, so the "sum" is the
  victim's input plus the corrupt clients' (known to it). Works when corrupt + 1 >= t.
- `mitm`: replaces every client's advertised keys by its own when routing them, reads every
  share in transit (re-encrypting it for the receiver), and knows every pairwise mask.
- `replay_keys`: routes each client's keys from an earlier round, whose secrets it learned
  (recorded adverts, signed then if the model signs), to the same effect as `mitm`.

Against `malicious` parameters the honest clients catch each of them (a signature that
does not verify, conflicting signed survivor sets, or a signed set smaller than t) and the
instance aborts with that reason (`DeviationCaught`); nothing leaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedray.secagg import keys, prg
from fedray.secagg.messages import (
    EncryptedShare,
    Params,
    PublicKeys,
    UnmaskResponse,
)
from fedray.secagg.server import ServerSession

ATTACKS = ("none", "split_views", "drop_honest", "replay_keys", "mitm")


@dataclass(frozen=True, eq=False)
class Collusion:
    """What the simulation hands the dishonest server besides the protocol's messages: a
    corrupt client's input (`kind` "input", drop_honest), or a client's advertisement from
    an earlier round with its secrets (`kind` "old_keys", replay_keys: as if an old device or
    backup leaked them). Never sent when `server_attack` is none."""

    client_id: int
    kind: str
    payload: object


class DishonestServer(ServerSession):
    """One protocol instance run by a server that performs `attack`.

    Args:
        attack: one of ATTACKS but none.
        rng: as for ServerSession; also draws the server's own key pairs.
        corrupt: clients colluding with the server, and their inputs (drop_honest).
        recorded: client id -> (old advert, (c_sk, s_sk) raw bytes of it), for replay_keys.
    """

    def __init__(
        self,
        cohort: np.ndarray,
        params: Params,
        rng: np.random.Generator,
        *,
        attack: str,
        corrupt: dict[int, np.ndarray] | None = None,
        recorded: dict[int, tuple[PublicKeys, tuple[bytes, bytes]]] | None = None,
    ):
        if attack not in ATTACKS[1:]:
            raise ValueError(f"unknown server attack {attack!r}; valid: {list(ATTACKS)}")
        super().__init__(cohort, params, rng)
        self.attack = attack
        self.corrupt = corrupt or {}
        self.recorded = recorded or {}
        self.leaked: dict[int, np.ndarray] = {}
        self._fake: dict[int, tuple[bytes, bytes]] = {}  # u -> (c_sk, s_sk) it poses as u with
        self._stolen: dict[int, dict[int, np.ndarray]] = {}  # owner -> holder -> (2, chunks)
        self._masked_with: dict[int, list[int]] = {}  # u -> peers whose shares u received
        self._views: dict[int, list[int]] = {}
        self._key_rng = rng

    # -- mitm / replay_keys: pose as every client to every other ---------------------------
    def collect_keys(self, adverts: list[PublicKeys]) -> dict[int, list[PublicKeys]]:
        out = super().collect_keys(adverts)
        if self.attack not in ("mitm", "replay_keys"):
            return out
        fakes = {}
        for u, real in self.keys.items():
            if self.attack == "replay_keys" and u in self.recorded:
                fakes[u], self._fake[u] = self.recorded[u]
            else:  # its own fresh pair, under u's real (now wrong) signature
                c, s = (
                    keys.generate(self._key_rng.bytes(32)),
                    keys.generate(self._key_rng.bytes(32)),
                )
                self._fake[u] = (keys.private_bytes(c), keys.private_bytes(s))
                fakes[u] = PublicKeys(u, keys.public_bytes(c), keys.public_bytes(s), real.signature)
        return {v: [fakes[p.client_id] for p in ks] for v, ks in out.items()}

    def route_shares(self, shares: list[EncryptedShare]) -> dict[int, list[EncryptedShare]]:
        if self.attack not in ("mitm", "replay_keys"):
            return super().route_shares(shares)
        relayed = []
        for msg in shares:
            u, v = msg.sender, msg.receiver
            aad = keys.share_aad(u, v)
            # u encrypted to "v" under agree(c_u, fake c_pk of v): the server holds that key
            inbound = keys.agree(self._fake[v][0], self.keys[u].c_pk, purpose="encrypt")
            plain = keys.decrypt(inbound, msg.ciphertext, aad)
            self._stolen.setdefault(u, {})[v] = np.frombuffer(plain, "<u4").astype(np.int64)
            outbound = keys.agree(self._fake[u][0], self.keys[v].c_pk, purpose="encrypt")
            relayed.append(EncryptedShare(u, v, keys.encrypt(outbound, plain, aad)))
        out = super().route_shares(relayed)
        self._masked_with = {v: [s.sender for s in routed] for v, routed in out.items()}
        return out

    # -- split_views / drop_honest: lie about who survived ---------------------------------
    def collect_masked(self, masked: dict[int, np.ndarray]) -> list[int]:
        survivors = super().collect_masked(masked)
        if self.attack == "drop_honest":
            honest = [u for u in survivors if u not in self.corrupt]
            told = sorted({*honest[:1], *(u for u in survivors if u in self.corrupt)})
            self._views = {u: told for u in survivors}
        elif self.attack == "split_views":
            self._views = self._split(survivors)
        return survivors

    def take(self, leak: Collusion) -> None:
        """Receive what a colluder or an old leak gives the server."""
        if leak.kind == "input":
            self.corrupt[leak.client_id] = np.asarray(leak.payload)
        elif leak.kind == "old_keys":
            self.recorded[leak.client_id] = leak.payload
        else:
            raise ValueError(f"unknown collusion kind {leak.kind!r}; valid: input, old_keys")

    def _split(self, survivors: list[int]) -> dict[int, list[int]]:
        """Victims, one by one while every view keeps t members: half of a victim's holders
        (the second half of its sorted surviving holders) are told it dropped."""
        alive, t = set(survivors), self.params.threshold
        hidden: dict[int, set[int]] = {u: set() for u in survivors}
        for u in survivors:
            holders = [u, *(int(v) for v in self.graph[u] if int(v) in alive)]
            told_dropped = holders[len(holders) // 2 :]
            if any(len(alive) - len(hidden[v]) - 1 < t for v in told_dropped):
                continue
            for v in told_dropped:
                hidden[v].add(u)
        return {v: sorted(alive - hidden[v]) for v in survivors}

    def views(self) -> dict[int, list[int]]:
        return self._views or super().views()

    def finish(self, responses: list[UnmaskResponse]) -> np.ndarray:
        """Unmask what the lie exposes; return the sum it can still form (so nobody notices)."""
        if self.attack in ("mitm", "replay_keys"):
            return self._finish_mitm()
        if self.attack == "drop_honest":
            return self._finish_drop(responses)
        return self._finish_split(responses)

    def _masks_of(self, u: int, s_sk: bytes, peers: dict[int, bytes], length: int) -> np.ndarray:
        """u's pairwise masks (plus - minus) with `peers` (v -> the s_pk u agreed with)."""
        m, out = (
            self.params.modulus_bits,
            np.zeros(length, prg.word_dtype(self.params.modulus_bits)),
        )
        for v, pk in peers.items():
            words = prg.keystream_words(keys.agree(s_sk, pk, purpose="mask"), length, m)
            out = out + words if u < v else out - words
        return out

    def _unmask_one(self, u: int, b: bytes, masks: np.ndarray) -> np.ndarray:
        y = self._masked[u]
        m = self.params.modulus_bits
        return prg.reduce(y.astype(masks.dtype) - prg.keystream_words(b, len(y), m) - masks, m)

    def _finish_mitm(self) -> np.ndarray:
        length = len(next(iter(self._masked.values())))
        total = np.zeros(length, prg.word_dtype(self.params.modulus_bits))
        for u in self.survivors:
            stolen = sorted(self._stolen[u].items())
            b = self._rebuild(u, [(v, share.reshape(2, -1)[0]) for v, share in stolen], "seed b_u")
            # u agreed with each peer's *fake* s_pk: the server's own key, so it knows the mask
            masks = np.zeros(length, total.dtype)
            for v in self._masked_with.get(u, []):
                seed = keys.agree(self._fake[v][1], self.keys[u].s_pk, purpose="mask")
                words = prg.keystream_words(seed, length, self.params.modulus_bits)
                masks = masks + words if u < v else masks - words
            self.leaked[u] = self._unmask_one(u, b, masks)
            total += self.leaked[u]
        self._stage = "done"
        return prg.reduce(total, self.params.modulus_bits)

    def _loose_gather(self, responses: list[UnmaskResponse]) -> tuple[dict, dict]:
        """owner -> [(holder, share)] of every b and s_sk share sent, whoever it was for."""
        b_rows: dict[int, list] = {u: [] for u in self.sharers}
        s_rows: dict[int, list] = {u: [] for u in self.sharers}
        for r in sorted(responses, key=lambda r: r.client_id):
            for owner, share in r.b_shares.items():
                b_rows[owner].append((r.client_id, share))
            for owner, share in r.s_shares.items():
                s_rows[owner].append((r.client_id, share))
        return b_rows, s_rows

    def _finish_drop(self, responses: list[UnmaskResponse]) -> np.ndarray:
        told = next(iter(self._views.values()))
        b_rows, s_rows = self._loose_gather(responses)
        self.survivors = told  # what it claimed: the rest "dropped after sharing"
        self._masked = {u: y for u, y in self._masked.items() if u in told}
        dropped = [v for v in self.sharers if v not in told]
        recover = {v: s_rows[v] for v in dropped if any(int(u) in told for u in self.graph[v])}
        total = self._unmasked_sum({u: b_rows[u] for u in told}, recover)
        self._stage = "done"
        victims = [u for u in told if u not in self.corrupt]
        if len(victims) == 1:
            known = np.zeros(len(total), total.dtype)
            for c in told:
                if c in self.corrupt:
                    known += self.corrupt[c].astype(total.dtype)
            self.leaked[victims[0]] = prg.reduce(total - known, self.params.modulus_bits)
        return total

    def _finish_split(self, responses: list[UnmaskResponse]) -> np.ndarray:
        b_rows, s_rows = self._loose_gather(responses)
        t = self.params.threshold
        length = len(next(iter(self._masked.values())))
        for u in self.survivors:
            if len(b_rows[u]) >= t and len(s_rows[u]) >= t:
                b = self._rebuild(u, b_rows[u], "seed b_u")
                s_sk = self._rebuild(u, s_rows[u], "masking key s_sk")
                peers = {
                    int(v): self.keys[int(v)].s_pk for v in self.graph[u] if int(v) in self.sharers
                }
                self.leaked[u] = self._unmask_one(u, b, self._masks_of(u, s_sk, peers, length))
        total = self._unmasked_sum(
            {u: b_rows[u] for u in self.survivors}, {v: s_rows[v] for v in self._recover}
        )
        self._stage = "done"
        return total
