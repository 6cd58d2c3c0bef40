"""Differential privacy on the server's side of a round, and the privacy ledger.

User level (`central`, `distributed`): each client's update is clipped to L2 norm S, the
sum gets N(0, (zS)^2) and is divided by the expected cohort size (McMahan et al. 2018).
`central` clips and noises here, or, under secure aggregation, clips on the client and
noises the unmasked sum here; `distributed` has every client add N(0, (zS)^2 / m) before
masking, so only the survivors' share of the noise is in the sum: the ledger records the
noise multiplier that really protected each round, z sqrt(survivors / m).

The ledger lives in `ServerState.privacy_state` (numpy arrays, so it is checkpointed):
`user_z` (one entry per round), `clip` (adaptive clipping's current S), and for `local`
DP-SGD each client's (id, z, q, total steps), which keep growing across rounds.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

from fedray import seeding
from fedray.privacy import discrete_accounting
from fedray.privacy.accounting import calibrate, epsilon
from fedray.privacy.adaptive import step_bound, update_bound, update_noise_multiplier
from fedray.privacy.clipping import clip_rows, gaussian, noised_mean

USER_LEVEL = ("central", "distributed")


def noise_rng(scenario, round_: int, stream: int = 0) -> np.random.Generator:
    """The generator a round's DP noise is drawn from (`stream`: a client id, or 0 / 1 for
    the server's sum and count): seeded from the scenario (`privacy.noise_seed: scenario`,
    reproducible) or from os.urandom (`os`: the server cannot rebuild it from the seed)."""
    if scenario.privacy.noise_seed == "os":
        return np.random.default_rng(int.from_bytes(os.urandom(16), "little"))
    return seeding.rng(scenario.seed, round_, stream, seeding.PRIVACY)


def user_sample_rate(scenario) -> float:
    fed = scenario.federation
    return fed.clients_per_round / fed.population


def user_noise_multiplier(scenario) -> float:
    """z for user-level DP: given, or calibrated so `rounds` rounds reach `target_epsilon`."""
    p = scenario.privacy
    if p.noise_multiplier is not None:
        return p.noise_multiplier
    return calibrated(
        p.target_epsilon, p.delta, user_sample_rate(scenario), scenario.rounds, p.accountant
    )


@functools.lru_cache(maxsize=32)
def calibrated(target: float, delta: float, q: float, steps: int, accountant: str) -> float:
    return calibrate(
        target_epsilon=target, delta=delta, sample_rate=q, steps=steps, accountant=accountant
    )


def worst_noise_multiplier(scenario) -> float:
    """The least noise a round can release with: distributed DP keeps only the survivors'
    shares, and a round with fewer than t survivors releases nothing, so z sqrt(t / m)."""
    z = user_noise_multiplier(scenario)
    if scenario.privacy.mode != "distributed":
        return z
    from fedray.server.secure import session_params

    m = scenario.federation.clients_per_round
    return z * math.sqrt(session_params(scenario.secure_aggregation, m).threshold / m)


def count_noise(scenario) -> float:
    """sigma_b, the noise on adaptive clipping's unclipped count (Andrew et al.: m / 20)."""
    a = scenario.privacy.adaptive_clipping
    return (
        a.count_noise if a.count_noise is not None else scenario.federation.clients_per_round / 20
    )


def clip_bound(scenario, privacy_state: dict) -> float:
    return float(privacy_state.get("clip", scenario.privacy.clip))


def central_aggregate(scenario, privacy_state: dict, rng, log: dict):
    """The strategy's mean under central DP: clip each row to S, noise the sum, divide by m.

    With adaptive clipping the sum's noise is z_delta S, what is left of z once the count
    takes its share; `log` receives the clipping statistics.
    """
    z = user_noise_multiplier(scenario)
    if scenario.privacy.adaptive_clipping.enabled:
        z = update_noise_multiplier(z, count_noise(scenario))
    bound = clip_bound(scenario, privacy_state)

    def aggregate(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        mean, stats = noised_mean(
            rows,
            bound=bound,
            noise_multiplier=z,
            expected_clients=scenario.federation.clients_per_round,
            rng=rng,
        )
        log.update(stats)
        return mean

    return aggregate


def secure_sum_to_mean(scenario, total: np.ndarray, rng, clip: float | None = None) -> np.ndarray:
    """A user-level private mean from an unmasked sum of client-clipped updates: central DP
    noises it here (z_delta S with adaptive clipping, S = `clip`); distributed DP's noise is
    already in it. Divided by the expected m."""
    total = total.astype(np.float64)
    if scenario.privacy.mode == "central":
        z, bound = user_noise_multiplier(scenario), scenario.privacy.clip if clip is None else clip
        if scenario.privacy.adaptive_clipping.enabled:
            z = update_noise_multiplier(z, count_noise(scenario))
        total = total + gaussian(len(total), z * bound, rng)
    return (total / scenario.federation.clients_per_round).astype(np.float32)


def integer_mechanism(scenario) -> bool:
    """Distributed DP with integer noise (discrete Gaussian, Skellam): an RDP-curve ledger."""
    return scenario.privacy.mode == "distributed" and scenario.privacy.mechanism != "gaussian"


def client_noise(scenario, delta: np.ndarray, rng, clip: float | None = None) -> np.ndarray:
    """A client's update under user-level DP with secure aggregation: clipped to S (`clip`,
    adaptive clipping's current bound, else privacy.clip), and for continuous `distributed`
    plus its share N(0, (z S)^2 / m) of the round's noise (z_delta with adaptive clipping).
    Integer mechanisms add their noise after scaling and rounding (`fedray.server.secure_dp`)."""
    p = scenario.privacy
    bound = p.clip if clip is None else clip
    out = clip_rows(delta[None, :], bound)[0][0]
    if p.mode == "distributed" and not integer_mechanism(scenario):
        z = user_noise_multiplier(scenario)
        if p.adaptive_clipping.enabled:
            z = update_noise_multiplier(z, count_noise(scenario))
        m = scenario.federation.clients_per_round
        out = out + gaussian(len(out), z * bound / math.sqrt(m), rng)
    return out.astype(np.float32)


def after_round(
    scenario,
    privacy_state: dict,
    *,
    survivors: int | None,
    unclipped: float | None,
    rng,
    curve: np.ndarray | None = None,
    count_noised: bool = False,
) -> tuple[dict, dict]:
    """Record the round in the ledger (and move S with adaptive clipping); return
    (new privacy state, metrics: epsilon so far, z that protected the round, S).

    `curve`: the round's RDP curve under an integer mechanism (`secure_dp.round_curve`),
    added to the ledger after Poisson subsampling. `count_noised`: the unclipped count came
    out of the secure sum already noised (distributed DP), so no more noise is added here.
    """
    p = scenario.privacy
    state = dict(privacy_state)
    metrics: dict = {}
    if p.mode in USER_LEVEL:
        if curve is not None:
            rdp = discrete_accounting.subsampled(curve, user_sample_rate(scenario))
            state["rdp"] = state.get("rdp", np.zeros(len(rdp))) + rdp
        else:
            z = user_noise_multiplier(scenario)
            if p.mode == "distributed" and survivors is not None:
                z *= math.sqrt(survivors / scenario.federation.clients_per_round)
            state["user_z"] = np.append(state.get("user_z", np.zeros(0)), z)
            metrics["privacy_noise_multiplier"] = z
        metrics["privacy_epsilon"] = user_epsilon(scenario, state)
        if p.adaptive_clipping.enabled and unclipped is not None and count_noised:
            a = p.adaptive_clipping
            fraction = unclipped / scenario.federation.clients_per_round
            bound = step_bound(
                clip_bound(scenario, state), fraction, target_quantile=a.target_quantile, lr=a.lr
            )
            state["clip"] = np.float64(bound)
            metrics["privacy_unclipped_fraction"] = fraction
        elif p.adaptive_clipping.enabled and unclipped is not None:
            a = p.adaptive_clipping
            bound, fraction = update_bound(
                clip_bound(scenario, state),
                unclipped=unclipped,
                clients=scenario.federation.clients_per_round,
                target_quantile=a.target_quantile,
                lr=a.lr,
                count_noise_std=count_noise(scenario),
                rng=rng,
            )
            state["clip"] = np.float64(bound)
            metrics["privacy_unclipped_fraction"] = fraction
        metrics["privacy_clip"] = clip_bound(scenario, state)
    return state, metrics


def user_epsilon(
    scenario, state: dict, extra_z: float | None = None, extra_curve: np.ndarray | None = None
) -> float:
    """Epsilon of the rounds in the ledger (and one more at `extra_z`, or with the RDP curve
    `extra_curve` under an integer mechanism, for a projection)."""
    p = scenario.privacy
    if integer_mechanism(scenario):
        rdp = state.get("rdp", np.zeros(len(discrete_accounting.ORDERS)))
        if extra_curve is not None:
            rdp = rdp + discrete_accounting.subsampled(extra_curve, user_sample_rate(scenario))
        return discrete_accounting.epsilon(rdp, p.delta) if np.any(rdp) else 0.0
    zs = list(state.get("user_z", np.zeros(0)))
    if extra_z is not None:
        zs.append(extra_z)
    q = user_sample_rate(scenario)
    return epsilon([(float(z), q, 1) for z in zs], delta=p.delta, accountant=p.accountant)


def record_local(scenario, state: dict, ids, zs, qs, steps) -> dict:
    """Add this round's DP-SGD steps to each client's running total (never reset), and
    recompute the epsilon of the clients that trained: the cost follows the cohort."""
    state = dict(state)
    ids = np.asarray(ids, np.int64)
    known = state.get("local_ids", np.zeros(0, np.int64))
    every = np.union1d(known, ids)
    at_known = np.searchsorted(every, known)

    def grown(key, dtype):
        out = np.zeros(len(every), dtype)
        out[at_known] = state.get(key, np.zeros(0, dtype))
        return out

    z, q = grown("local_z", np.float64), grown("local_q", np.float64)
    n, eps = grown("local_steps", np.int64), grown("local_eps", np.float64)
    at = np.searchsorted(every, ids)
    z[at], q[at] = zs, qs
    n[at] += np.asarray(steps, np.int64)
    eps[at] = local_epsilons(scenario, z[at], q[at], n[at])
    state.update(local_ids=every, local_z=z, local_q=q, local_steps=n, local_eps=eps)
    return state


def local_epsilons(scenario, zs, qs, steps) -> np.ndarray:
    """Each client's epsilon after its total steps (one accountant run per distinct triple)."""
    p = scenario.privacy
    return np.array(
        [
            _client_eps(float(z), float(q), int(n), p.delta, p.accountant)
            for z, q, n in zip(zs, qs, steps)
        ],
        np.float64,
    )


@functools.lru_cache(maxsize=4096)
def _client_eps(z: float, q: float, steps: int, delta: float, accountant: str) -> float:
    return epsilon([(z, q, steps)], delta=delta, accountant=accountant)


def local_metrics(scenario, state: dict) -> dict:
    eps = state.get("local_eps", np.zeros(0))
    if not len(eps):
        return {}
    return {
        "privacy_epsilon": float(eps.max()),
        "privacy_epsilon_max": float(eps.max()),
        "privacy_epsilon_median": float(np.median(eps)),
        "privacy_clients_accounted": len(eps),
    }


def local_projection(scenario, state: dict, ids, zs, qs, steps) -> float:
    """The largest epsilon among `ids` after their planned steps, or the largest so far."""
    ids = np.asarray(ids, np.int64)
    known = state.get("local_ids", np.zeros(0, np.int64))
    before = np.zeros(len(ids), np.int64)
    if len(known):
        at = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        seen = known[at] == ids
        before[seen] = state["local_steps"][at[seen]]
    ahead = local_epsilons(scenario, zs, qs, before + np.asarray(steps, np.int64))
    so_far = state.get("local_eps", np.zeros(0))
    return float(max(ahead.max(initial=0.0), so_far.max(initial=0.0)))
