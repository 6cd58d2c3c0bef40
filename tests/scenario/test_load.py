"""load_scenario: defaults, every problem at once, overrides, plugins, YAML round trip."""

import copy
import dataclasses
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fedray.models import MODELS
from fedray.scenario import Scenario, ScenarioError, load_scenario, parse_override, schema, to_yaml

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"
LINE = re.compile(r"^[\w.\[\]-]+: \S.*$")  # `path: message (got X; expected Y)`


def problems_of(source, overrides=()) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(source, overrides)
    return info.value.problems


def nested(path: str, value, base: dict | None = None) -> dict:
    """{'a': {'b': value}} from 'a.b', on top of a copy of `base`."""
    out = copy.deepcopy(base or {})
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return out


def get(scenario, path: str):
    for key in path.split("."):
        scenario = getattr(scenario, key)
    return scenario


def tiny_parquet(path: Path, *, rows: int = 40) -> Path:
    table = pa.table(
        {
            "f": np.arange(rows, dtype=np.float64),
            "label": np.arange(rows) % 2,
            "site": np.arange(rows) % 4,
        }
    )
    pq.write_table(table, path)
    return path


# Defaults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section, cls",
    [
        ("federation", schema.Federation),
        ("client", schema.Client),
        ("resources", schema.Resources),
        ("evaluation", schema.Evaluation),
        ("output", schema.Output),
    ],
)
def test_empty_mapping_gives_section_defaults(section, cls):
    scenario = load_scenario({})

    assert getattr(scenario, section) == cls()


@pytest.mark.parametrize("name", ["name", "seed", "rounds"])
def test_empty_mapping_gives_top_level_defaults(name):
    default = next(f.default for f in dataclasses.fields(Scenario) if f.name == name)

    assert getattr(load_scenario({}), name) == default


@pytest.mark.parametrize(
    "path, cls",
    [
        ("data", schema.Data),
        ("data.partition", schema.Partition),
        ("model", schema.Model),
        ("strategy", schema.Strategy),
        ("defense", schema.Defense),
        ("attack", schema.Attack),
        ("compression", schema.Compression),
    ],
)
def test_empty_mapping_resolves_tagged_sections_to_their_default_entry(path, cls):
    key, registry = cls.__tag__
    default_name = getattr(cls(), key)

    section = get(load_scenario({}), path)

    assert getattr(section, key) == default_name
    assert section.params == registry[default_name].params()


def test_scenario_object_reloads_equal_to_its_dict_form():
    assert load_scenario(Scenario()) == load_scenario({})


# Every problem at once --------------------------------------------------------------------


def test_every_problem_is_reported_at_once_as_path_message_got_expected():
    raw = {
        "rouds": 5,
        "seed": -1,
        "client": {"lr": "fast", "optimizer": "sgdd"},
        "model": {"type": "mpl"},
        "data": {"partition": {"type": "dirichlet", "alpah": 0.1}},
    }

    problems = problems_of(raw)

    paths = sorted(line.split(":")[0] for line in problems)
    assert paths == sorted(
        ["rouds", "seed", "client.lr", "client.optimizer", "model.type", "data.partition.alpah"]
    )
    assert all(LINE.match(line) and "(got " in line and "; expected " in line for line in problems)


def test_scenario_error_message_lists_each_problem_on_its_own_line():
    with pytest.raises(ScenarioError) as info:
        load_scenario({"seed": -1, "rounds": 0})

    text = str(info.value)
    assert text.startswith("scenario: 2 problem(s)")
    assert all(f"\n  {line}" in text for line in info.value.problems)


@pytest.mark.parametrize(
    "raw, path, suggestion",
    [
        ({"rouds": 5}, "rouds", "rounds"),
        ({"client": {"lrr": 0.1}}, "client.lrr", "lr"),
        (
            {"data": {"partition": {"type": "dirichlet", "alpah": 0.1}}},
            "data.partition.alpah",
            "alpha",
        ),
        ({"model": {"type": "mlp", "hiden": [8]}}, "model.hiden", "hidden"),
        ({"strategy": {"name": "fedavg", "server_lrr": 0.5}}, "strategy.server_lrr", "server_lr"),
    ],
)
def test_unknown_key_names_the_closest_valid_key(raw, path, suggestion):
    problems = problems_of(raw)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: unknown key; did you mean {suggestion!r}?")
    assert "expected one of" in problems[0]


def test_unknown_key_in_a_tagged_section_lists_the_entrys_parameters():
    (line,) = problems_of({"data": {"partition": {"type": "dirichlet", "alpah": 0.1}}})

    expected = ", ".join(
        [
            "type",
            *sorted(
                f.name for f in dataclasses.fields(schema.Partition.__tag__[1]["dirichlet"].params)
            ),
        ]
    )
    assert line.endswith(f"expected one of {expected})")


@pytest.mark.parametrize(
    "raw, path, registry, suggestion",
    [
        ({"model": {"type": "mpl"}}, "model.type", schema.Model.__tag__[1], "mlp"),
        ({"data": {"dataset": "digit"}}, "data.dataset", schema.Data.__tag__[1], "digits"),
        (
            {"data": {"partition": {"type": "dirichlett"}}},
            "data.partition.type",
            schema.Partition.__tag__[1],
            "dirichlet",
        ),
        ({"strategy": {"name": "fedavgg"}}, "strategy.name", schema.Strategy.__tag__[1], "fedavg"),
    ],
)
def test_unknown_registry_name_suggests_and_lists_every_name(raw, path, registry, suggestion):
    (line,) = problems_of(raw)

    assert line.startswith(f"{path}: unknown name; did you mean {suggestion!r}?")
    assert all(name in line.split("expected one of ")[1] for name in registry)
    assert "module:attribute" in line


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("rounds", 2.5, "an integer"),
        ("client.lr", "0.1", "a number"),
        ("evaluation.centralized_baseline", "yes", "true or false"),
        ("resources.num_workers", "many", "an integer or one of 'auto'"),
        ("client", 5, "a mapping"),
        ("model.hidden", 64, "a list of"),
        ("model.hidden", [64, "x"], None),
        ("name", 7, "a string"),
    ],
)
def test_wrong_type_says_what_was_expected(path, value, expected):
    (line,) = problems_of(nested(path, value))

    if expected is None:  # a bad list item is reported at its index
        assert line.startswith(f"{path}[1]: wrong type (got 'x'; expected an integer)")
    else:
        assert line.startswith(f"{path}: wrong type (got {value!r}; expected {expected}")


def test_literal_field_rejects_a_value_outside_its_choices():
    (line,) = problems_of({"client": {"optimizer": "sgdd"}})

    assert line == (
        "client.optimizer: not a valid choice (got 'sgdd'; expected one of 'sgd', 'adam')"
    )


@pytest.mark.parametrize(
    "path, value, bound, base",
    [
        ("seed", -1, ">= 0", {}),
        ("rounds", 0, ">= 1", {}),
        ("client.lr", 0.0, "> 0", {}),
        ("client.momentum", 1.0, "< 1", {}),
        ("attack.fraction", 1.5, "<= 1", {}),
        ("data.local_test_fraction", 1.0, "< 1", {}),
        ("data.partition.alpha", 0.0, "> 0", {"data": {"partition": {"type": "dirichlet"}}}),
        ("strategy.server_lr", -1.0, "> 0", {}),
        ("evaluation.federated_clients", -1, ">= 0", {}),
    ],
)
def test_out_of_range_names_the_bound(path, value, bound, base):
    problems = problems_of(nested(path, value, base))

    assert problems == [f"{path}: out of range (got {value!r}; expected {bound})"]


# Cross-field checks -----------------------------------------------------------------------


def test_clients_per_round_above_population_is_rejected():
    raw = {
        "federation": {"population": 5, "clients_per_round": 6},
        "evaluation": {"federated_clients": 5},
    }

    problems = problems_of(raw)

    assert problems == [
        "federation.clients_per_round: more than the population "
        "(got 6; expected <= federation.population (5))"
    ]


def test_federated_clients_above_population_is_rejected():
    raw = {
        "federation": {"population": 5, "clients_per_round": 5},
        "evaluation": {"federated_clients": 6},
    }

    (line,) = problems_of(raw)

    assert line.startswith("evaluation.federated_clients: more than the population (got 6;")


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"dataset": "synthetic", "partition": {"type": "dirichlet"}}, "expected 'natural'"),
        ({"dataset": "synthetic", "partition": {"type": "iid"}}, "expected 'natural'"),
        ({"dataset": "digits", "partition": {"type": "natural"}}, "digits has no client ids"),
    ],
)
def test_partition_must_suit_the_dataset(data, fragment):
    (line,) = problems_of({"data": data})

    assert line.startswith("data.partition.type: ")
    assert fragment in line


def test_synthetic_without_partition_defaults_to_natural():
    scenario = load_scenario({"data": {"dataset": "synthetic"}})

    assert scenario.data.partition.type == "natural"


def test_parquet_needs_a_path():
    (line,) = problems_of({"data": {"dataset": "parquet"}})

    assert line.startswith("data.path: required for the parquet dataset")


def test_parquet_path_must_exist(tmp_path):
    missing = tmp_path / "nope.parquet"

    (line,) = problems_of({"data": {"dataset": "parquet", "path": str(missing)}})

    assert line.startswith("data.path: file not found (got '")
    assert line.endswith("; expected an existing Parquet file)")


def test_parquet_natural_partition_needs_a_client_column(tmp_path):
    path = tiny_parquet(tmp_path / "t.parquet")

    raw = {"data": {"dataset": "parquet", "path": str(path), "partition": {"type": "natural"}}}

    (line,) = problems_of(raw)

    assert line.startswith("data.client_column: the natural partition needs a client id column")
    assert "'client_id'" in line


def test_parquet_with_file_and_client_column_is_accepted(tmp_path):
    path = tiny_parquet(tmp_path / "t.parquet")
    raw = {
        "data": {
            "dataset": "parquet",
            "path": str(path),
            "client_column": "site",
            "partition": {"type": "natural"},
        },
        "federation": {"population": 4, "clients_per_round": 2},
        "evaluation": {"federated_clients": 4},
    }

    scenario = load_scenario(raw)

    assert scenario.data.params.path == str(path)
    assert scenario.data.params.client_column == "site"


@pytest.mark.parametrize(
    "num_gpus, ok",
    [(0.0, True), (0.25, True), (1.0, True), (2.0, True), (1.5, False), (2.5, False)],
)
def test_fractional_gpus_above_one_are_rejected(num_gpus, ok):
    raw = {"resources": {"num_gpus": num_gpus}}

    if ok:
        assert load_scenario(raw).resources.num_gpus == num_gpus
    else:
        (line,) = problems_of(raw)
        assert line.startswith(
            f"resources.num_gpus: Ray shares a GPU only in fractions of one (got {num_gpus};"
        )


@pytest.mark.parametrize(
    "num_workers, ok",
    [
        ("auto", True),
        (1, True),
        (3, True),
        (0, False),
        (-2, False),
    ],
)
def test_num_workers_is_auto_or_positive(num_workers, ok):
    raw = {"resources": {"num_workers": num_workers}}

    if ok:
        assert load_scenario(raw).resources.num_workers == num_workers
    else:
        assert problems_of(raw) == [
            f"resources.num_workers: out of range (got {num_workers}; expected >= 1 or 'auto')"
        ]


def test_synthetic_min_samples_above_max_samples_is_rejected():
    # Client sizes are min_samples + lognormal, capped at max_samples; with min > max every
    # client silently gets max_samples < min_samples, so the scenario should be refused.
    raw = {"data": {"dataset": "synthetic", "min_samples": 500, "max_samples": 100}}

    problems = problems_of(raw)

    assert len(problems) == 1
    assert "min_samples" in problems[0] or "max_samples" in problems[0]


# Overrides --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, path, expected",
    [
        ("client.lr=0.5", "client.lr", 0.5),
        ("rounds=7", "rounds", 7),
        ("model.hidden=[32, 16]", "model.params.hidden", (32, 16)),
        ("name=run-1", "name", "run-1"),
        ("evaluation.centralized_baseline=true", "evaluation.centralized_baseline", True),
        ("output.dir=null", "output.dir", None),
        ("output.dir=out/a=b", "output.dir", "out/a=b"),
        (
            "data.partition={type: shards, shards_per_client: 3}",
            "data.partition.params.shards_per_client",
            3,
        ),
    ],
)
def test_string_override_is_parsed_as_yaml(text, path, expected):
    scenario = load_scenario({}, [text])

    assert get(scenario, path) == expected


def test_later_override_wins():
    scenario = load_scenario({"client": {"lr": 0.1}}, ["client.lr=0.2", "client.lr=0.3"])

    assert scenario.client.lr == 0.3


def test_dict_override_sets_values_as_given():
    overrides = {
        "client.lr": 0.5,
        "name": "true",
        "data.partition": {"type": "dirichlet", "alpha": 0.1},
    }

    scenario = load_scenario({}, overrides)

    assert (scenario.client.lr, scenario.name) == (0.5, "true")  # not YAML-parsed into a bool
    assert scenario.data.partition.params.alpha == 0.1


def test_string_override_of_a_string_field_can_give_a_wrong_type():
    assert problems_of({}, ["name=true"]) == ["name: wrong type (got True; expected a string)"]


def test_override_applies_to_a_scenario_object():
    scenario = load_scenario(Scenario(), ["federation.population=50"])

    assert scenario.federation.population == 50


def test_override_does_not_mutate_the_source_mapping():
    raw = {"client": {"lr": 0.1}}

    load_scenario(raw, ["client.lr=0.2", "client.epochs=3"])

    assert raw == {"client": {"lr": 0.1}}


def test_override_with_unknown_path_is_reported_with_a_suggestion():
    (line,) = problems_of({}, ["clinet.lr=0.1"])

    assert line.startswith("clinet: unknown key; did you mean 'client'?")


@pytest.mark.parametrize(
    "raw, text, path, got",
    [
        ({"seed": 1}, "seed.x=1", "seed", 1),
        ({"client": {"lr": 0.1}}, "client.lr.x=2", "client.lr", 0.1),
        ({"model": {"type": "mlp", "hidden": [8]}}, "model.hidden.0=4", "model.hidden", [8]),
    ],
)
def test_override_into_a_scalar_is_reported(raw, text, path, got):
    path_part = text.split("=")[0]

    problems = problems_of(raw, [text])

    assert problems == [
        f"{path}: --set {path_part}: not a section (got {got!r}; expected a mapping)"
    ]


@pytest.mark.parametrize("text", ["=3", "client.lr", "  =x"])
def test_malformed_override_is_reported_with_an_example(text):
    (line,) = problems_of({}, [text])

    assert line.startswith(f"--set: --set {text!r}: expected path=value")


def test_override_problems_are_collected_with_scenario_problems():
    problems = problems_of({"seed": -1}, ["rounds.x=1", "=2"])

    assert sorted(line.split(":")[0] for line in problems) == ["--set", "rounds", "seed"]


def test_override_into_an_empty_yaml_section_sets_the_value():
    # `client:` with nothing under it loads as None, which the loader treats as {};
    # an override into it should do the same instead of calling it "not a section".
    scenario = load_scenario({"client": None}, ["client.lr=0.3"])

    assert scenario.client.lr == 0.3


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a.b=c", ("a.b", "c")),
        (" a.b = 0.1", ("a.b", 0.1)),
        ("a=x=y", ("a", "x=y")),
        ("a=[1, 2]", ("a", [1, 2])),
        ("a=", ("a", None)),
        ("a=[oops", ("a", "[oops")),  # not YAML: kept as the literal text
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


# Files --------------------------------------------------------------------------------------


def test_invalid_yaml_is_one_problem_naming_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nclient:\n\tlr: 0.1\n")  # a tab cannot indent YAML

    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    assert info.value.source == str(path)
    assert len(info.value.problems) == 1
    assert "invalid YAML at line 3" in info.value.problems[0]


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")

    (line,) = problems_of(path)

    assert line == "<scenario>: wrong type (got list; expected a mapping)"


def test_missing_file_is_one_problem(tmp_path):
    (line,) = problems_of(tmp_path / "absent.yaml")

    assert line.startswith("cannot read file")


def test_empty_file_gives_defaults_named_after_the_file(tmp_path):
    path = tmp_path / "my-run.yaml"
    path.write_text("")

    scenario = load_scenario(path)

    assert scenario == dataclasses.replace(load_scenario({}), name="my-run")


def test_file_problems_name_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("seed: -1\n")

    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    assert str(info.value).startswith(f"{path}: 1 problem(s)")


# Plugins --------------------------------------------------------------------------------------


def test_importable_plugin_gets_its_keys_as_a_dict():
    raw = {"model": {"type": "tests.plugins:small_mlp", "hidden": 4, "extra": [1, 2]}}

    scenario = load_scenario(raw)

    assert scenario.model.type == "tests.plugins:small_mlp"
    assert scenario.model.params == {"hidden": 4, "extra": [1, 2]}


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("tests.no_such_module:fn", "cannot import module 'tests.no_such_module'"),
        ("tests.plugins:no_such_attr", "has no attribute 'no_such_attr'"),
        ("tests.plugins:", "expected 'module:attribute'"),
    ],
)
def test_unimportable_plugin_is_a_clear_problem(name, fragment):
    (line,) = problems_of({"model": {"type": name}})

    assert line.startswith("model.type: ")
    assert fragment in line
    assert f"(got {name!r}; expected an importable 'module:attribute')" in line


def test_plugin_whose_import_fails_is_a_scenario_problem(tmp_path, monkeypatch):
    # A user module with a syntax error is "not importable" just like a missing one: it
    # should be one collected problem, not a raw SyntaxError out of load_scenario.
    (tmp_path / "fedray_broken_plugin.py").write_text("def model(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    (line,) = problems_of({"model": {"type": "fedray_broken_plugin:model"}})

    assert line.startswith("model.type: ")
    assert "fedray_broken_plugin" in line


# Round trip ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        {},
        QUICKSTART,
        {
            "data": {"dataset": "synthetic", "alpha": 0.5, "beta": 0.5},
            "federation": {"population": 1000, "clients_per_round": 5},
        },
        {"model": {"type": "tests.plugins:small_mlp", "hidden": 4}, "output": {"dir": "out/x"}},
        {
            "model": {"type": "cnn", "channels": [4, 8]},
            "client": {"optimizer": "adam", "proximal_mu": 0.01},
            "resources": {"num_workers": 2, "num_gpus": 0.5},
            "strategy": {"server_lr": 0.5, "weighted": False},
        },
        "parquet",
    ],
)
def test_to_yaml_round_trip(source, tmp_path):
    if source == "parquet":
        path = tiny_parquet(tmp_path / "t.parquet")
        source = {
            "data": {
                "dataset": "parquet",
                "path": str(path),
                "feature_columns": ["f"],
                "partition": {"type": "shards", "shards_per_client": 1},
            }
        }
    scenario = load_scenario(source)
    path = tmp_path / "resolved.yaml"

    path.write_text(to_yaml(scenario))
    again = load_scenario(path)

    assert again == scenario
    assert to_yaml(again) == to_yaml(scenario)


def test_to_yaml_spells_out_every_field():
    text = to_yaml(load_scenario({}))

    assert all(re.search(rf"^{f.name}:", text, re.M) for f in dataclasses.fields(Scenario))
    assert "hidden:" in text and "test_fraction:" in text  # tagged params flattened in place
    assert "params" not in text


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_loads_with_its_default_params(name):
    scenario = load_scenario({"model": {"type": name}})

    assert scenario.model.params == MODELS[name].params()


@pytest.mark.parametrize(
    "defense, fragment",
    [
        ({"type": "krum", "f": 4}, "krum needs n > 2f + 2 updates; got n=8, f=4"),
        ({"type": "bulyan", "fraction": 0.3}, "bulyan needs n >= 4f + 3 updates; got n=8, f=2"),
    ],
)
def test_a_defense_that_cannot_hold_for_the_cohort_is_refused_at_validation(defense, fragment):
    raw = {"federation": {"population": 20, "clients_per_round": 8}, "defense": defense}

    (line,) = problems_of(raw)

    assert line.startswith("defense: ") and fragment in line


@pytest.mark.parametrize(
    "strategy, client, path",
    [
        ({"name": "fedprox", "mu": 0.1}, {"proximal_mu": 0.1}, "client.proximal_mu"),
        ({"name": "scaffold"}, {"optimizer": "adam"}, "client.optimizer"),
        ({"name": "fednova"}, {"momentum": 0.9}, "client.optimizer"),
    ],
)
def test_strategy_client_conflicts_are_refused(strategy, client, path):
    (line,) = problems_of({"strategy": strategy, "client": client})

    assert line.startswith(f"{path}: ")
