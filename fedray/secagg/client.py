"""One client's side of one round of SecAgg / SecAgg+, as a session held between the phases.

Bonawitz et al., "Practical secure aggregation for privacy-preserving machine learning",
CCS 2017 (semi-honest server, section 4), restricted to graph neighbours as in Bell et al.,
"Secure single-server aggregation with (poly)logarithmic overhead", CCS 2020. The client
sends y_u = x_u + PRG(b_u) + sum_v +-PRG(s_uv) mod 2^m, where v runs over the neighbours
that shared with it, + when u < v and - otherwise, so the pairwise terms cancel in the sum
of survivors; the server removes PRG(b_u) of survivors and, for neighbours that dropped
after sharing, the pairwise masks, from shares it gathers in the last phase. A client
reveals at most one of b_v and s_v for every v, so no single input is ever unmasked.
"""

from __future__ import annotations

import os
import time

import numpy as np

from fedray.secagg import keys, pki, prg, shamir
from fedray.secagg.messages import (
    ID_BYTES,
    DeviationCaught,
    EncryptedShare,
    Params,
    ProtocolViolation,
    PublicKeys,
    SecAggAbort,
    SignedSurvivors,
    UnmaskResponse,
)

SECRET_BYTES = 32
_CHUNKS = shamir.chunk_count(SECRET_BYTES)


def check_vector(x: np.ndarray, modulus_bits: int) -> np.ndarray:
    """Return x after checking it is a 1-D integer array in [0, 2^modulus_bits)."""
    x = np.asarray(x)
    bad = x.ndim != 1 or x.dtype.kind not in "ui"
    if not bad and x.size:
        bad = int(x.min()) < 0 or int(x.max()) >= 1 << modulus_bits
    if bad:
        raise ValueError(
            f"a protocol input must be a 1-D integer array in [0, 2^{modulus_bits}); got "
            f"shape {x.shape}, dtype {x.dtype}"
        )
    return x


def pairwise_masks(
    own_s: keys.X25519PrivateKey | bytes,
    own_id: int,
    peers: dict[int, bytes],
    *,
    length: int,
    bits: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the sums (plus, minus) of PRG(s_uv) over peers v > u and v < u, unreduced.

    Args:
        own_s: u's masking private key (or its raw bytes).
        own_id: u.
        peers: v -> v's masking public key s_pk.
        length: coordinates; bits: m.

    Returns:
        two (length,) arrays of `prg.word_dtype(bits)`; u's input carries plus - minus.
    """
    if isinstance(own_s, bytes):  # parse once, not once per peer
        own_s = keys.generate(own_s)
    dtype = prg.word_dtype(bits)
    plus, minus = np.zeros(length, dtype), np.zeros(length, dtype)
    for v, s_pk in peers.items():
        words = prg.keystream_words(keys.agree(own_s, s_pk, purpose="mask"), length, bits)
        target = plus if own_id < v else minus
        target += words
    return plus, minus


class ClientSession:
    """Client u's secrets and received shares for one round, phase by phase.

    Call advertise, share_keys, masked_input, (consistency,) unmask in that order. Keys and
    b_u come from os.urandom; `entropy` (simulation only) derives them reproducibly instead.
    With `params.malicious` it signs with `identity` (its key in `registry`, the PKI), checks
    its neighbours' signed advertisements, signs the survivor set in the consistency round,
    and unmasks only for a set that at least t survivors signed, once.
    """

    def __init__(
        self,
        client_id: int,
        params: Params,
        *,
        entropy: bytes | None = None,
        identity=None,
        registry: pki.Pki | None = None,
        context: tuple[int, int] = (0, 0),
    ):
        start = time.perf_counter()
        if params.malicious and (identity is None or registry is None):
            raise ValueError("the malicious threat model needs an identity key and the PKI")
        self.identity, self.registry, self.context = identity, registry, context
        self._view: tuple[int, ...] | None = None  # the survivor set it signed
        self.client_id, self.params = int(client_id), params
        if entropy is None:
            c_seed = s_seed = None
            self._b, self._rng = os.urandom(SECRET_BYTES), None
        else:
            c_seed, s_seed, self._b, rng_seed = keys.derive_secrets(entropy, 4)
            self._rng = np.random.default_rng(int.from_bytes(rng_seed, "little"))
        self._c, self._s = keys.generate(c_seed), keys.generate(s_seed)
        self._peers: dict[int, PublicKeys] = {}  # neighbours it shared with
        self._channel: dict[int, bytes] = {}  # v -> AES-GCM key shared with v
        self._own_share = np.zeros((2, _CHUNKS), np.int64)
        self._received: dict[int, bytes] = {}  # v -> ciphertext of v's shares for u
        self._held: dict[int, np.ndarray] | None = None  # decrypted on the first unmask
        self._revealed: dict[int, str] = {}  # owner -> "b" or "s", once sent
        self._stage = "advertise"
        self.stats = {"bytes_up": 0, "bytes_down": 0, "seconds": 0.0}
        self.stats["seconds"] += time.perf_counter() - start

    def _enter(self, stage: str) -> float:
        if self._stage != stage:
            raise ProtocolViolation(
                f"client {self.client_id}: {stage} called at stage '{self._stage}'; "
                "the order is advertise, share_keys, masked_input, unmask"
            )
        return time.perf_counter()

    def _leave(self, start: float, stage: str, up: int, down: int) -> None:
        self._stage = stage
        self.stats["bytes_up"] += up
        self.stats["bytes_down"] += down
        self.stats["seconds"] += time.perf_counter() - start

    def advertise(self) -> PublicKeys:
        """Round 0: return the public keys c_pk (encryption) and s_pk (masking)."""
        start = self._enter("advertise")
        c_pk, s_pk = keys.public_bytes(self._c), keys.public_bytes(self._s)
        signature = b""
        if self.params.malicious:
            message = pki.advert_message(self.context, self.client_id, c_pk, s_pk)
            signature = self.identity.sign(message)
        out = PublicKeys(self.client_id, c_pk, s_pk, signature)
        self._leave(start, "share_keys", out.nbytes, 0)
        return out

    def share_keys(self, neighbours: list[PublicKeys]) -> list[EncryptedShare]:
        """Round 1: Shamir-share b_u and s_sk among the neighbours and itself, t of them
        needed; return each neighbour's pair of shares encrypted to it."""
        start = self._enter("share_keys")
        peers = {p.client_id: p for p in neighbours}
        if self.client_id in peers or len(peers) != len(neighbours):
            raise ProtocolViolation(
                f"client {self.client_id}: neighbour list repeats an id or has itself"
            )
        t = self.params.threshold
        if len(peers) + 1 < t:
            raise SecAggAbort(
                "share", len(peers) + 1, t, what=f"share holders of client {self.client_id}"
            )
        if self.params.malicious:
            self._check_adverts(neighbours)
        holders = np.array(sorted([*peers, self.client_id]), dtype=np.int64)
        secrets = [self._b, keys.private_bytes(self._s)]
        # Evaluated at the holders' positions 1..k+1 (the server numbers them the same way).
        xs = np.arange(1, len(holders) + 1, dtype=np.int64)
        shares = shamir.share(secrets, xs=xs, t=t, rng=self._rng)
        out = []
        for v, share in zip(holders.tolist(), shares):
            if v == self.client_id:
                self._own_share = share
                continue
            self._channel[v] = keys.agree(self._c, peers[v].c_pk, purpose="encrypt")
            plaintext = share.astype("<u4").tobytes()
            aad = keys.share_aad(self.client_id, v)
            out.append(
                EncryptedShare(self.client_id, v, keys.encrypt(self._channel[v], plaintext, aad))
            )
        self._peers = peers
        down = sum(p.nbytes for p in neighbours)
        self._leave(start, "masked_input", sum(s.nbytes for s in out), down)
        return out

    def _check_adverts(self, neighbours: list[PublicKeys]) -> None:
        for p in neighbours:
            message = pki.advert_message(self.context, p.client_id, p.c_pk, p.s_pk)
            if not self.registry.verify(p.client_id, message, p.signature):
                round_, bucket = self.context
                raise DeviationCaught(
                    "share",
                    self.client_id,
                    f"the keys it was sent for client {p.client_id} are not signed by that "
                    f"client's registered identity key for this instance (round {round_}, "
                    f"bucket {bucket}): forged (a man in the middle) or replayed from another "
                    "instance",
                )

    def masked_input(self, x: np.ndarray, received: list[EncryptedShare]) -> np.ndarray:
        """Round 2: return y = x + PRG(b_u) + sum_v +-PRG(s_uv) mod 2^m as (d,) uint64.

        Args:
            x: (d,) integers in [0, 2^m) (a `quantize` output).
            received: the shares its neighbours sent it; their senders are the v above.
        """
        start = self._enter("masked_input")
        m = self.params.modulus_bits
        x = check_vector(x, m)
        self._received = self._check_received(received)
        peers = {v: self._peers[v].s_pk for v in self._received}
        plus, minus = pairwise_masks(self._s, self.client_id, peers, length=len(x), bits=m)
        plus += prg.keystream_words(self._b, len(x), m)
        y = prg.reduce(x.astype(plus.dtype) + plus - minus, m)
        down = sum(s.nbytes for s in received)
        after = "consistency" if self.params.malicious else "unmask"
        self._leave(start, after, ID_BYTES + len(y) * self.params.word_bytes, down)
        return y

    def consistency(self, survivors: list[int]) -> SignedSurvivors:
        """Consistency round (malicious threat model): sign the survivor set it was sent."""
        start = self._enter("consistency")
        view = tuple(sorted(int(v) for v in survivors))
        if len(view) < self.params.threshold:
            raise DeviationCaught(
                "consistency",
                self.client_id,
                f"it claims only {len(view)} survivors, fewer than t={self.params.threshold}: "
                "it would unmask a sum of too few inputs",
            )
        self._view = view
        message = pki.survivors_message(self.context, view)
        out = SignedSurvivors(self.client_id, pki.digest(message), self.identity.sign(message))
        self._leave(start, "unmask", out.nbytes, ID_BYTES * len(view))
        return out

    def _check_agreement(self, survivors: list[int], signed: list[SignedSurvivors]) -> None:
        """Refuse to unmask unless `survivors` is the set it signed and t survivors signed it."""
        view, t = tuple(sorted(int(v) for v in survivors)), self.params.threshold

        def caught(reason: str):
            return DeviationCaught("unmask", self.client_id, reason)

        if view != self._view:
            raise caught("asked to unmask for a survivor set other than the one it signed")
        agree = set()
        message = pki.survivors_message(self.context, view)
        own = pki.digest(message)
        for s in signed:
            if s.digest != own:
                raise caught(
                    f"client {s.client_id} signed a different survivor set: the server showed "
                    "different clients different survivors"
                )
            if not self.registry.verify(s.client_id, message, s.signature):
                raise caught(f"a survivor-set signature of client {s.client_id} is forged")
            if s.client_id in view:
                agree.add(s.client_id)
        if len(agree) < t:
            raise caught(
                f"only {len(agree)} of its surviving neighbours signed its survivor set; t={t} must"
            )

    def _check_received(self, received: list[EncryptedShare]) -> dict[int, bytes]:
        out = {}
        for msg in received:
            if msg.receiver != self.client_id or msg.sender not in self._peers or msg.sender in out:
                raise ProtocolViolation(
                    f"client {self.client_id} got a share from {msg.sender} for {msg.receiver}: "
                    "not addressed to it, not from a neighbour it shared with, or repeated"
                )
            out[msg.sender] = msg.ciphertext
        return out

    def unmask(
        self, survivors: list[int], signed: list[SignedSurvivors] | None = None
    ) -> UnmaskResponse:
        """Round 4: for each owner whose share it holds, b-share if the owner survived, else
        its s_sk share; refuses to flip an owner it already answered for. Malicious threat
        model: `signed` are the survivors' consistency signatures, checked first, and it
        answers once."""
        if self.params.malicious and self._stage == "done":
            raise DeviationCaught(
                "unmask", self.client_id, "a second unmask request after the agreed one"
            )
        start = self._enter("unmask")
        if self.params.malicious:
            self._check_agreement(survivors, signed or [])
        alive = {int(v) for v in survivors}
        if len(alive) < self.params.threshold:
            raise SecAggAbort("unmask", len(alive), self.params.threshold)
        held = self._held_shares()
        kinds = {owner: "b" if owner in alive else "s" for owner in held}
        flipped = sorted(o for o, kind in kinds.items() if self._revealed.get(o, kind) != kind)
        if flipped:
            raise ProtocolViolation(
                f"client {self.client_id} already sent shares of the other secret of clients "
                f"{flipped}; sending both b_u and s_sk shares would unmask their inputs"
            )
        self._revealed.update(kinds)
        out = UnmaskResponse(self.client_id)
        for owner, kind in kinds.items():
            which = out.b_shares if kind == "b" else out.s_shares
            which[owner] = held[owner][0 if kind == "b" else 1]
        self._leave(start, "done" if self.params.malicious else "unmask", out.nbytes, 0)
        self.stats["bytes_down"] += ID_BYTES * len(alive) + sum(s.nbytes for s in signed or [])
        return out

    def _held_shares(self) -> dict[int, np.ndarray]:
        """owner -> (2, chunks) shares of (b, s_sk) this client holds, its own included."""
        if self._held is None:
            self._held = {self.client_id: self._own_share}
            for v, ciphertext in self._received.items():
                aad = keys.share_aad(v, self.client_id)
                plain = keys.decrypt(self._channel[v], ciphertext, aad)
                self._held[v] = np.frombuffer(plain, "<u4").astype(np.int64).reshape(2, _CHUNKS)
        return self._held
