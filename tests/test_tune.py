"""`fedray tune`: the search space syntax, its checks against the scenario (all before any
trial runs, exit 2), and the missing-extra message. The search itself runs on a two-node
cluster in tests/test_stress_cluster.py."""

import sys

import pytest

from fedray.cli import main
from fedray.scenario import ScenarioError
from fedray.space import Axis, parse_axis, parse_space
from fedray.tuning import Search, check_search, param_space
from tests.factories import tiny
from tests.test_cli import write


@pytest.mark.parametrize(
    "spec, axis",
    [
        ("client.lr=loguniform(0.01, 0.5)", Axis("client.lr", "loguniform", (0.01, 0.5))),
        ("client.lr=uniform(0,1)", Axis("client.lr", "uniform", (0.0, 1.0))),
        ("client.epochs=choice(1,2,4)", Axis("client.epochs", "choice", (1, 2, 4))),
        ("defense.type=grid(none,median)", Axis("defense.type", "grid", ("none", "median"))),
        (
            "defense=grid({type: krum, f: 2},{type: median})",
            Axis("defense", "grid", ({"type": "krum", "f": 2}, {"type": "median"})),
        ),
    ],
)
def test_axes_parse(spec, axis):
    assert parse_axis(spec) == axis


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("client.lr", "expected path=choice(a,b)"),
        ("client.lr=normal(0,1)", "unknown distribution 'normal'"),
        ("client.lr=uniform(1)", "takes two numbers (got 1 value(s))"),
        ("client.lr=uniform(a,b)", "takes two numbers"),
        ("client.lr=uniform(0.5,0.1)", "needs lo < hi (got lo=0.5, hi=0.1)"),
        ("client.lr=loguniform(0,1)", "needs lo > 0 (got lo=0)"),
        ("client.lr=choice()", "needs at least one value"),
        ("defense=grid({type: krum)", "not valid YAML"),
    ],
)
def test_bad_axes_say_what_was_expected(spec, fragment):
    with pytest.raises(ScenarioError) as exc:
        parse_axis(spec)
    assert fragment in exc.value.problems[0]


def test_grid_search_cannot_enumerate_a_range_and_paths_are_given_once():
    with pytest.raises(ScenarioError) as exc:
        parse_space(["client.lr=uniform(0,1)", "client.lr=grid(0.1)"], "grid")
    problems = " ".join(exc.value.problems)
    assert "client.lr: given twice" in problems and "a range cannot be" in problems


def test_trial_count_and_tune_space(tmp_path):
    search = Search(
        tuple(
            parse_space(["defense.type=grid(none,median)", "client.lr=uniform(0.01,0.3)"], "random")
        ),
        search="random",
        samples=3,
    )

    space = param_space(search)

    assert check_search(write(tmp_path, tiny()), search) == 6  # each grid value, each sample
    assert space["defense.type"] == {"grid_search": ["none", "median"]}
    assert (space["client.lr"].lower, space["client.lr"].upper) == (0.01, 0.3)


def test_every_bad_value_is_reported_before_any_trial(tmp_path, capsys):
    path = write(tmp_path, tiny())
    space = ["client.lr=grid(0.1,-3)", "client.epochs=uniform(1,3)", "client.bogus=choice(1)"]
    args = ["tune", str(path), *[a for s in space for a in ("--space", s)], "--search", "random"]

    code = main([*args, "--out", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert code == 2
    assert "--space client.lr=-3" in err
    assert "--space client.epochs=2.0" in err  # a range's middle, as a float, for an int field
    assert "--space client.bogus=1" in err
    assert not (tmp_path / "out").exists()


def test_asha_options_are_checked_against_the_scenario(tmp_path, capsys):
    path = write(tmp_path, tiny(rounds=3))
    args = ["tune", str(path), "--space", "client.lr=grid(0.1)", "--scheduler", "asha"]

    code = main([*args, "--grace-period", "9", "--reduction-factor", "1", "--samples", "0"])

    err = capsys.readouterr().err
    assert code == 2
    assert "--grace-period: ASHA's first rung must be a round of the run (got 9" in err
    assert "--reduction-factor: must be > 1" in err and "--samples: must be >= 1" in err


def test_without_ray_tune_it_exits_2_saying_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.tune", None)  # `import ray.tune` now fails
    path = write(tmp_path, tiny())

    code = main(["tune", str(path), "--space", "client.lr=grid(0.1)", "--out", str(tmp_path)])

    assert code == 2 and "pip install 'fedray[tune]'" in capsys.readouterr().err
