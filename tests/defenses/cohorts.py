"""Small update matrices and contexts shared by the defense tests."""

import numpy as np

from fedray.defenses import RoundContext


def context(seed: int = 0, previous=None, reference=None) -> RoundContext:
    return RoundContext(np.random.default_rng(seed), previous=previous, reference=reference)


def cluster(n: int, d: int, seed: int = 0, centre: float = 0.0, spread: float = 1.0):
    """(n, d) float32 honest updates: centre + spread * N(0, 1)."""
    rng = np.random.default_rng(seed)
    return (centre + spread * rng.standard_normal((n, d))).astype(np.float32)


def with_outliers(honest: np.ndarray, f: int, seed: int = 1, scale: float = 1e6):
    """Append f rows of scale * N(0, 1): far away, in random directions."""
    rng = np.random.default_rng(seed)
    outliers = scale * rng.standard_normal((f, honest.shape[1]))
    return np.concatenate([honest, outliers.astype(np.float32)])


def ones(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.float64)
