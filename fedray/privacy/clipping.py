"""Central user-level DP-FedAvg: clip each client's update, sum, add Gaussian noise, divide
by the expected cohort size.

McMahan, Ramage, Talwar and Zhang, "Learning Differentially Private Recurrent Language
Models", ICLR 2018 (the fixed-denominator estimator f_f of their Algorithm 1 / Section 2).
"""

from __future__ import annotations

import math

import numpy as np


def clip_rows(rows: np.ndarray, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale every row by min(1, S / ||row||) (McMahan et al. 2018, ClipFn with flat clipping).

    Args:
        rows: (k, d) float32, one client update per row.
        bound: clipping norm S > 0.

    Returns:
        (clipped rows (k, d) float32, L2 norms before clipping (k,) float64). A row of norm
        at most S comes back bitwise unchanged; a longer one has norm S up to float32 rounding.
    """
    rows = _check_rows(rows)
    _check_positive("bound", bound)
    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    out = rows.copy()
    over = norms > bound
    # Scale in float64 and round once, so the clipped norm lands within an ulp of S.
    out[over] = (rows[over].astype(np.float64) * (bound / norms[over])[:, None]).astype(np.float32)
    return out, norms


def gaussian(d: int, std: float, rng: np.random.Generator) -> np.ndarray:
    """Draw a (d,) float32 vector of independent N(0, std^2) entries from `rng`."""
    if std < 0 or not math.isfinite(std):
        raise ValueError(f"noise std must be finite and >= 0, got {std}")
    return (std * rng.standard_normal(d)).astype(np.float32)


def noised_mean(
    rows: np.ndarray,
    *,
    bound: float,
    noise_multiplier: float,
    expected_clients: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict]:
    """Return (sum_i clip(rows_i) + N(0, (z S)^2 I)) / expected_clients (McMahan et al. 2018).

    The denominator is the expected cohort size qN, not the number of rows received: with
    Poisson-sampled clients this keeps the sensitivity of the estimator at S / (qN), whatever
    the realised cohort (the fixed-denominator estimator f_f), and the estimate is unbiased
    for the population's mean clipped update rather than a mean of the rows that arrived.

    Args:
        rows: (k, d) float32 client updates; k may be 0 (then the result is pure noise).
        bound: clipping norm S > 0.
        noise_multiplier: z >= 0; the noise std on the sum is z S.
        expected_clients: qN > 0, the expected number of clients per round.
        rng: source of the noise.

    Returns:
        ((d,) float32 estimate, stats) with stats "clipped" (rows with norm > S),
        "unclipped" (norm <= S), both int, and "mean_norm" (mean pre-clipping norm,
        float; nan when k = 0).
    """
    _check_positive("expected_clients", expected_clients)
    if noise_multiplier < 0 or not math.isfinite(noise_multiplier):
        raise ValueError(f"noise_multiplier must be finite and >= 0, got {noise_multiplier}")
    clipped, norms = clip_rows(rows, bound)
    total = clipped.astype(np.float64).sum(axis=0)
    total += gaussian(clipped.shape[1], noise_multiplier * bound, rng)
    unclipped = int(np.count_nonzero(norms <= bound))
    stats = {
        "clipped": len(norms) - unclipped,
        "unclipped": unclipped,
        "mean_norm": float(norms.mean()) if len(norms) else float("nan"),
    }
    return (total / expected_clients).astype(np.float32), stats


def _check_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 2:
        raise ValueError(f"expected updates of shape (k, d), got shape {rows.shape}")
    if rows.dtype != np.float32:
        raise ValueError(
            f"expected float32 updates, got {rows.dtype}: cast with .astype(np.float32)"
        )
    return rows


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
