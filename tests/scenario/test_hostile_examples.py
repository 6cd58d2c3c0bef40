"""Hostile input the fuzzing in test_hostile.py found, kept as examples: each once crashed
or passed silently, and is now one `path: message (got X; expected Y)` problem."""

from pathlib import Path

import pytest

from fedray.api import prepare
from fedray.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def problems_of(source, overrides=()) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        prepare(load_scenario(source, overrides))
    assert all("\n" not in line for line in info.value.problems)
    return info.value.problems


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"rounds: 3\nname: caf\xe9\n", "cannot read file (byte 20 is not UTF-8"),  # Latin-1
        (b"rounds: " + b"[" * 5000 + b"]" * 5000, "invalid YAML: lists or mappings nested too"),
        (
            b"x: " + b"{a: " * 3000 + b"1" + b"}" * 3000,
            "invalid YAML: lists or mappings nested too",
        ),
        (b"rounds: 3\x00\n", "invalid YAML at character 10: special characters are not allowed"),
        (b"rounds: 3\nrounds: 4\n", "invalid YAML at line 2, column 1: duplicate key 'rounds'"),
        (b"client: {lr: 1, lr: 2}\n", "invalid YAML at line 1, column 17: duplicate key 'lr'"),
    ],
)
def test_unreadable_yaml_is_one_line(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)

    (line,) = problems_of(path)

    assert line.startswith(expected)


@pytest.mark.parametrize("text", ["1e-3", "1E-3", "+1e-3", "1.e-3", "10e-4"])
def test_exponent_without_a_dot_is_a_number(tmp_path, text):
    # YAML 1.1 (PyYAML) reads `1e-3` as a string; YAML 1.2 and every user read a number.
    path = tmp_path / "lr.yaml"
    path.write_text(f"client:\n  lr: {text}\n")

    assert load_scenario(path).client.lr == pytest.approx(1e-3)
    assert load_scenario({}, [f"client.lr={text}"]).client.lr == pytest.approx(1e-3)


def test_unknown_key_with_a_newline_stays_on_one_line():
    (line,) = problems_of({"ro\nunds": 3})

    assert line.startswith("'ro\\nunds': unknown key")


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["model.hidden=[64, 0]"], "model.hidden[1]: out of range (got 0; expected >= 1)"),
        (["model.hidden=[-1]"], "model.hidden[0]: out of range (got -1; expected >= 1)"),
        (["model.type=cnn", "model.hidden=0"], "model.hidden: out of range (got 0; expected >= 1)"),
        (["model.type=cnn", "model.channels=[8, -2]"], "model.channels[1]: out of range (got -2;"),
        (
            ["seed=18446744073709551616"],
            "seed: out of range (got 18446744073709551616; expected an",
        ),
        (["federation.population=9223372036854775808"], "federation.population: out of range"),
        (["client.lr=1" + "0" * 400], "client.lr: out of range (got 1000"),
        (["name=''"], "name: names the run's directory runs/<name> (got ''"),
        (["name=.."], "name: names the run's directory runs/<name> (got '..'"),
        (["name=a/b"], "name: names the run's directory runs/<name> (got 'a/b'"),
        (["output.dir=''"], "output.dir: not a directory path (got ''"),
        (["output.dir=a\0b"], "output.dir: not a directory path"),
    ],
)
def test_values_past_what_makes_sense_are_refused(overrides, expected):
    problems = problems_of(QUICKSTART, overrides)

    assert [p for p in problems if p.startswith(expected)], problems


def test_a_wrapped_library_message_is_one_problem_line():
    error = ScenarioError(["data: first\n  second\r\nthird"])

    assert error.problems == ["data: first second third"]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        # a cohort larger than the population once made the defense trial allocate it
        (["federation.clients_per_round=2147483648"], "federation.clients_per_round: more than"),
        # a bucket count near 2^63 once built a list of that many bucket sizes
        (
            [
                "secure_aggregation.protocol=secagg",
                "secure_aggregation.buckets=9223372036854775807",
            ],
            "secure_aggregation.buckets: buckets of 0 client(s) would reveal individual updates",
        ),
    ],
)
def test_huge_counts_are_refused_without_allocating_them(overrides, expected):
    problems = problems_of(QUICKSTART, overrides)

    assert [p for p in problems if p.startswith(expected)], problems


def test_a_large_cohort_skips_the_defense_trial():
    scenario = load_scenario(
        {"data": {"dataset": "synthetic"}, "defense": {"type": "krum"}},
        ["federation.population=1000000", "federation.clients_per_round=100000"],
    )

    assert scenario.defense.type == "krum"  # Krum's n^2 distances were never computed


@pytest.mark.parametrize(
    "defense, fragment",
    [
        ({"type": "krum", "fraction": 0.5}, "krum needs n > 2f + 2 updates; got n=100000"),
        ({"type": "multi_krum", "f": 10, "m": 200000}, "got m=200000, n=100000"),
        ({"type": "trimmed_mean", "f": 50000}, "trimmed_mean needs n > 2f updates"),
        (
            {"type": "bulyan", "f": 4000, "bucketing": 10},
            "bulyan needs n >= 4f + 3 updates; got n=10000, f=4000",
        ),
    ],
)
def test_a_large_cohort_still_gets_its_defense_checked_from_its_size(defense, fragment):
    raw = {"data": {"dataset": "synthetic"}, "defense": defense}
    big = ["federation.population=1000000", "federation.clients_per_round=100000"]

    (line,) = problems_of(raw, big)

    assert line.startswith("defense: ") and fragment in line
    assert "(checked with the " in line


def test_a_user_model_that_raises_anything_is_one_problem(tmp_path, monkeypatch):
    (tmp_path / "hostile_model.py").write_text(
        "def build(shape, classes):\n    raise KeyError('x')\n"
    )
    monkeypatch.syspath_prepend(tmp_path)

    (line,) = problems_of({"model": {"type": "hostile_model:build"}})

    assert line == "model.type: KeyError: 'x'"


def test_an_mlp_too_large_to_allocate_is_refused_before_torch_builds_it():
    (line,) = problems_of(QUICKSTART, ["model.hidden=[100000, 100000]"])

    assert line.startswith("model.type: an mlp with hidden [100000, 100000] on 64 inputs has")


def test_an_override_path_that_is_not_a_string_is_a_problem():
    problems = problems_of({}, {1: 2, None: 3})

    assert problems == [
        "--set: not a dotted path (got 1; expected a string such as 'client.lr')",
        "--set: not a dotted path (got None; expected a string such as 'client.lr')",
    ]


@pytest.mark.parametrize("change", ["data.mean_log=1000.0", "data.sigma_log=1000.0"])
def test_synthetic_sizes_that_overflow_are_capped_not_a_crash(change):
    # lognormal(1000, .) is inf; int(inf) raised OverflowError when sizes were asked for.
    scenario = load_scenario(
        ROOT / "scenarios" / "fedprox_synthetic.yaml",
        [change, "client.proximal_mu=0", "secure_aggregation.protocol=secagg"],
    )

    prepared = prepare(scenario)

    assert (prepared.federation.sizes([0, 1, 2]) <= scenario.data.params.max_samples).all()


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("rounds", True, "rounds: wrong type (got True; expected an integer)"),
        (
            "attack.count",
            False,
            "attack.count: wrong type (got False; expected an integer or null)",
        ),
        ("model.hidden", [True], "model.hidden[0]: wrong type (got True; expected an integer)"),
        ("resources.num_workers", True, "resources.num_workers: wrong type (got True; expected"),
        ("client.lr", True, "client.lr: wrong type (got True; expected a number)"),
        ("client.optimizer", True, "client.optimizer: not a valid choice (got True;"),
        (
            "evaluation.centralized_baseline",
            1,
            "evaluation.centralized_baseline: wrong type (got 1;",
        ),
    ],
)
def test_a_bool_is_not_a_count_and_a_count_is_not_a_bool(path, value, expected):
    # In Python `True == 1`; in a scenario `rounds: true` is a mistake, not one round.
    node = raw = {}
    *sections, key = path.split(".")
    for section in sections:
        node = node.setdefault(section, {})
    node[key] = value

    problems = problems_of(raw)

    assert [p for p in problems if p.startswith(expected)], problems
