"""Fang et al.'s attacks against their definitions: ranges, Krum's pick, the lambda bound."""

import math

import numpy as np
import pytest

from fedray.attacks.fang import FangParams, direction, fang, krum_lambda_bound
from fedray.defenses.common import RoundContext
from fedray.defenses.krum import KrumParams, krum
from tests.attacks.updates import cluster


def test_full_knowledge_range_attack_lands_past_the_benign_extremes_per_coordinate():
    honest, own = cluster(12, 30, seed=1), cluster(4, 30, seed=2)

    out = fang(honest, own, FangParams(target="median", b=2.0), np.random.default_rng(0))

    for j in range(30):  # the paper's rule, one coordinate at a time
        col = honest[:, j].astype(np.float64)
        lo, hi = col.min(), col.max()
        if col.mean() >= 0:  # the model would grow here: go below the smallest benign value
            bounds = (lo / 2, lo) if lo > 0 else (2 * lo, lo)
        else:
            bounds = (hi, 2 * hi) if hi > 0 else (hi, hi / 2)
        assert np.all(out[:, j] >= np.float32(bounds[0]) - 1e-6)
        assert np.all(out[:, j] <= np.float32(bounds[1]) + 1e-6)
    assert len({row.tobytes() for row in out}) == 4  # independent draws per colluder


def test_partial_knowledge_uses_only_the_colluders_statistics():
    honest, own = cluster(12, 20, seed=1), cluster(5, 20, seed=3, centre=-0.2)
    rng = np.random.default_rng(0)

    out = fang(honest, own, FangParams(target="trimmed_mean"), rng, partial=True)
    again = fang(
        honest * 7, own, FangParams(target="trimmed_mean"), np.random.default_rng(0), partial=True
    )

    mu, sigma = own.astype(np.float64).mean(0), own.astype(np.float64).std(0)
    s = np.where(mu >= 0, 1, -1)
    gap = np.abs(out - mu) / sigma
    assert np.all((gap >= 3 - 1e-4) & (gap <= 4 + 1e-4))
    assert np.all(np.sign(out - mu) == -s)  # against the estimated direction
    assert np.array_equal(out, again)  # honest rows are not read


def test_krum_attack_is_picked_by_krum_and_respects_the_bound():
    honest, own = cluster(16, 40, seed=4), cluster(4, 40, seed=5)

    out = fang(honest, own, FangParams(target="krum"), np.random.default_rng(0))

    rows = np.concatenate([honest, out])
    picked = krum(rows, np.ones(20), KrumParams(f=4), RoundContext(np.random.default_rng(0)))
    assert picked.selected.tolist()[0] >= 16  # a crafted row wins
    s = direction(honest)
    lam = float(np.linalg.norm(out[0])) / math.sqrt(40)
    np.testing.assert_allclose(out[0], -lam * s, rtol=1e-5)
    assert lam <= krum_lambda_bound(honest, 4) * (1 + 1e-6)
    assert np.all(out == out[0])


def test_krum_lambda_bound_matches_a_naive_loop():
    honest = cluster(9, 7, seed=6)
    rows = honest.astype(np.float64)
    h, d, c = 9, 7, 2
    n = h + c
    sums = []
    for i in range(h):
        dist = sorted(float(np.linalg.norm(rows[i] - rows[j])) for j in range(h) if j != i)
        sums.append(sum(dist[: n - c - 2]))
    expected = min(sums) / ((n - 2 * c - 1) * math.sqrt(d)) + max(
        float(np.linalg.norm(r)) for r in rows
    ) / math.sqrt(d)

    assert krum_lambda_bound(honest, c) == pytest.approx(expected, rel=1e-9)


def test_krum_partial_knowledge_needs_no_honest_row():
    own = cluster(4, 10, seed=7)

    out = fang(own[:0], own, FangParams(target="krum"), np.random.default_rng(0), partial=True)

    assert out.shape == (4, 10) and np.all(out == out[0])
    assert np.all(np.sign(out[0]) == -direction(own))


@pytest.mark.parametrize(
    "params, says",
    [
        (FangParams(target="bulyan"), "target must be one of krum, median, trimmed_mean"),
        (FangParams(b=1.0), "attack.b must be > 1"),
    ],
)
def test_bad_parameters_say_what_to_set(params, says):
    with pytest.raises(ValueError, match=says):
        fang(cluster(5, 3), cluster(2, 3), params, np.random.default_rng(0))


def test_full_knowledge_without_honest_rows_says_so():
    with pytest.raises(ValueError, match="honest updates"):
        fang(cluster(0, 3), cluster(2, 3), FangParams(), np.random.default_rng(0))


@pytest.mark.parametrize("knowledge, partial", [("omniscient", False), ("colluding", True)])
def test_attack_knowledge_chooses_full_or_partial(knowledge, partial):
    from fedray import seeding
    from fedray.attacks import collusion
    from fedray.scenario import load_scenario

    attack = {"type": "fang", "fraction": 0.2, "target": "trimmed_mean", "knowledge": knowledge}
    s = load_scenario({"attack": attack})
    honest, own = cluster(12, 20, seed=1), cluster(4, 20, seed=3, centre=-0.2)
    reference = own if partial else honest

    rows, _ = collusion.craft(s, 3, reference, own, needs_reference=False)

    def draw(partial):
        rng = seeding.rng(s.seed, 3, 0, seeding.ATTACK)
        return fang(reference, own, s.attack.params, rng, partial=partial)

    assert np.array_equal(rows, draw(partial))
    assert not np.array_equal(rows, draw(not partial))
