"""The held-out split and the digits reader agree with scikit-learn, which they replace at
run time (tests may import it: it is a declared dependency)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fedray.data.split import approximate_mode, held_out_split, sklearn_digits


def _reference(n, fraction, labels):
    train, test = train_test_split(
        np.arange(n), test_size=fraction, random_state=0, stratify=labels
    )
    return np.sort(train), np.sort(test)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.37, 0.5])
def test_stratified_split_is_sklearns(seed, fraction):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 400))
    labels = rng.integers(0, int(rng.integers(2, 9)), n)
    labels[: 2 * 9] = np.repeat(np.arange(9), 2) % (labels.max() + 1)  # every class >= 2
    ours, theirs = held_out_split(n, fraction, labels), _reference(n, fraction, labels)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("n,fraction", [(10, 0.3), (1797, 0.2), (57, 0.5)])
def test_plain_split_is_sklearns(n, fraction):
    ours, theirs = held_out_split(n, fraction, None), _reference(n, fraction, None)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_split_sklearn_refuses_is_refused_with_its_message():
    labels = np.repeat(np.arange(5), 2)  # 5 classes, 10 samples: 2 test samples < 5 classes
    with pytest.raises(ValueError, match="number of classes"):
        held_out_split(10, 0.2, labels)


def test_approximate_mode_gives_every_draw_and_respects_counts():
    rng = np.random.RandomState(3)
    counts = np.array([5, 1, 7, 3, 3])
    taken = approximate_mode(counts, 9, rng)
    assert taken.sum() == 9 and np.all(taken <= counts) and np.all(taken >= 0)


def test_digits_reader_is_load_digits():
    x, y = sklearn_digits()
    bunch = load_digits()
    np.testing.assert_array_equal(x, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


@pytest.mark.parametrize("fraction", [0.2, 0.25])
def test_digits_split_is_sklearns(fraction):
    _, y = sklearn_digits()
    ours, theirs = held_out_split(len(y), fraction, y), _reference(len(y), fraction, y)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
