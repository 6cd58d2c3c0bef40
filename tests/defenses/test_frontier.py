"""MDA, DnC, SignGuard, FLAME, FoolsGold and ClippedClustering against naive references
and the behaviour their papers describe."""

import itertools
import math

import numpy as np
import pytest

from fedray.defenses import DEFENSES, REQUIREMENTS, RoundContext
from fedray.defenses.clipped_clustering import NORMS, ClippedClusteringParams, clipped_clustering
from fedray.defenses.common import Assumed
from fedray.defenses.dnc import DnCParams, dnc
from fedray.defenses.flame import FlameParams, flame
from fedray.defenses.foolsgold import FoolsGoldParams, foolsgold, foolsgold_weights
from fedray.defenses.mda import mda
from fedray.defenses.signguard import SignGuardParams, signguard
from fedray.scenario import load_scenario

from .cohorts import cluster, context, ones


def attacked(honest=12, bad=3, d=20, seed=0):
    """Honest rows around +1, attackers identical and pointing the other way."""
    good = cluster(honest, d, seed=seed, centre=1.0, spread=0.3)
    evil = np.tile(-2.0 * good.mean(0), (bad, 1)).astype(np.float32)
    return np.concatenate([good, evil]), good


def dist(a, b):
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


@pytest.mark.parametrize("n, f", [(6, 1), (7, 2), (9, 3)])
def test_mda_matches_a_brute_force_search(n, f):
    updates = cluster(n, 4, seed=n * 10 + f)
    best, best_set = math.inf, None
    for subset in itertools.combinations(range(n), n - f):
        diameter = max(dist(updates[i], updates[j]) for i in subset for j in subset)
        if diameter < best:
            best, best_set = diameter, subset

    out = mda(updates, ones(n), Assumed(f=f), context())

    assert out.selected.tolist() == list(best_set)
    np.testing.assert_allclose(out.vector, updates[list(best_set)].mean(0), rtol=1e-5)
    assert out.stats["diameter"] == pytest.approx(best, rel=1e-5)


def test_mda_refuses_a_search_too_large_with_its_size():
    with pytest.raises(ValueError, match=r"C\(n, f\) = 847660528 > 200000"):
        REQUIREMENTS["mda"](40, Assumed(f=10))


def naive_dnc(updates, f, params, rng):
    """DnC with the top singular direction from the covariance's eigenvectors, in loops."""
    n, d = updates.shape
    good = set(range(n))
    for _ in range(params.iterations):
        cols = np.sort(rng.choice(d, size=min(params.sub_dim, d), replace=False))
        x = updates[:, cols].astype(np.float64)
        mu = [sum(x[i, k] for i in range(n)) / n for k in range(len(cols))]
        c = np.array([[x[i, k] - mu[k] for k in range(len(cols))] for i in range(n)])
        _, vecs = np.linalg.eigh(c.T @ c)
        v = vecs[:, -1]
        scores = [float(sum(c[i, k] * v[k] for k in range(len(cols)))) ** 2 for i in range(n)]
        keep = sorted(range(n), key=lambda i: (scores[i], i))[: n - int(params.c * f)]
        good &= set(keep)
    return sorted(good)


@pytest.mark.parametrize("sub_dim, iterations", [(5, 1), (8, 3), (100, 2)])
def test_dnc_keeps_the_rows_a_naive_eigen_decomposition_keeps(sub_dim, iterations):
    updates, _ = attacked(honest=10, bad=3, d=12, seed=sub_dim)
    updates[:10] += cluster(10, 12, seed=1, spread=0.5)  # honest spread in every direction
    params = DnCParams(f=3, sub_dim=sub_dim, iterations=iterations)

    out = dnc(updates, ones(13), params, context(seed=4))

    assert out.selected.tolist() == naive_dnc(updates, 3, params, np.random.default_rng(4))
    assert not set(out.selected) & {10, 11, 12}  # the attackers are gone


def test_dnc_is_reproducible_from_the_rounds_seed_and_draws_from_it():
    updates, _ = attacked(d=50)
    params = DnCParams(f=3, sub_dim=10, iterations=4)

    a = dnc(updates, ones(15), params, context(seed=1))
    b = dnc(updates, ones(15), params, context(seed=1))

    assert a.vector.tobytes() == b.vector.tobytes()


def test_signguard_drops_huge_and_sign_flipped_updates_and_clips_to_the_median():
    good = cluster(12, 200, seed=2, centre=0.5, spread=0.3)
    huge = 50 * good[:1]
    flipped = -np.abs(cluster(3, 200, seed=3, centre=0.5, spread=0.3))
    updates = np.concatenate([good, huge, flipped])

    out = signguard(updates, ones(16), SignGuardParams(), context())

    assert set(out.selected) <= set(range(12)) and len(out.selected) >= 10
    assert np.linalg.norm(out.vector) <= out.stats["clip_norm"] + 1e-4


def test_flame_admits_the_honest_majority_and_adds_noise_of_lambda_times_the_median_norm():
    updates, good = attacked(honest=12, bad=5, d=4000)
    noiseless = flame(updates, ones(17), FlameParams(noise=0.0), context(seed=3))
    noisy = flame(updates, ones(17), FlameParams(noise=0.01), context(seed=3))

    assert set(noiseless.selected) <= set(range(12)) and len(noiseless.selected) >= 9
    median = float(np.median(np.linalg.norm(updates.astype(np.float64), axis=1)))
    assert noisy.stats["noise_std"] == pytest.approx(0.01 * median)
    spread = np.std(noisy.vector.astype(np.float64) - noiseless.vector)
    assert spread == pytest.approx(0.01 * median, rel=0.05)  # 4000 draws: ~1% error


def naive_foolsgold(h, kappa=1.0):
    n = len(h)
    cs = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j:
                dot = sum(float(a) * float(b) for a, b in zip(h[i], h[j]))
                cs[i][j] = dot / (np.linalg.norm(h[i]) * np.linalg.norm(h[j]))
    v = [max(cs[i][j] for j in range(n) if j != i) for i in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j and v[j] > v[i]:
                cs[i][j] *= v[i] / v[j]
    alpha = [min(1.0, max(0.0, 1 - max(cs[i][j] for j in range(n) if j != i))) for i in range(n)]
    top = max(alpha)
    alpha = [a / top for a in alpha]
    out = []
    for a in alpha:
        a = 0.99 if a == 1 else a
        x = kappa * (math.log(a / (1 - a)) + 0.5) if a > 0 else 0.0
        out.append(min(1.0, max(0.0, x)))
    return out


@pytest.mark.parametrize("kappa", [1.0, 0.5])
def test_foolsgold_weights_match_the_papers_algorithm_in_loops(kappa):
    histories = cluster(8, 6, seed=5)
    histories[6] = histories[7] * 1.5 + 0.01  # two near-sybils

    alpha = foolsgold_weights(histories.astype(np.float64), kappa)

    np.testing.assert_allclose(
        alpha, naive_foolsgold(histories.astype(np.float64), kappa), atol=1e-9
    )


def test_foolsgold_zeroes_sybils_that_share_a_history_and_keeps_the_honest():
    honest = cluster(6, 30, seed=6)  # diverse directions
    sybils = np.tile(cluster(1, 30, seed=7), (3, 1))
    updates = np.concatenate([honest, sybils])
    history = np.concatenate([cluster(6, 30, seed=8) * 0.1, np.tile(sybils[:1], (3, 1)) * 4])

    out = foolsgold(
        updates, ones(9), FoolsGoldParams(), RoundContext(np.random.default_rng(0), history=history)
    )

    assert out.selected.tolist() == list(range(6))


def test_clipped_clustering_remembers_norms_and_keeps_the_larger_cluster():
    updates, good = attacked(honest=9, bad=4)
    ctx = context()
    first = clipped_clustering(updates, ones(13), ClippedClusteringParams(window=20), ctx)
    later = RoundContext(np.random.default_rng(0), state={NORMS: first.state[NORMS]})
    second = clipped_clustering(updates * 3, ones(13), ClippedClusteringParams(window=20), later)

    assert first.selected.tolist() == list(range(9))
    norms = np.linalg.norm(updates.astype(np.float64), axis=1)
    assert first.stats["clip_norm"] == pytest.approx(np.median(norms))
    # Round two's tau is the median of both rounds' 26 norms; the window then keeps 20.
    assert second.stats["clip_norm"] == pytest.approx(np.median(np.concatenate([norms, 3 * norms])))
    np.testing.assert_allclose(second.state[NORMS], np.concatenate([norms[-7:], 3 * norms]))


def test_foolsgold_refuses_secure_aggregation_and_bucketing():
    base = {"federation": {"population": 20, "clients_per_round": 10}}
    with pytest.raises(
        ValueError, match="foolsgold keeps a history per client id, and under secure"
    ):
        load_scenario(
            {
                **base,
                "defense": {"type": "foolsgold"},
                "secure_aggregation": {"protocol": "secagg", "buckets": 3},
            }
        )
    with pytest.raises(ValueError, match="bucket means are no client's"):
        load_scenario({**base, "defense": {"type": "foolsgold", "bucketing": 2}})


@pytest.mark.parametrize(
    "name", ["mda", "dnc", "signguard", "flame", "foolsgold", "clipped_clustering"]
)
def test_no_attacker_gives_close_to_the_benign_mean(name):
    good = cluster(10, 30, seed=9, centre=1.0, spread=0.05)
    params = DEFENSES[name].params(f=2) if name in ("mda", "dnc") else DEFENSES[name].params()

    out = DEFENSES[name].fn(good, ones(10), params, context())

    np.testing.assert_allclose(out.vector, good.mean(0), atol=0.05)


def test_server_round_threads_a_rules_state_and_the_rows_histories():
    from fedray.server.state import ServerState, server_round
    from fedray.types import UpdateBatch

    s = load_scenario({"defense": {"type": "clipped_clustering", "window": 5}})
    rows = cluster(4, 3, seed=1, centre=1.0)
    batch = UpdateBatch(np.arange(4, dtype=np.int64), rows, np.full(4, 10, np.int64))
    state = ServerState(0, np.zeros(3, np.float32))

    state, _ = server_round(state, batch, s)
    state, metrics = server_round(state, batch, s)

    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    np.testing.assert_allclose(state.defense_state[NORMS], np.concatenate([norms, norms])[-5:])
    assert metrics["defense_clip_norm"] == pytest.approx(np.median(norms))
    fg = load_scenario({"defense": {"type": "foolsgold"}})
    sybil = np.tile(rows[:1], (4, 1))
    _, metrics = server_round(ServerState(0, np.zeros(3, np.float32)), batch, fg, history=sybil * 9)
    ctx = RoundContext(np.random.default_rng(0), history=sybil * 9)
    direct = foolsgold(rows, ones(4), FoolsGoldParams(), ctx)
    assert metrics["defense_alpha_mean"] == direct.stats["alpha_mean"]
