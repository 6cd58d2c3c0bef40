"""What every attack shares: parameter bounds, input checks, the honest statistics.

A model attack is `fn(honest (h, d) float32, malicious (m, d) float32, params, rng) -> (m, d)
float32`: `honest` are the round's honest updates, `malicious` the colluding clients' own
updates (trained honestly, or on poisoned data), and the result replaces the malicious rows.
"""

from __future__ import annotations

import numpy as np

from fedray.defenses.common import column_blocks, row_blocks
from fedray.registry import bound_problems


def check_params(name: str, params: object, expected: type) -> None:
    """Check a parameter dataclass against its fields' metadata bounds, reporting all at once.

    The scenario loader checks the same bounds; this catches parameters built in Python.
    """
    if not isinstance(params, expected):
        raise ValueError(
            f"{name} needs {expected.__name__} parameters; got {type(params).__name__}: "
            f"build them with {expected.__name__}(**params)"
        )
    problems = bound_problems(params, "attack")
    if problems:
        raise ValueError(f"{name}: " + "; ".join(problems))


def check_choice(name: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise if a string parameter is not one of its choices."""
    if value not in choices:
        raise ValueError(
            f"{name}: attack.{key} must be one of {', '.join(choices)}; got {value!r}: "
            "pick one of those"
        )


def check_updates(
    name: str, honest: np.ndarray, malicious: np.ndarray, *, needs_honest: bool
) -> tuple[int, int, int]:
    """Check the (h, d) honest and (m, d) malicious update matrices; return (h, m, d)."""
    for what, rows in (("honest", honest), ("malicious", malicious)):
        if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.floating):
            raise ValueError(
                f"{name} needs a 2-D float {what} update matrix; got shape {rows.shape}, "
                f"dtype {rows.dtype}: stack the flattened updates with np.stack"
            )
    (h, d), (m, d_mal) = honest.shape, malicious.shape
    if d != d_mal:
        raise ValueError(
            f"{name} needs honest and malicious updates of the same model; got d={d} and "
            f"d={d_mal}: pass flat updates of one model"
        )
    if needs_honest and h == 0 and m > 0:
        raise ValueError(
            f"{name} is computed from the round's honest updates; got none (m={m} malicious "
            "of the cohort): lower attack.fraction or raise federation.clients_per_round"
        )
    return h, m, d


def honest_mean(honest: np.ndarray) -> np.ndarray:
    """Return the (d,) float64 coordinate-wise mean of the rows, accumulated in float64."""
    return honest.mean(axis=0, dtype=np.float64)


def honest_std(honest: np.ndarray) -> np.ndarray:
    """Return the (d,) float64 coordinate-wise population standard deviation (ddof=0)."""
    h, d = honest.shape
    out = np.empty(d, dtype=np.float64)
    for cols in column_blocks(h, d):
        out[cols] = honest[:, cols].astype(np.float64).std(axis=0)
    return out


def rows_dot(updates: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Return (n,) float64 inner products of the rows with a (d,) vector, block by block."""
    n, d = updates.shape
    out = np.empty(n, dtype=np.float64)
    for rows in row_blocks(n, d):
        out[rows] = updates[rows].astype(np.float64) @ vector
    return out


def repeat(vector: np.ndarray, m: int) -> np.ndarray:
    """Return the (m, d) float32 matrix whose every row is `vector`: colluders send one update."""
    return np.repeat(vector.astype(np.float32)[None, :], m, axis=0)
