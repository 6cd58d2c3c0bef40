"""Key agreement and authenticated encryption for secure aggregation's share messages.

Bonawitz et al. (CCS 2017) give each client two Diffie-Hellman key pairs: c for encrypting
the shares it sends through the server, s for the pairwise masks. Here they are X25519
pairs (Bernstein, "Curve25519: new Diffie-Hellman speed records", PKC 2006); the raw shared
secret goes through HKDF-SHA256 (Krawczyk, CRYPTO 2010) with an info label naming its use,
so a mask seed and an encryption key never coincide even for one pair of keys. Shares
travel under AES-256-GCM with a random 12-byte nonce and the sender and receiver ids bound
in the associated data, so a ciphertext that was altered or delivered to the wrong client
fails to decrypt.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
LABELS = {
    "mask": b"fedray secagg: pairwise mask seed s_uv",
    "encrypt": b"fedray secagg: share encryption key c_uv",
}


def generate(seed: bytes | None = None) -> X25519PrivateKey:
    """Return a fresh X25519 private key (from os.urandom), or the one with raw bytes `seed`."""
    return (
        X25519PrivateKey.generate() if seed is None else X25519PrivateKey.from_private_bytes(seed)
    )


def public_bytes(private: X25519PrivateKey) -> bytes:
    """Return the 32-byte raw public key of `private`."""
    return private.public_key().public_bytes_raw()


def private_bytes(private: X25519PrivateKey) -> bytes:
    """Return the 32 raw bytes of `private`: what gets Shamir-shared for dropout recovery."""
    return private.private_bytes_raw()


def agree(
    private: X25519PrivateKey | bytes, peer_public_bytes: bytes, *, purpose: str = "mask"
) -> bytes:
    """Derive the 32-byte key two clients share: HKDF-SHA256(X25519(private, peer)).

    Args:
        private: own private key, or its 32 raw bytes (as the server rebuilds it).
        peer_public_bytes: the other client's 32-byte public key.
        purpose: "mask" (a PRG seed s_uv) or "encrypt" (an AES-GCM key c_uv).

    Returns:
        32 bytes, equal for agree(a, B) and agree(b, A).
    """
    if purpose not in LABELS:
        raise ValueError(f"unknown key purpose {purpose!r}; valid: {sorted(LABELS)}")
    if isinstance(private, bytes):
        private = X25519PrivateKey.from_private_bytes(private)
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public_bytes))
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=LABELS[purpose])
    return hkdf.derive(shared)


def derive_secrets(entropy: bytes, count: int) -> list[bytes]:
    """Stretch `entropy` (>= 16 bytes) into `count` independent 32-byte secrets (HKDF-SHA256).

    For reproducible simulations only: whoever knows `entropy` knows every derived key.
    """
    if len(entropy) < 16:
        raise ValueError(f"entropy must be at least 16 bytes; got {len(entropy)}")
    info = b"fedray secagg: client secrets from entropy"
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES * count, salt=None, info=info)
    stream = hkdf.derive(entropy)
    return [stream[i : i + KEY_BYTES] for i in range(0, len(stream), KEY_BYTES)]


def share_aad(sender: int, receiver: int) -> bytes:
    """Return the associated data binding a share message to its sender and receiver."""
    return b"fedray secagg share" + struct.pack("<qq", sender, receiver)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Return nonce || AES-256-GCM(key, plaintext, aad) with a fresh random 12-byte nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Invert `encrypt`; raise ValueError if the ciphertext, key or aad does not match."""
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise ValueError(
            "a share ciphertext failed authentication: it was altered, or was routed to or "
            "from the wrong client"
        ) from None
