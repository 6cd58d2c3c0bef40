"""The adaptive-attack hook: `attack.type: "package.module:function"`, user code that may
query the defense in place.

The function is called as

    fn(honest (h, d) float32, malicious (m, d) float32, params: dict, rng, defense=defense)
        -> (m, d) rows that replace the malicious clients' updates

where `defense(rows (n, d), weights (n,) or None) -> (d,) float32` is the scenario's
defense bound to its parameters and this round's context (Blades' adaptive attacks query
the rule the same way). A function without a `defense` parameter (nor **kwargs) is called
without it: the four-argument plugins of earlier versions keep working.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from fedray.attacks.view import Defense, mean_defense

SIGNATURE = "fn(honest, malicious, params, rng, defense=None) -> (m, d) rows"


def signature_problem(name: str, fn: object) -> str | None:
    """Say what is wrong with a plugin attack's callable, or None if it can be called."""
    if not callable(fn):
        return f"{name} is a {type(fn).__name__}, not a function: point it at {SIGNATURE}"
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return None
    try:
        sig.bind(None, None, None, None)
    except TypeError as exc:
        return f"{name} cannot be called with (honest, malicious, params, rng): {exc}; write {SIGNATURE}"
    return None


def wants_defense(fn: Callable) -> bool:
    """Tell whether the plugin takes the defense (a `defense` parameter or **kwargs)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "defense" or p.kind is p.VAR_KEYWORD for p in params)


def run_plugin(
    name: str, fn: Callable, honest, malicious, params, rng, defense: Defense | None
) -> np.ndarray:
    """Call the plugin and check its rows: (m, d), real numbers; raise ValueError otherwise."""
    if wants_defense(fn):
        out = fn(honest, malicious, params, rng, defense=defense or mean_defense)
    else:
        out = fn(honest, malicious, params, rng)
    try:
        rows = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"attack {name} returned {type(out).__name__}, not numbers ({exc}): return an "
            f"(m, d) array, m = {len(malicious)} malicious rows"
        ) from None
    if rows.shape != malicious.shape:
        raise ValueError(
            f"attack {name} returned shape {rows.shape}; expected {malicious.shape} (one row "
            "per malicious client of the round): return as many rows as `malicious` has"
        )
    return rows


def trial(name: str, fn: Callable, params) -> None:
    """Call the plugin once on a small random round (7 honest, 2 malicious, d = 5) with the
    mean as the defense, so a broken plugin fails before any actor starts."""
    rng = np.random.default_rng(0)
    honest = rng.standard_normal((7, 5)).astype(np.float32)
    malicious = rng.standard_normal((2, 5)).astype(np.float32)
    try:
        run_plugin(name, fn, honest, malicious, params, rng, mean_defense)
    except ValueError:
        raise
    except Exception as exc:  # the user's own bug: one line, not a traceback
        raise ValueError(
            f"attack {name} raised {type(exc).__name__}: {exc} (tried on 7 honest and 2 "
            "malicious random rows of d = 5)"
        ) from None
