"""Every registered rule: order does not matter, agreement is kept, outliers are contained."""

import dataclasses

import numpy as np
import pytest

from fedray.defenses import DEFENSES, common, with_bucketing
from fedray.defenses.bulyan import BulyanParams
from fedray.defenses.centered_clipping import CenteredClippingParams
from fedray.defenses.clipped_clustering import ClippedClusteringParams
from fedray.defenses.dnc import DnCParams
from fedray.defenses.flame import FlameParams
from fedray.defenses.foolsgold import FoolsGoldParams
from fedray.defenses.geometric_median import GeometricMedianParams
from fedray.defenses.krum import KrumParams, MultiKrumParams
from fedray.defenses.median import TrimmedMeanParams
from fedray.defenses.monna import MoNNAParams
from fedray.defenses.norm_bounding import NormBoundingParams
from fedray.defenses.signguard import SignGuardParams
from fedray.registry import NoParams
from fedray.scenario.convert import Problems, build_dataclass

from .cohorts import cluster, context, ones, with_outliers

N, D, F = 11, 6, 2  # n >= 4f + 3 lets every rule run on the same cohort
PARAMS = {
    "none": NoParams(),
    "krum": KrumParams(f=F),
    "multi_krum": MultiKrumParams(f=F),
    "median": NoParams(),
    "trimmed_mean": TrimmedMeanParams(f=F),
    "bulyan": BulyanParams(f=F),
    "geometric_median": GeometricMedianParams(tol=1e-10, max_iter=1000),
    "centered_clipping": CenteredClippingParams(tau=1.0, iterations=3),
    "norm_bounding": NormBoundingParams(max_norm=5.0),
    "fltrust": NoParams(),
    "mda": KrumParams(f=F),
    "dnc": DnCParams(f=F, sub_dim=4, iterations=3),
    "signguard": SignGuardParams(coordinates=0.5),
    "flame": FlameParams(noise=0.0),
    "foolsgold": FoolsGoldParams(),
    "clipped_clustering": ClippedClusteringParams(),
    "meamed": TrimmedMeanParams(f=F),
    "monna": MoNNAParams(f=F),
}
NAMES = sorted(PARAMS)


def run(name, updates, weights, ctx=None):
    ctx = ctx or context(previous=np.zeros(updates.shape[1]), reference=np.ones(updates.shape[1]))
    return DEFENSES[name].fn(updates, weights, PARAMS[name], ctx)


def test_registry_names_and_params():
    assert sorted(DEFENSES) == NAMES
    for name, entry in DEFENSES.items():
        assert isinstance(PARAMS[name], entry.params), name
        assert dataclasses.is_dataclass(entry.params) and entry.params.__dataclass_params__.frozen
        assert entry.fn.__doc__ and " 20" in entry.fn.__doc__, f"{name} docstring names no paper"


@pytest.mark.parametrize("name", NAMES)
def test_result_is_a_float32_vector_and_inputs_are_untouched(name):
    updates = cluster(N, D, seed=1, centre=0.5)
    weights = np.arange(1.0, N + 1)
    before = updates.copy(), weights.copy()

    out = run(name, updates, weights)

    assert out.vector.shape == (D,) and out.vector.dtype == np.float32
    assert np.array_equal(updates, before[0]) and np.array_equal(weights, before[1])
    assert all(isinstance(v, float) for v in out.stats.values())
    if out.selected is not None:
        assert out.selected.dtype == np.int64 and np.all(np.diff(out.selected) > 0)


@pytest.mark.parametrize("name", NAMES)
def test_order_of_the_updates_does_not_matter(name):
    updates = cluster(N, D, seed=2, centre=0.5)
    weights = np.arange(1.0, N + 1)
    perm = np.random.default_rng(0).permutation(N)

    out = run(name, updates, weights)
    shuffled = run(name, updates[perm], weights[perm])

    np.testing.assert_allclose(shuffled.vector, out.vector, rtol=1e-5, atol=1e-6)
    if out.selected is not None:
        assert sorted(perm[shuffled.selected].tolist()) == out.selected.tolist()


# FoolsGold gives identical histories (sybils, by its definition) no weight at all.
@pytest.mark.parametrize("name", [n for n in NAMES if n != "foolsgold"])
def test_identical_updates_return_that_update(name):
    row = np.array([0.25, -1.5, 3.0, 0.0, 1.0, -0.5], dtype=np.float32)
    updates = np.tile(row, (N, 1))

    # Centered clipping keeps agreement when centred on it: from elsewhere it moves L x tau.
    out = run(name, updates, np.arange(1.0, N + 1), context(previous=row, reference=row))

    np.testing.assert_allclose(out.vector, row, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "name",
    [
        "krum",
        "multi_krum",
        "median",
        "trimmed_mean",
        "bulyan",
        "mda",
        "dnc",
        "signguard",
        "meamed",
        "monna",
    ],
)
@pytest.mark.parametrize("same_side", [False, True])
def test_far_outliers_leave_the_result_inside_the_honest_range(name, same_side):
    honest = cluster(N - F, D, seed=3)
    updates = with_outliers(honest, F)
    if same_side:
        updates[-F:] = np.abs(updates[-F:])

    out = run(name, updates, ones(N))

    assert np.all(out.vector >= honest.min(axis=0)) and np.all(out.vector <= honest.max(axis=0))


@pytest.mark.parametrize("name", NAMES)
def test_column_and_row_blocks_do_not_change_the_result(name, monkeypatch):
    updates = cluster(N, 40, seed=4, centre=0.5)
    weights = np.arange(1.0, N + 1)
    whole = run(name, updates, weights)
    monkeypatch.setattr(common, "BLOCK_VALUES", 50)  # 4 columns or 1 row per block

    blocked = run(name, updates, weights)

    np.testing.assert_allclose(blocked.vector, whole.vector, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_every_rule_runs_over_buckets(name):
    updates = with_outliers(cluster(20, D, seed=5), 1)
    rule = with_bucketing(DEFENSES[name].fn, 2)
    params = PARAMS[name]
    if name == "bulyan":
        params = BulyanParams(f=1)  # 11 buckets: n >= 4f + 3 holds for f = 1

    out = rule(updates, ones(21), params, context(previous=np.zeros(D), reference=np.ones(D)))

    assert out.vector.shape == (D,) and out.stats["buckets"] == 11.0


def test_same_seed_gives_bitwise_equal_results():
    updates = cluster(N, D, seed=6)
    rule = with_bucketing(DEFENSES["median"].fn, 2)

    first = rule(updates, ones(N), NoParams(), context(seed=9))
    again = rule(updates, ones(N), NoParams(), context(seed=9))

    assert first.vector.tobytes() == again.vector.tobytes()


@pytest.mark.parametrize(
    "cls, raw, expected",
    [
        (KrumParams, {"fraction": 0.2}, KrumParams(fraction=0.2)),
        (MultiKrumParams, {"f": 2, "m": 5}, MultiKrumParams(f=2, m=5)),
        (CenteredClippingParams, {"tau": 3}, CenteredClippingParams(tau=3.0)),
    ],
)
def test_params_build_from_scenario_values(cls, raw, expected):
    problems = Problems()

    built = build_dataclass(cls, raw, "defense", problems)

    assert problems.lines == [] and built == expected


@pytest.mark.parametrize(
    "cls, raw, fragment",
    [
        (KrumParams, {"f": -1}, "defense.f: out of range (got -1; expected >= 0)"),
        (TrimmedMeanParams, {"fraction": 1.5}, "defense.fraction: out of range"),
        (GeometricMedianParams, {"nu": 0}, "defense.nu: out of range"),
        (NormBoundingParams, {"max_norm": -2.0}, "defense.max_norm: out of range"),
    ],
)
def test_bad_params_are_reported_with_their_path(cls, raw, fragment):
    problems = Problems()

    build_dataclass(cls, raw, "defense", problems)

    assert any(fragment in line for line in problems.lines), problems.lines


@pytest.mark.parametrize(
    "name, params, fragment",
    [
        ("krum", KrumParams(f=-1), "krum: defense.f must be >= 0, got -1"),
        ("trimmed_mean", TrimmedMeanParams(fraction=2.0), "defense.fraction must be <= 1, got 2.0"),
        ("centered_clipping", CenteredClippingParams(tau=0.0), "defense.tau must be > 0, got 0.0"),
        ("norm_bounding", NormBoundingParams(max_norm=-1.0), "defense.max_norm must be > 0"),
        ("geometric_median", GeometricMedianParams(max_iter=0), "defense.max_iter must be >= 1"),
    ],
)
def test_bad_params_built_in_python_are_rejected(name, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        DEFENSES[name].fn(cluster(N, D), ones(N), params, context())
