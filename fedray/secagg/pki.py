"""A simulated PKI: long-term Ed25519 identity keys that sign what the malicious-server
protocol must not let the server forge.

Bonawitz et al. (CCS 2017, section 4, active adversary) assume each client holds a signing
key whose public half a trusted party vouches for; the server relays messages but cannot
sign for a client. Here `Pki` is that trusted registry (client id -> Ed25519 public key,
Bernstein et al., "High-speed high-security signatures", CHES 2011). Every signed message
names the protocol instance it belongs to (round and bucket), so a signature recorded in
one round cannot be replayed in another.

Identity keys come from os.urandom, or, for reproducible simulations, from entropy the
caller derives: then they are only as secret as that entropy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_BYTES = 64


def identity_key(seed: bytes | None = None) -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key (os.urandom), or the one with 32 raw bytes `seed`."""
    return (
        Ed25519PrivateKey.generate() if seed is None else Ed25519PrivateKey.from_private_bytes(seed)
    )


def advert_message(context: tuple[int, int], client_id: int, c_pk: bytes, s_pk: bytes) -> bytes:
    """What a client signs when it advertises its keys: the instance, its id, both keys."""
    return b"fedray secagg advert" + struct.pack("<qqq", *context, client_id) + c_pk + s_pk


def survivors_message(context: tuple[int, int], survivors: Iterable[int]) -> bytes:
    """What a client signs in the consistency round: the instance and the survivor set U3."""
    ids = sorted(int(u) for u in survivors)
    return b"fedray secagg survivors" + struct.pack(f"<qq{len(ids)}q", *context, *ids)


def digest(message: bytes) -> bytes:
    """SHA-256 of a signed message: what travels in place of a survivor set."""
    h = hashes.Hash(hashes.SHA256())
    h.update(message)
    return h.finalize()


class Pki:
    """The trusted registry of identity keys: the server relays messages but cannot change it."""

    def __init__(self):
        self._keys: dict[int, Ed25519PublicKey] = {}

    def register(self, client_id: int, public: Ed25519PublicKey) -> None:
        """Record `client_id`'s identity key; a second, different key for it is refused."""
        known = self._keys.get(int(client_id))
        if known is not None and known.public_bytes_raw() != public.public_bytes_raw():
            raise ValueError(f"client {client_id} already has a different identity key")
        self._keys[int(client_id)] = public

    def verify(self, client_id: int, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is `client_id`'s registered key's signature on `message`."""
        key = self._keys.get(int(client_id))
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class DerivedPki(Pki):
    """A PKI whose identity keys are derived, per client, by `seed_of(client_id)` -> 32 bytes.

    For simulations spread over processes: every worker rebuilds the same registry without a
    message, as if the keys had been registered out of band. The simulated server never
    derives or uses a client's signing key; a real deployment registers keys from os.urandom.
    """

    def __init__(self, seed_of):
        super().__init__()
        self._seed_of = seed_of

    def identity(self, client_id: int) -> Ed25519PrivateKey:
        """Client `client_id`'s signing key (only that client's session should ask)."""
        return identity_key(self._seed_of(int(client_id)))

    def verify(self, client_id: int, message: bytes, signature: bytes) -> bool:
        if int(client_id) not in self._keys:
            self._keys[int(client_id)] = self.identity(client_id).public_key()
        return super().verify(client_id, message, signature)
