"""Each codec against its definition; the bytes counted are the real buffer's length."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedray import compression
from fedray.compression import qsgd, sign, sparse, wire

D = 1000


def vector(d=D, seed=0):
    return np.random.default_rng(seed).standard_normal(d).astype(np.float32)


CONFIGS = [
    ("none", None),
    ("topk", sparse.TopKParams(k=37)),
    ("topk", sparse.TopKParams(fraction=0.01)),
    ("randomk", sparse.RandomKParams(k=50)),
    ("randomk", sparse.RandomKParams(fraction=0.2, shared=True)),
    ("qsgd", qsgd.QSGDParams(bits=8)),
    ("qsgd", qsgd.QSGDParams(bits=4, bucket=128)),
    ("qsgd", qsgd.QSGDParams(bits=3, levels=2, bucket=1000)),
    ("sign", None),
]


@pytest.mark.parametrize("d", [1, 7, 1000, 4097])
@pytest.mark.parametrize("name, params", CONFIGS, ids=lambda c: str(c))
def test_bytes_counted_are_the_payload_length_and_fixed_by_the_config(name, params, d):
    if name in ("topk", "randomk") and params.k is not None and params.k > d:
        pytest.skip("k > d is refused; tested below")
    payload = compression.encode(vector(d), name, params, np.random.default_rng(1))

    assert isinstance(payload, bytes)
    assert len(payload) == compression.size(name, params, d)
    assert compression.decode(payload, d).shape == (d,)


def test_sizes_match_the_documented_formulas():
    d = 10**6
    assert compression.size("none", None, d) == 6 + 4 * d
    # 20 bits per index (2^20 > 10^6 - 1), 4 bytes per value, k as uint32.
    assert compression.size("topk", sparse.TopKParams(k=1000), d) == 6 + 4 + 2500 + 4000
    assert compression.size("randomk", sparse.RandomKParams(k=1000), d) == 6 + 4 + 8 + 4000
    assert compression.size("qsgd", qsgd.QSGDParams(bits=4), d) == 6 + 7 + 4 * 1954 + d // 2
    assert compression.size("sign", None, d) == 6 + 4 + d // 8


def test_none_is_exact():
    x = vector()
    assert compression.decode(compression.encode(x, "none"), D).tobytes() == x.tobytes()


def test_topk_keeps_the_largest_magnitudes_exactly():
    x = vector()
    out = compression.decode(compression.encode(x, "topk", sparse.TopKParams(k=37)), D)

    keep = np.argsort(-np.abs(x))[:37]
    expected = np.zeros(D, np.float32)
    expected[keep] = x[keep]
    assert out.tobytes() == expected.tobytes()


def test_topk_breaks_ties_toward_lower_indices():
    x = np.array([1, -3, 3, 0, 3, 2], np.float32)
    assert sparse.top_indices(x, 2).tolist() == [1, 2]


def test_randomk_sends_k_exact_coordinates_named_by_its_seed():
    x = vector()
    params = sparse.RandomKParams(k=50)
    payload = compression.encode(x, "randomk", params, np.random.default_rng(5))
    out = compression.decode(payload, D)

    kept = np.flatnonzero(out)
    assert len(kept) == 50
    assert out[kept].tobytes() == x[kept].tobytes()
    seed = int(np.frombuffer(payload[10:18], "<u8")[0])
    assert kept.tolist() == sparse.random_indices(seed, D, 50).tolist()


def test_randomk_shared_stream_gives_every_client_the_same_coordinates():
    params = sparse.RandomKParams(k=20, shared=True)
    a = compression.encode(vector(seed=1), "randomk", params, np.random.default_rng(9))
    b = compression.encode(vector(seed=2), "randomk", params, np.random.default_rng(9))
    assert np.array_equal(
        np.flatnonzero(compression.decode(a, D)), np.flatnonzero(compression.decode(b, D))
    )


@pytest.mark.parametrize("bits", [8, 4])
def test_qsgd_decodes_to_norm_times_level_over_s(bits):
    x = vector(300)
    params = qsgd.QSGDParams(bits=bits, bucket=100)
    out = compression.decode(compression.encode(x, "qsgd", params, np.random.default_rng(0)), 300)

    s = 2 ** (bits - 1) - 1
    for b in range(3):
        rows = slice(100 * b, 100 * (b + 1))
        norm = np.float32(np.linalg.norm(x[rows].astype(np.float64)))
        levels = out[rows].astype(np.float64) * s / norm
        assert np.allclose(levels, np.round(levels), atol=1e-4)  # on the grid
        assert np.all(np.abs(levels) <= s + 1e-4)
        # Rounded to one of the two neighbouring levels, never further.
        exact = np.abs(x[rows].astype(np.float64)) * s / norm
        assert np.all(np.abs(np.abs(levels) - exact) < 1 + 1e-4)
        assert np.all((np.sign(out[rows]) == np.sign(x[rows])) | (out[rows] == 0))


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_qsgd_is_unbiased(bits):
    # The mean of n independent encodings approaches x at rate sigma / sqrt(n): every
    # coordinate's mean must lie within 5 standard errors, estimated from the draws.
    x = vector(64, seed=3)
    params = qsgd.QSGDParams(bits=bits, bucket=64)
    rng = np.random.default_rng(11)
    draws = np.stack(
        [compression.decode(compression.encode(x, "qsgd", params, rng), 64) for _ in range(4000)]
    ).astype(np.float64)

    err = draws.mean(axis=0) - x
    stderr = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(err) <= 5 * stderr + 1e-6)
    # And a biased rounder (round to nearest) would fail the same test.
    assert np.abs(err).max() < 0.2 * np.abs(x).max()


def test_sign_sends_mean_magnitude_times_sign():
    x = np.array([0.5, -2.0, 0.0, 1.5, -0.25], np.float32)
    out = compression.decode(compression.encode(x, "sign"), 5)

    scale = np.float32(np.abs(x.astype(np.float64)).mean())
    assert out.tolist() == (scale * np.array([1, -1, 1, 1, -1], np.float32)).tolist()


def test_zero_vector_stays_zero_through_qsgd_and_sparse():
    z = np.zeros(100, np.float32)
    rng = np.random.default_rng(0)
    for name, params in CONFIGS[:-1]:
        if name in ("topk", "randomk") and params.k is not None and params.k > 100:
            continue
        assert not compression.decode(compression.encode(z, name, params, rng), 100).any()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 32), st.lists(st.integers(0, 2**32 - 1), max_size=70))
def test_pack_then_unpack_is_identity(bits, raw):
    values = np.array([v % (1 << bits) for v in raw], np.uint32)
    packed = wire.pack(values, bits)

    assert len(packed) == wire.packed_size(len(values), bits)
    assert wire.unpack(packed, len(values), bits).tolist() == values.tolist()


def test_k_larger_than_the_model_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match=r"k=20 coordinates of a model with d=10"):
        compression.encode(vector(10), "topk", sparse.TopKParams(k=20))


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x01", "no header"),
        (b"\x09\x00" + (1000).to_bytes(4, "little"), "unknown codec id 9"),
        (b"\x00\x00" + (999).to_bytes(4, "little"), "expected d=1000"),
    ],
)
def test_malformed_payloads_raise_value_errors(payload, match):
    with pytest.raises(ValueError, match=match):
        compression.decode(payload, D)


@pytest.mark.parametrize("name, params", CONFIGS[1:], ids=lambda c: str(c))
def test_truncated_payloads_raise_value_errors(name, params):
    payload = compression.encode(vector(), name, params, np.random.default_rng(0))
    with pytest.raises(ValueError):
        compression.decode(payload[: len(payload) // 2], D)


def test_payload_bytes_reads_the_scenario_section_in_both_directions():
    from fedray.scenario import load_scenario

    s = load_scenario(
        {"compression": {"type": "topk", "k": 100, "downlink": {"type": "sign"}}}
    ).compression
    assert compression.payload_bytes(s, 4810, "up") == compression.size(
        "topk", sparse.TopKParams(k=100), 4810
    )
    assert compression.payload_bytes(s, 4810, "down") == compression.size("sign", None, 4810)
    assert compression.payload_bytes(None, 4810, "down") == 6 + 4 * 4810
    with pytest.raises(ValueError, match="'up' or 'down'"):
        compression.payload_bytes(s, 10, "sideways")
    assert sign.size(sign.SignParams(), 9) == 12
