"""Adaptive attacks written as users would, referred to as `module:attr` by the tests."""

import numpy as np


def push_until_it_moves(honest, malicious, params, rng, defense=None):
    """Query the defense: send the largest multiple of -mean that moves its aggregate most."""
    mean = honest.mean(axis=0)
    best, best_gap = None, -1.0
    for k in (0.5, 1.0, 2.0, 4.0, 8.0):
        rows = np.repeat((-k * mean)[None, :], len(malicious), axis=0)
        gap = float(np.linalg.norm(defense(np.concatenate([honest, rows])) - mean))
        if gap > best_gap:
            best, best_gap = rows, gap
    return best


def four_arguments(honest, malicious, params, rng):
    return malicious * 0


def wrong_rows(honest, malicious, params, rng, defense=None):
    return malicious[:1]


def needs_five(honest, malicious, params, rng, extra):
    return malicious


NOT_A_FUNCTION = 3
