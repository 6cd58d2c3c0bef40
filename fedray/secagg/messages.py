"""The records secure aggregation exchanges, its parameters, and its two failure modes.

Message names follow Bonawitz et al., "Practical secure aggregation for privacy-preserving
machine learning", CCS 2017, section 4: public keys (round 0), encrypted shares (round 1),
masked inputs (round 2, plain arrays) and unmasking shares (round 4). Each record knows its
size on the wire, `nbytes`, which the sessions add up into their traffic statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray.secagg.keys import KEY_BYTES
from fedray.secagg.shamir import MAX_THRESHOLD

ID_BYTES = 4  # a client id on the wire
FIELD_BYTES = 4  # a share chunk (an element of GF(2^20 - 3)) on the wire


@dataclass(frozen=True)
class Params:
    """One protocol instance's parameters.

    Attributes:
        threshold: t, how many shares rebuild a secret (Shamir), at most neighbors + 1 (a
            client's share holders are its neighbours and itself).
        neighbors: k, the degree of SecAgg+'s graph (Bell et al., CCS 2020); k >= n - 1 is
            the complete graph, i.e. SecAgg.
        modulus_bits: m; inputs and sums live in Z_{2^m}.
        malicious: the protocol against a server that lies (Bonawitz et al. 2017, section
            4, active adversary): signed key advertisements, a signed consistency round on
            the survivor set, and t > (k + 1) / 2, so no two disjoint groups of a client's
            share holders can each reach t.
    """

    threshold: int
    neighbors: int
    modulus_bits: int
    malicious: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.threshold <= MAX_THRESHOLD:
            problems.append(f"threshold must be in [1, {MAX_THRESHOLD}]; got {self.threshold}")
        if self.neighbors < 1:
            problems.append(f"neighbors must be >= 1; got {self.neighbors}")
        elif self.threshold > self.neighbors + 1:
            problems.append(
                f"threshold {self.threshold} exceeds the {self.neighbors + 1} share holders "
                f"(neighbors + 1): lower threshold or raise neighbors"
            )
        if self.malicious and 2 * self.threshold <= self.neighbors + 1:
            problems.append(
                f"against a malicious server t must exceed (k + 1) / 2; got t={self.threshold}, "
                f"k={self.neighbors}: raise threshold to {(self.neighbors + 1) // 2 + 1}"
            )
        if not 1 <= self.modulus_bits <= 64:
            problems.append(f"modulus_bits must be in [1, 64]; got {self.modulus_bits}")
        if problems:
            raise ValueError("secure aggregation parameters: " + "; ".join(problems))

    @property
    def word_bytes(self) -> int:
        """Bytes per coordinate of a masked vector on the wire."""
        return -(-self.modulus_bits // 8)


@dataclass(frozen=True)
class PublicKeys:
    """Round 0: a client's two X25519 public keys, c (encryption) and s (masking), and
    (malicious threat model) its identity key's signature on them and the instance."""

    client_id: int
    c_pk: bytes
    s_pk: bytes
    signature: bytes = b""

    @property
    def nbytes(self) -> int:
        return ID_BYTES + 2 * KEY_BYTES + len(self.signature)


@dataclass(frozen=True)
class SignedSurvivors:
    """Consistency round (malicious threat model): a client's signature on the survivor set
    U3 it was sent, and that set's SHA-256 digest, which the server forwards to the client's
    neighbours (each checks it against the set it was sent itself; the set is not resent)."""

    client_id: int
    digest: bytes
    signature: bytes

    @property
    def nbytes(self) -> int:
        return ID_BYTES + len(self.digest) + len(self.signature)


@dataclass(frozen=True)
class EncryptedShare:
    """Round 1: sender's shares of its b_u and s_sk for receiver, under AES-GCM."""

    sender: int
    receiver: int
    ciphertext: bytes

    @property
    def nbytes(self) -> int:
        return 2 * ID_BYTES + len(self.ciphertext)


@dataclass(frozen=True, eq=False)
class UnmaskResponse:
    """Round 4: a client's shares of the secrets the server may learn.

    b_shares: owner id -> this client's (chunks,) int64 share of the owner's seed b_u, for
        owners that survived; s_shares: the same for the masking key s_sk of owners that
        dropped after sharing. No owner is in both.
    """

    client_id: int
    b_shares: dict[int, np.ndarray] = field(default_factory=dict)
    s_shares: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        shares = [*self.b_shares.values(), *self.s_shares.values()]
        return ID_BYTES + sum(ID_BYTES + FIELD_BYTES * len(s) for s in shares)


class SecAggAbort(RuntimeError):
    """The protocol cannot finish: too few clients are left, or (`reason`) a check caught a
    deviation; the round's sum is not formed."""

    def __init__(
        self, stage: str, survived: int, needed: int, *, what: str = "clients", reason: str = ""
    ):
        self.stage, self.survived, self.needed, self.what = stage, survived, needed, what
        self.reason = reason
        cause = reason or f"{survived} {what} survived, threshold t={needed} needed"
        super().__init__(
            f"secure aggregation aborted at stage '{stage}': {cause}; no sum was formed, so "
            "nothing from this protocol instance was applied"
        )

    def __reduce__(self):  # Ray sends exceptions between processes by pickling them
        return _rebuild_abort, (self.stage, self.survived, self.needed, self.what, self.reason)


def _rebuild_abort(stage: str, survived: int, needed: int, what: str, reason: str = ""):
    return SecAggAbort(stage, survived, needed, what=what, reason=reason)


class DeviationCaught(SecAggAbort):
    """An honest client caught the server deviating (a forged or replayed key advertisement,
    conflicting survivor sets); it refuses to go on, so the instance yields nothing."""

    def __init__(self, stage: str, client_id: int, reason: str):
        self.client_id = client_id
        super().__init__(stage, 0, 0, reason=f"client {client_id} caught the server: {reason}")
        self.detail = reason

    def __reduce__(self):
        return DeviationCaught, (self.stage, self.client_id, self.detail)


class ProtocolViolation(RuntimeError):
    """A message breaks the protocol (wrong stage, unknown sender, a request that would reveal
    both secrets of one client); a bug in the caller, never a dropout."""
