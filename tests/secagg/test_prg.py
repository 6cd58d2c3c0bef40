"""The AES-256-CTR PRG: a known answer, word sizes, range, determinism and uniformity."""

import numpy as np
import pytest
from scipy.stats import chisquare

from fedray.secagg.prg import expand, keystream_words


def test_first_block_is_aes256_of_the_zero_counter():
    # AES-256 under the all-zero key maps the zero block to dc95c078 a2408989 ad48a214 92842087.
    words = expand(bytes(32), 4, 32)

    assert words.tolist() == [
        int.from_bytes(bytes.fromhex(h), "little")
        for h in ("dc95c078", "a2408989", "ad48a214", "92842087")
    ]


def test_eight_byte_words_above_32_bits():
    words = expand(bytes(32), 2, 64)

    assert words.tolist() == [
        int.from_bytes(bytes.fromhex(h), "little") for h in ("dc95c078a2408989", "ad48a21492842087")
    ]


@pytest.mark.parametrize("m", [1, 20, 32, 33, 63, 64])
def test_words_keep_the_low_m_bits_of_the_stream(m):
    seed = bytes(range(32))

    words = expand(seed, 1000, m)
    raw = keystream_words(seed, 1000, m).astype(np.uint64)

    assert words.dtype == np.uint64
    mask = np.uint64((1 << m) - 1) if m < 64 else np.uint64(2**64 - 1)
    np.testing.assert_array_equal(words, raw & mask)
    assert m == 64 or int(words.max()) < 2**m


def test_same_seed_same_stream_and_a_prefix_of_a_longer_one():
    seed = b"\x07" * 32

    np.testing.assert_array_equal(expand(seed, 10, 40), expand(seed, 100, 40)[:10])
    assert not np.array_equal(expand(seed, 10, 40), expand(b"\x08" * 32, 10, 40))


@pytest.mark.parametrize("m", [8, 32, 64])
def test_top_bits_are_uniform(m):
    words = expand(b"\x42" * 32, 40_000, m)

    counts = np.bincount((words >> np.uint64(m - 4)).astype(np.int64), minlength=16)

    assert chisquare(counts).pvalue > 1e-3


def test_seed_must_be_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        expand(b"short", 4, 32)
