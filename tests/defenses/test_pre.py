"""Pre-aggregators (nnm, arc, clip, bucketing) against naive loops, and their composition."""

import math

import numpy as np
import pytest

from fedray.defenses import DEFENSES, build_rule, compose, stages_of, with_bucketing
from fedray.defenses.common import Assumed
from fedray.defenses.compose import require
from fedray.defenses.krum import KrumParams
from fedray.defenses.median import TrimmedMeanParams
from fedray.defenses.pre import BucketingParams, ClipParams, arc, clip, nnm
from fedray.registry import NoParams
from fedray.scenario import load_scenario

from .cohorts import cluster, context, ones, with_outliers


def naive_nnm(updates, f):
    n = len(updates)
    out = []
    for i in range(n):
        dists = []
        for j in range(n):
            dists.append(
                (sum((float(a) - float(b)) ** 2 for a, b in zip(updates[i], updates[j])), j)
            )
        dists.sort()
        rows = [updates[j] for _, j in dists[: n - f]]
        out.append([sum(float(r[k]) for r in rows) / len(rows) for k in range(updates.shape[1])])
    return np.array(out)


def naive_arc(updates, f):
    n = len(updates)
    norms = [math.sqrt(sum(float(x) ** 2 for x in row)) for row in updates]
    k = math.floor(2 * (f / n) * (n - f))
    limit = sorted(norms, reverse=True)[k]
    return np.array(
        [[float(x) * min(1.0, limit / nrm) for x in row] for row, nrm in zip(updates, norms)]
    )


@pytest.mark.parametrize("n, f", [(7, 0), (7, 3), (12, 2), (12, 5)])
def test_nnm_is_the_mean_of_the_n_minus_f_nearest_rows(n, f):
    updates = cluster(n, 5, seed=n + f)

    out = nnm(updates, ones(n), Assumed(f=f), context())

    np.testing.assert_allclose(out.updates, naive_nnm(updates, f), rtol=1e-5, atol=1e-6)
    assert out.members is None and np.array_equal(out.weights, ones(n))


def test_nnm_pulls_an_outlier_into_the_honest_cloud():
    honest = cluster(9, 4, seed=1, centre=1.0, spread=0.1)
    updates = with_outliers(honest, 1, scale=100.0)

    mixed = nnm(updates, ones(10), Assumed(f=1), context()).updates

    # Row 9 (the outlier) mixes 8 honest rows with itself: within 100*|noise|/9 of them.
    assert np.linalg.norm(mixed[:9] - honest.mean(0), axis=1).max() < 0.2
    assert np.linalg.norm(mixed[9] - honest.mean(0)) < np.linalg.norm(updates[9]) / 8


@pytest.mark.parametrize("n, f", [(10, 2), (10, 4), (7, 1), (9, 0)])
def test_arc_clips_to_the_k_plus_first_largest_norm(n, f):
    updates = cluster(n, 6, seed=n, spread=np.arange(1, 7, dtype=np.float32))
    updates *= np.arange(1, n + 1, dtype=np.float32)[:, None]  # distinct norms

    out = arc(updates, ones(n), Assumed(f=f), context())

    np.testing.assert_allclose(out.updates, naive_arc(updates, f), rtol=1e-5)
    assert out.stats["clipped"] == float(math.floor(2 * f * (n - f) / n))


def test_arc_and_nnm_refuse_a_malicious_half():
    with pytest.raises(ValueError, match="arc needs n > 2f rows; got n=6, f=3"):
        arc(cluster(6, 3), ones(6), Assumed(f=3), context())
    with pytest.raises(ValueError, match="nnm needs n > 2f rows; got n=6, f=3"):
        nnm(cluster(6, 3), ones(6), Assumed(f=3), context())


def test_static_clip_bounds_every_norm_and_keeps_short_rows():
    updates = cluster(8, 5, seed=2, spread=3.0)
    norms = np.linalg.norm(updates, axis=1)

    out = clip(updates, ones(8), ClipParams(max_norm=4.0), context()).updates

    assert np.all(np.linalg.norm(out, axis=1) <= 4.0 + 1e-5)
    short = norms <= 4.0
    np.testing.assert_array_equal(out[short], updates[short])


def test_nnm_inherits_the_rules_f_and_composes_with_trimmed_mean():
    updates = cluster(10, 4, seed=3)
    rule = compose([("nnm", Assumed())], DEFENSES["trimmed_mean"].fn)

    out = rule(updates, ones(10), TrimmedMeanParams(fraction=0.2), context())

    mixed = naive_nnm(updates, 2).astype(np.float32)
    expected = DEFENSES["trimmed_mean"].fn(mixed, ones(10), TrimmedMeanParams(f=2), context())
    np.testing.assert_allclose(out.vector, expected.vector, rtol=1e-5, atol=1e-6)


def test_bucketing_stage_is_the_old_bucketing_bit_for_bit():
    updates = with_outliers(cluster(15, 6, seed=4), 2)
    old = with_bucketing(DEFENSES["krum"].fn, 3)
    new = compose([("bucketing", BucketingParams(s=3))], DEFENSES["krum"].fn)

    a = old(updates, ones(17), KrumParams(f=1), context(seed=5))
    b = new(updates, ones(17), KrumParams(f=1), context(seed=5))

    assert a.vector.tobytes() == b.vector.tobytes()
    assert a.selected.tolist() == b.selected.tolist()


def test_selected_rows_map_back_through_bucketing_then_nnm():
    updates = cluster(12, 3, seed=6)
    rule = compose([("bucketing", BucketingParams(s=2)), ("nnm", Assumed())], DEFENSES["krum"].fn)

    out = rule(updates, ones(12), KrumParams(f=1), context(seed=1))

    # One bucket is chosen: its two cohort rows, and f = min(1, 6 buckets) = 1 flowed through.
    assert len(out.selected) == 2 and set(out.selected) <= set(range(12))
    assert out.stats["bucketing_buckets"] == 6.0


def test_requirements_follow_f_through_each_stage():
    stages = [("nnm", Assumed()), ("bucketing", BucketingParams(s=4))]

    rows, params = require(stages, 40, KrumParams(fraction=0.25))

    assert rows == 10 and params.f == 10 and params.fraction is None
    with pytest.raises(ValueError, match=r"defense.pre\[0\]: nnm needs n > 2f rows; got n=10, f=5"):
        require(stages, 10, KrumParams(f=5))
    with pytest.raises(ValueError, match=r"defense.pre\[0\] \(nnm\) needs f"):
        require(stages, 10, NoParams())


def test_a_pre_aggregated_round_is_reproducible_and_permutation_free():
    updates = with_outliers(cluster(11, 5, seed=7), 2, scale=50.0)
    params = Assumed(f=2)  # median has no f: the stages get theirs from explicit params
    rule = compose([("nnm", params), ("arc", params)], DEFENSES["median"].fn)
    perm = np.random.default_rng(0).permutation(13)

    a = rule(updates, ones(13), NoParams(), context())
    b = rule(updates, ones(13), NoParams(), context())
    c = rule(updates[perm], ones(13), NoParams(), context())

    assert a.vector.tobytes() == b.vector.tobytes()
    np.testing.assert_allclose(a.vector, c.vector, rtol=1e-5, atol=1e-6)


SCENARIO = {
    "federation": {"population": 20, "clients_per_round": 10},
    "defense": {"type": "trimmed_mean", "fraction": 0.2, "pre": [{"type": "nnm"}]},
}


def test_scenario_pre_builds_the_composed_rule():
    s = load_scenario(SCENARIO)
    updates = cluster(10, 4, seed=8)

    out = build_rule(s.defense)(updates, ones(10), s.defense.params, context())

    expected = compose([("nnm", Assumed())], DEFENSES["trimmed_mean"].fn)
    ref = expected(updates, ones(10), s.defense.params, context())
    assert out.vector.tobytes() == ref.vector.tobytes()


@pytest.mark.parametrize(
    "defense, fragment",
    [
        ({"type": "median", "pre": [{"type": "nnm"}]}, "defense.pre[0] (nnm) needs f"),
        (
            {"type": "median", "pre": [{"type": "nmm"}]},
            "defense.pre[0].type: unknown name; did you mean 'nnm'?",
        ),
        (
            {"type": "median", "pre": [{"type": "clip", "max_norm": 0}]},
            "defense.pre[0].max_norm: out of range",
        ),
        (
            {"type": "median", "pre": [{"type": "bucketing", "s": 2, "t": 1}]},
            "defense.pre[0].t: unknown key",
        ),
        (
            {"type": "median", "bucketing": 2, "pre": [{"type": "bucketing", "s": 2}]},
            "bucketing is given twice",
        ),
        (
            {"type": "krum", "f": 3, "pre": [{"type": "bucketing", "s": 2}]},
            "10 updates became 5 rows: krum needs n > 2f + 2",
        ),
        ({"type": "median", "pre": "nnm"}, "defense.pre: wrong type"),
    ],
)
def test_bad_pre_sections_are_reported_with_their_path(defense, fragment):
    with pytest.raises(ValueError) as info:
        load_scenario({**SCENARIO, "defense": defense})
    assert fragment in str(info.value), str(info.value)


def test_pre_runs_over_secure_bucket_means_and_needs_buckets():
    secure = {"protocol": "secagg", "buckets": 3}
    s = load_scenario(
        {
            **SCENARIO,
            "secure_aggregation": secure,
            "defense": {"type": "median", "pre": [{"type": "nnm", "f": 1}]},
        }
    )
    assert s.defense.pre[0].type == "nnm"
    with pytest.raises(ValueError, match="pre-aggregators run over the rows the server sees"):
        load_scenario(
            {
                **SCENARIO,
                "secure_aggregation": {"protocol": "secagg"},
                "defense": {"type": "none", "pre": [{"type": "clip", "max_norm": 1.0}]},
            }
        )


def test_alias_bucketing_alone_still_loads_and_prefixes_pre():
    s = load_scenario(
        {
            **SCENARIO,
            "defense": {"type": "median", "bucketing": 2, "pre": [{"type": "nnm", "f": 1}]},
        }
    )
    assert [name for name, _ in stages_of(s.defense)] == ["bucketing", "nnm"]


def test_a_bare_name_is_a_stage_with_defaults_and_a_stage_must_name_itself():
    raw = {**SCENARIO, "defense": {"type": "krum", "fraction": 0.2, "pre": ["nnm", "arc"]}}

    s = load_scenario(raw)

    assert [p.type for p in s.defense.pre] == ["nnm", "arc"]
    assert raw["defense"]["pre"] == ["nnm", "arc"]  # the caller's dict is left alone
    with pytest.raises(ValueError, match=r"defense.pre\[0\].type: required key is missing"):
        load_scenario({**SCENARIO, "defense": {"type": "krum", "f": 1, "pre": [{"f": 1}]}})
