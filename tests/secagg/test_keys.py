"""X25519 agreement, HKDF labels and AES-GCM share messages."""

import pytest

from fedray.secagg import keys


def test_agreement_is_symmetric_and_depends_on_the_purpose():
    a, b = keys.generate(), keys.generate()

    ab = keys.agree(a, keys.public_bytes(b))
    ba = keys.agree(b, keys.public_bytes(a))

    assert ab == ba and len(ab) == 32
    assert keys.agree(a, keys.public_bytes(b), purpose="encrypt") != ab
    assert (
        keys.agree(keys.private_bytes(a), keys.public_bytes(b)) == ab
    )  # as the server rebuilds it
    assert keys.agree(keys.generate(), keys.public_bytes(b)) != ab


def test_unknown_purpose_is_refused():
    a = keys.generate()
    with pytest.raises(ValueError, match="valid: \\['encrypt', 'mask'\\]"):
        keys.agree(a, keys.public_bytes(a), purpose="other")


def test_a_key_rebuilt_from_its_raw_bytes_is_the_same_key():
    a = keys.generate()

    assert keys.public_bytes(keys.generate(keys.private_bytes(a))) == keys.public_bytes(a)


def test_encryption_round_trips_with_fresh_nonces():
    key, aad = b"\x01" * 32, keys.share_aad(3, 7)

    first, second = keys.encrypt(key, b"shares", aad), keys.encrypt(key, b"shares", aad)

    assert first != second
    assert keys.decrypt(key, first, aad) == keys.decrypt(key, second, aad) == b"shares"


def test_tampered_misrouted_or_wrongly_keyed_ciphertexts_are_refused():
    key, aad = b"\x01" * 32, keys.share_aad(3, 7)
    ciphertext = keys.encrypt(key, b"shares", aad)
    flipped = bytes([ciphertext[20] ^ 1])

    for bad_key, bad_ct, bad_aad in [
        (key, ciphertext[:20] + flipped + ciphertext[21:], aad),
        (key, ciphertext, keys.share_aad(3, 8)),
        (key, ciphertext, keys.share_aad(7, 3)),
        (b"\x02" * 32, ciphertext, aad),
    ]:
        with pytest.raises(ValueError, match="failed authentication"):
            keys.decrypt(bad_key, bad_ct, bad_aad)


def test_derived_secrets_are_reproducible_and_distinct():
    first = keys.derive_secrets(b"\x05" * 32, 4)

    assert first == keys.derive_secrets(b"\x05" * 32, 4)
    assert len(set(first)) == 4 and all(len(s) == 32 for s in first)
    assert first != keys.derive_secrets(b"\x06" * 32, 4)
