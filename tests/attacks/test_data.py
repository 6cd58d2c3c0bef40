"""Label flipping and the backdoor trigger: by hand, exact counts, documented pixels."""

import numpy as np
import pytest

from fedray.attacks.backdoor import BackdoorParams, apply_trigger, backdoor, trigger_mask
from fedray.attacks.label_flip import LabelFlipParams, label_flip

DIGITS = (64,)


def test_untargeted_label_flip_is_c_minus_one_minus_y():
    y = np.array([0, 1, 2, 9, 5], dtype=np.int64)

    out = label_flip(y, 10, LabelFlipParams(), np.random.default_rng(0))

    assert out.tolist() == [9, 8, 7, 0, 4] and out.dtype == np.int64
    assert y.tolist() == [0, 1, 2, 9, 5]


def test_targeted_label_flip_moves_only_the_source_class():
    y = np.array([7, 1, 7, 3, 1], dtype=np.int32)

    out = label_flip(y, 10, LabelFlipParams(source=7, target=1), np.random.default_rng(0))

    assert out.tolist() == [1, 1, 1, 3, 1] and out.dtype == np.int32


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"size": 2, "pattern": "square", "corner": "bottom_right"}, [54, 55, 62, 63]),
        ({"size": 2, "pattern": "square", "corner": "top_left"}, [0, 1, 8, 9]),
        ({"size": 3, "pattern": "plus", "corner": "bottom_right"}, [46, 53, 54, 55, 62]),
        ({"size": 3, "pattern": "plus", "corner": "top_right"}, [6, 13, 14, 15, 22]),
    ],
)
def test_trigger_pixels_on_an_8x8_digit(params, expected):
    mask = trigger_mask(DIGITS, BackdoorParams(**params))

    assert np.flatnonzero(mask).tolist() == expected


def test_backdoor_poisons_exactly_the_rounded_fraction_where_documented():
    n, rng = 30, np.random.default_rng(0)
    x = rng.uniform(0.0, 0.5, size=(n, 64)).astype(np.float32)
    y = rng.integers(1, 10, size=n)
    params = BackdoorParams(target=0, poison_fraction=0.25, value=1.0)  # round(7.5) = 8

    x_out, y_out = backdoor(x, y, params, np.random.default_rng(3), DIGITS)

    changed = np.flatnonzero(np.any(x_out != x, axis=1))
    assert len(changed) == round(0.25 * n) == 8
    assert np.flatnonzero(y_out != y).tolist() == changed.tolist()
    assert np.all(y_out[changed] == 0)
    assert np.all(x_out[changed][:, [54, 55, 62, 63]] == 1.0)
    untouched = np.setdiff1d(np.arange(64), [54, 55, 62, 63])
    np.testing.assert_array_equal(x_out[:, untouched], x[:, untouched])
    assert x_out.dtype == x.dtype and x_out.shape == x.shape


def test_backdoor_works_on_channels_first_images():
    x = np.zeros((4, 3, 5, 6), dtype=np.float32)

    x_out, _ = backdoor(
        x,
        np.ones(4, np.int64),
        BackdoorParams(poison_fraction=1.0),
        np.random.default_rng(0),
        (3, 5, 6),
    )

    assert x_out.shape == (4, 3, 5, 6)
    assert np.all(x_out[:, :, 3:, 4:] == 1.0) and x_out.sum() == 4 * 3 * 4


def test_backdoor_is_deterministic_in_the_rng():
    x, y = np.zeros((20, 64), np.float32), np.arange(20) % 10
    params = BackdoorParams(poison_fraction=0.3)

    first = backdoor(x, y, params, np.random.default_rng(5), DIGITS)
    again = backdoor(x, y, params, np.random.default_rng(5), DIGITS)

    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()


def test_apply_trigger_stamps_every_row_and_is_idempotent():
    x = np.random.default_rng(0).uniform(size=(10, 64)).astype(np.float32)
    params = BackdoorParams(size=3, pattern="plus", value=0.75)

    once = apply_trigger(x, DIGITS, params)
    twice = apply_trigger(once, DIGITS, params)

    assert np.all(once[:, [46, 53, 54, 55, 62]] == 0.75)
    assert once.tobytes() == twice.tobytes()
