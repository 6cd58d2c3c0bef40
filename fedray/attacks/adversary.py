"""Who the adversary is and when it acts: a fixed seeded set of clients, a round schedule."""

from __future__ import annotations

import math
import numbers

import numpy as np

from fedray import seeding


def malicious_count(population: int, fraction_or_count: float | int) -> int:
    """Return the malicious count: an int as is, a float in [0, 1] as floor(fraction * population)."""
    if population < 1:
        raise ValueError(
            f"the population must hold at least one client; got {population}: "
            "raise federation.population"
        )
    if isinstance(fraction_or_count, bool) or not isinstance(fraction_or_count, numbers.Real):
        raise ValueError(
            f"attack.fraction must be a number (a share) or attack.count an integer; got "
            f"{fraction_or_count!r}: set a share in [0, 1] or a whole count"
        )
    if isinstance(fraction_or_count, numbers.Integral):
        if not 0 <= fraction_or_count <= population:
            raise ValueError(
                f"attack.count must be in [0, {population}] (the population); got "
                f"{fraction_or_count}: lower it or raise federation.population"
            )
        return int(fraction_or_count)
    if not 0 <= fraction_or_count <= 1:
        raise ValueError(
            f"attack.fraction must be in [0, 1]; got {fraction_or_count}: set a share of the "
            "population, or pass an integer for a count"
        )
    # 0.29 * 100 is 28.999999999999996 in binary: nudge before flooring.
    return math.floor(fraction_or_count * population + 1e-9)


def malicious_clients(seed: int, population: int, fraction_or_count: float | int) -> np.ndarray:
    """Return the sorted int64 ids of the malicious clients, the same for the whole run.

    The set is drawn once from the `seeding.ATTACK` stream of `seed`, uniformly without
    replacement from ids 0 .. population - 1; its cost follows the set, not the population.

    Args:
        seed: the scenario's seed.
        population: clients in the federation.
        fraction_or_count: a float share in [0, 1] (floored), or an int count.
    """
    count = malicious_count(population, fraction_or_count)
    rng = seeding.rng(seed, purpose=seeding.ATTACK)
    return np.sort(rng.choice(population, size=count, replace=False)).astype(np.int64)


def is_active(round_: int, start_round: int, every: int, stop_round: int | None = None) -> bool:
    """Tell whether the adversary acts in `round_`: from start_round on, every `every` rounds,
    up to stop_round (None: to the end).

    Rounds count from 1; the attack runs in start_round, start_round + every, ... <= stop_round.
    """
    if start_round < 1 or every < 1:
        raise ValueError(
            f"attack.start_round and attack.every must be >= 1; got start_round={start_round}, "
            f"every={every}: rounds count from 1, and every=1 attacks each round"
        )
    if round_ < 1:
        raise ValueError(f"rounds count from 1; got round {round_}: pass the 1-based round")
    if stop_round is not None and round_ > stop_round:
        return False
    return round_ >= start_round and (round_ - start_round) % every == 0
