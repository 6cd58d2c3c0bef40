"""The held-out test split of array datasets, and scikit-learn's digits, without importing
scikit-learn.

Importing `sklearn.model_selection` costs about 1.4 s of CPU (it pulls in scipy), and every
actor of a digits run used to pay it for two lines of work. `held_out_split` draws exactly
the split `sklearn.model_selection.train_test_split(..., random_state=0, stratify=...)`
draws (scikit-learn's documented algorithm: per-class counts by the approximate mode of the
multivariate hypergeometric, then a random permutation within each class, all from one
`RandomState(0)`), so existing runs keep their bits; `tests/data/test_split.py` checks it
against scikit-learn itself. Splits scikit-learn refuses are handed to scikit-learn, so the
error it gives is unchanged.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np


def held_out_split(
    n: int, test_fraction: float, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, test) indices into `n` samples, each sorted, int64.

    Args:
        n: number of samples.
        test_fraction: in (0, 1); the test side gets ceil(test_fraction * n) samples.
        labels: (n,) class labels to stratify by, or None for a plain shuffled split.
    """
    n_test = math.ceil(test_fraction * n)
    n_train = n - n_test
    if labels is None:
        if n_test < 1 or n_train < 1:
            return _sklearn_split(n, test_fraction, None)
        order = np.random.RandomState(0).permutation(n)
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    classes = len(counts)
    if counts.min() < 2 or n_train < classes or n_test < classes:
        return _sklearn_split(n, test_fraction, labels)
    members = np.split(np.argsort(inverse.ravel(), kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(0)
    train_counts = approximate_mode(counts, n_train, rng)
    test_counts = approximate_mode(counts - train_counts, n_test, rng)
    train, test = [], []
    for k in range(classes):
        shuffled = members[k][rng.permutation(counts[k])]
        train.append(shuffled[: train_counts[k]])
        test.append(shuffled[train_counts[k] : train_counts[k] + test_counts[k]])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` samples to take from each class of `counts` (int64 (k,)).

    Each class gets the floor of its proportional share; the samples left over go to the
    classes with the largest remainders, ties broken at random by `rng`.
    """
    share = counts / counts.sum() * draws
    taken = np.floor(share)
    missing = int(draws - taken.sum())
    remainder = share - taken
    for value in np.unique(remainder)[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        taken[chosen] += 1
        missing -= len(chosen)
    return taken.astype(int)


def _sklearn_split(n: int, test_fraction: float, labels) -> tuple[np.ndarray, np.ndarray]:
    """A split at the edge of what is possible: scikit-learn decides, and says why not."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(n), test_size=test_fraction, random_state=0, stratify=labels
    )
    return np.sort(train), np.sort(test)


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digits scikit-learn ships: x (1797, 64) float64 in [0, 16], y (1797,) int64.

    Read straight from the package's data file, as `sklearn.datasets.load_digits` reads it.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the digits dataset needs scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)
