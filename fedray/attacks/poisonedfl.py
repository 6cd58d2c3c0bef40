"""PoisonedFL: one fixed random sign vector, pushed every round, magnitudes from the history.

Xie, Fang and Gong, "Model poisoning attacks to federated learning via multi-round
consistency", CVPR 2025. Attacks that start afresh each round cancel out over rounds;
PoisonedFL keeps its direction for the whole run, so even a small per-round push that
survives the defense adds up. It needs no honest update:

- s in {-1, 1}^d is drawn once from the run's seed (the ATTACK stream, client slot 1);
- g = w_{t-1} - w_{t-2}, the global model's last change, and m_prev the last crafted row;
  the magnitude vector is v = |g - m_prev ||g|| / ||m_prev|||, normalised to ||v|| = 1
  (g's part that the attack did not cause; v = |g| / ||g|| before any crafted row);
- every colluder sends lambda v * s with lambda = c ||g||;
- every `window` rounds the attack checks that the model moved its way: if fewer than
  k99 coordinates of w_t - w_{t-window} have the sign of s (k99: the 99% quantile of
  Binomial(d, 1/2), what chance alone gives), c becomes decay * c, unless that is below
  `floor`. A coordinate that did not move counts as not aligned.

In round 1 (no history yet) the colluders send their own updates. The state (s is not
stored: it is redrawn from the seed) holds c, w_{t-1}, the window's start and m_prev.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedray import seeding
from fedray.attacks.common import check_params, check_updates, repeat
from fedray.attacks.view import AttackView

SIGN_SLOT = 1  # client slot of the sign vector's stream: slot 0 draws the malicious set


@dataclass(frozen=True)
class PoisonedFLParams:
    scale: float = field(default=10.0, metadata={"gt": 0})  # c at the start
    decay: float = field(default=0.7, metadata={"gt": 0, "lt": 1})
    floor: float = field(default=0.5, metadata={"gt": 0})  # c never decays below this
    window: int = field(default=10, metadata={"min": 1})  # rounds between alignment checks


def sign_vector(seed: int, d: int) -> np.ndarray:
    """Return the run's fixed (d,) float64 sign vector s in {-1, 1}."""
    rng = seeding.rng(seed, seeding.NO_ROUND, SIGN_SLOT, seeding.ATTACK)
    return np.where(rng.random(d) < 0.5, -1.0, 1.0)


def aligned_needed(d: int) -> int:
    """Return k99: aligned coordinates that chance alone exceeds 1% of the time."""
    from scipy.stats import binom

    return int(binom.ppf(0.99, d, 0.5))


def observe(
    state: dict, params_now: np.ndarray, round_: int, params: PoisonedFLParams, seed: int
) -> dict:
    """Return the state after seeing the global model w_{t-1} that round `round_` starts from.

    Called every round, attacked or not: the history is the public global model's.
    """
    now = np.asarray(params_now, np.float64)
    new = dict(state)
    new.setdefault("scale", np.float64(params.scale))
    if "previous_params" in state:
        new["history"] = now - state["previous_params"]
    new["previous_params"] = now
    if "window_params" not in state:
        new["window_params"], new["window_round"] = now, np.int64(round_)
    elif round_ - int(state["window_round"]) >= params.window:
        moved = np.sign(now - state["window_params"])
        aligned = int(np.sum(moved == sign_vector(seed, len(now))))
        shrunk = float(new["scale"]) * params.decay
        if aligned < aligned_needed(len(now)) and shrunk >= params.floor:
            new["scale"] = np.float64(shrunk)
        new["window_params"], new["window_round"] = now, np.int64(round_)
    return new


def poisonedfl(
    honest: np.ndarray,
    malicious: np.ndarray,
    params: PoisonedFLParams,
    rng: np.random.Generator,
    *,
    view: AttackView | None = None,
) -> np.ndarray:
    """Return lambda v * s for every colluder (see the module docstring).

    Args:
        honest: (h, d) float32, checked for shape only: the attack needs no honest update.
        malicious: (m, d) float32, the colluders' own updates (sent as is in round 1).
        params: scale, decay, floor, window.
        rng: unused (s comes from the seed, for consistency across rounds).
        view: its `state` after `observe` for this round, and the run's seed.

    Returns:
        (m, d) float32, all rows equal once there is a history.
    """
    check_params("poisonedfl", params, PoisonedFLParams)
    _, m, d = check_updates("poisonedfl", honest, malicious, needs_honest=False)
    state = {} if view is None else view.state
    if m == 0 or "history" not in state:
        return malicious.astype(np.float32, copy=True)
    g = state["history"]
    g_norm = float(np.linalg.norm(g))
    v = np.abs(g)
    last = state.get("last_malicious")
    if last is not None and float(np.linalg.norm(last)) > 0:
        v = np.abs(g - last * (g_norm / float(np.linalg.norm(last))))
    v_norm = float(np.linalg.norm(v))
    if v_norm == 0.0:  # the model did not move: nothing to scale by
        return malicious.astype(np.float32, copy=True)
    row = float(state["scale"]) * g_norm * (v / v_norm) * sign_vector(view.seed, d)
    return repeat(row, m)
