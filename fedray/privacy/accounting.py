"""Privacy accounting for compositions of Poisson-subsampled Gaussian mechanisms, by Opacus.

A history is a list of (noise multiplier z, sample rate q, steps), Opacus' own format.
"rdp": Renyi DP (Mironov 2017; Mironov, Talwar and Zhang 2019, "Renyi Differential Privacy
of the Sampled Gaussian Mechanism"). "prv": numerical composition of privacy loss random
variables (Gopi, Lee and Wutschitz, "Numerical Composition of Differential Privacy", 2021),
tighter than RDP.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import warnings

History = list[tuple[float, float, int]]

# Opacus costs about a second to import (its package loads the whole privacy engine), and
# most runs never account: it is imported on first use, by name, not at module load.
ACCOUNTANTS = {"rdp": "RDPAccountant", "prv": "PRVAccountant"}


def compact(history: History) -> History:
    """Merge all entries with equal (z, q), in order of first appearance; drop zero steps.

    Composition commutes (RDP curves add; privacy-loss distributions convolve), so k steps
    of one mechanism anywhere in the history plus m more are k + m steps of it. A run of
    10^4 rounds whose noise takes a few values (distributed DP: z sqrt(survivors / m))
    becomes a few entries, and its epsilon costs the same to compute every round.
    """
    totals: dict[tuple[float, float], int] = {}
    for z, q, steps in history:
        if steps:
            totals[(z, q)] = totals.get((z, q), 0) + steps
    return [(z, q, steps) for (z, q), steps in totals.items()]


def epsilon(history: History, *, delta: float, accountant: str = "rdp") -> float:
    """Return the epsilon at `delta` of running every (z, q, steps) entry of `history` in turn.

    Args:
        history: (noise multiplier, sample rate, steps) entries; it is compacted first.
        delta: target delta in (0, 1).
        accountant: "rdp" or "prv".

    Returns:
        epsilon >= 0; 0 for an empty history. inf when some entry has z = 0 and q > 0.
    """
    cls = _accountant(accountant)
    problems = _delta_problems(delta) + [p for entry in history for p in _entry_problems(*entry)]
    if problems:
        raise ValueError("privacy accounting: " + "; ".join(problems))
    history = [entry for entry in compact(history) if entry[1] > 0]
    if not history:
        return 0.0
    if any(z == 0 for z, _, _ in history):
        return math.inf
    meter = cls()
    meter.history = history
    with _quiet():
        return float(meter.get_epsilon(delta=delta))


def calibrate(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str = "rdp",
    tolerance: float = 1e-3,
) -> float:
    """Return the smallest noise multiplier found with epsilon <= target_epsilon after `steps`.

    A bisection by Opacus' `get_noise_multiplier`, stopped once epsilon is within `tolerance`
    below the target; so epsilon(calibrate(e)) lies in [e - tolerance, e].
    """
    _accountant(accountant)
    problems = _delta_problems(delta) + _entry_problems(1.0, sample_rate, steps)
    if not target_epsilon > 0:
        problems.append(f"target_epsilon must be > 0, got {target_epsilon}")
    if steps < 1 or sample_rate == 0:
        problems.append(
            f"calibration needs steps >= 1 and sample_rate > 0; got steps={steps}, "
            f"sample_rate={sample_rate}: with no sampled step any noise meets the target"
        )
    if problems:
        raise ValueError("noise calibration: " + "; ".join(problems))
    try:
        with _quiet():
            z = importlib.import_module("opacus.accountants.utils").get_noise_multiplier(
                target_epsilon=target_epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant=accountant,
                epsilon_tolerance=tolerance,
            )
    except ValueError as exc:  # Opacus: "The privacy budget is too low."
        raise ValueError(
            f"no noise multiplier reaches epsilon {target_epsilon:g} at delta {delta:g} over "
            f"{steps} steps at sample rate {sample_rate:g} ({exc}): raise the target epsilon or "
            "delta, or plan fewer steps"
        ) from None
    return float(z)


@contextlib.contextmanager
def _quiet():
    """Silence Opacus' RDP note that the best order is the largest one tried: the bound is
    still valid, only slightly loose at very small epsilons."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


def _accountant(name: str) -> type:
    if name not in ACCOUNTANTS:
        raise ValueError(
            f"unknown accountant {name!r}; expected one of: {', '.join(sorted(ACCOUNTANTS))}"
        )
    return getattr(importlib.import_module("opacus.accountants"), ACCOUNTANTS[name])


def _delta_problems(delta: float) -> list[str]:
    return [] if 0 < delta < 1 else [f"delta must be in (0, 1), got {delta}"]


def _entry_problems(z: float, q: float, steps: int) -> list[str]:
    problems = []
    if not (z >= 0 and math.isfinite(z)):
        problems.append(f"noise multiplier must be finite and >= 0, got {z}")
    if not 0 <= q <= 1:
        problems.append(f"sample rate must be in [0, 1], got {q}")
    if steps < 0 or int(steps) != steps:
        problems.append(f"steps must be a whole number >= 0, got {steps}")
    return problems
