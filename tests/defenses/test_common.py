"""Shared pieces: resolving f, input checks, blockwise norms and sums."""

import numpy as np
import pytest

from fedray.defenses import common
from fedray.defenses.common import check_inputs, combine, resolve_f, row_norms


@pytest.mark.parametrize(
    "f, fraction, n, expected",
    [
        (3, None, 10, 3),
        (3, 0.5, 10, 3),  # an explicit f wins
        (None, 0.25, 10, 2),  # floor(2.5)
        (None, 0.29, 100, 29),  # 0.29 * 100 is 28.999... in binary
        (None, 0.3, 10, 3),
        (None, 1.0, 7, 7),
        (None, None, 10, 0),
    ],
)
def test_resolve_f(f, fraction, n, expected):
    assert resolve_f(f, fraction, n) == expected


@pytest.mark.parametrize(
    "f, fraction, message",
    [(-1, None, "defense.f must be >= 0"), (None, 1.5, "defense.fraction must be in [0, 1]")],
)
def test_resolve_f_rejects_bad_values(f, fraction, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_f(f, fraction, 10)


@pytest.mark.parametrize(
    "updates, weights, message",
    [
        (np.zeros(3, np.float32), np.ones(3), "2-D float update matrix"),
        (np.zeros((2, 3), np.int64), np.ones(2), "2-D float update matrix"),
        (np.zeros((0, 3), np.float32), np.ones(0), "at least one update"),
        (np.zeros((2, 3), np.float32), np.ones(3), "one weight per update"),
        (np.zeros((2, 3), np.float32), np.array([1.0, -1.0]), "non-negative weights"),
        (np.zeros((2, 3), np.float32), np.array([1.0, np.nan]), "finite non-negative"),
    ],
)
def test_check_inputs_says_what_is_wrong(updates, weights, message):
    with pytest.raises(ValueError, match=message):
        check_inputs("rule", updates, weights)


def test_blockwise_helpers_match_numpy_for_any_block_size(monkeypatch):
    updates = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    coef = np.arange(7, dtype=np.float64)
    centre = np.linspace(-1, 1, 5)
    expected_norms = np.linalg.norm(updates.astype(np.float64) - centre, axis=1)
    expected_sum = coef @ updates.astype(np.float64)

    for block in (1, 3, 6, 2**25):
        monkeypatch.setattr(common, "BLOCK_VALUES", block)
        norms, total = row_norms(updates, centre), combine(coef, updates)

        np.testing.assert_allclose(norms, expected_norms, rtol=1e-12)
        np.testing.assert_allclose(total, expected_sum, rtol=1e-12)
