"""Small honest / malicious update matrices shared by the attack tests."""

import numpy as np


def cluster(n: int, d: int, seed: int = 0, centre: float = 0.5, spread: float = 1.0):
    """(n, d) float32 updates: centre + spread * N(0, 1), honest clients pulling one way."""
    rng = np.random.default_rng(seed)
    return (centre + spread * rng.standard_normal((n, d))).astype(np.float32)


def sq_distances(rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(len(rows), len(others)) float64 squared distances by a plain double loop."""
    a, b = rows.astype(np.float64), others.astype(np.float64)
    return np.array([[float(np.sum((r - o) ** 2)) for o in b] for r in a])
