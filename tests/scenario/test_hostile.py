"""Hostile input: every mutated scenario or `--set` ends in success or a ScenarioError.

Hypothesis mutates the shipped scenarios (wrong types, out-of-range and non-finite numbers,
unknown keys, unicode, deep nesting, huge lists, broken YAML) and drives each case through
`load_scenario` + `prepare` in process; a few cases go through the CLI. Any other exception
is a bug: a user would see a traceback instead of `path: message (got X; expected Y)`.
"""

import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedray.api import prepare
from fedray.cli import main
from fedray.data import DATASETS
from fedray.data.partition import PARTITIONS
from fedray.defenses import DEFENSES
from fedray.models import MODELS
from fedray.registry import is_plugin
from fedray.scenario import ScenarioError, load_scenario, to_yaml
from fedray.scenario.convert import to_plain
from fedray.scenario.load import read_yaml
from fedray.scenario.schema import ATTACKS
from fedray.strategies import STRATEGIES
from fedray.stress import parse_grid

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
RAW = {p.stem: read_yaml(p) for p in SCENARIOS}
TEXT = {p.stem: p.read_text() for p in SCENARIOS}
LINE = re.compile(r"^\S[^\n]*: \S")  # `path: message ...`, one line
# prepare() turns any exception from a loader into `data: TypeError: ...`; for the
# built-in loaders that means a check is missing.
UNEXPECTED = re.compile(r"^data: [A-Z]\w*: ")

# Derandomized so CI sees the same cases every run; FEDRAY_FUZZ=N explores N cases a test.
FUZZ = settings(
    max_examples=int(os.environ.get("FEDRAY_FUZZ", "200")),
    deadline=None,
    derandomize="FEDRAY_FUZZ" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def _paths(node, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return [prefix]
    out = [prefix] if prefix else []
    for key, value in node.items():
        out += _paths(value, f"{prefix}.{key}" if prefix else str(key))
    return out


TAGGED = {
    "data": DATASETS,
    "data.partition": PARTITIONS,
    "model": MODELS,
    "strategy": STRATEGIES,
    "defense": DEFENSES,
    "attack": ATTACKS,
}
TAG_KEY = {"data": "dataset", "data.partition": "type", "strategy": "name"}
NAMES = sorted({name for registry in TAGGED.values() for name in registry})
# Every path a scenario can hold: its own keys, every resolved field with its default, and
# the parameters of every registered name.
PATHS = sorted(
    {p for raw in RAW.values() for p in _paths(raw)}
    | {p for path in SCENARIOS for p in _paths(to_plain(load_scenario(path)))}
    | {
        f"{section}.{f.name}"
        for section, registry in TAGGED.items()
        for entry in registry.values()
        if dataclasses.is_dataclass(entry.params)
        for f in dataclasses.fields(entry.params)
    }
)


def _deep(depth: int):
    node: object = 1
    for i in range(depth):
        node = {"k": node} if i % 2 else [node]
    return node


SPECIAL = [
    None,
    True,
    False,
    0,
    -1,
    -(2**63),
    2**31,
    2**63,
    2**64,
    10**30,
    10**400,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -0.0,
    5e-324,
    "",
    " ",
    "\x00",
    "é",
    "💥" * 3,
    "none",
    "auto",
    "1e5",
    "0x10",
    ":",
    "a:",
    ":b",
    "no_such_module_xyz:f",
    "math:pi",
    "builtins:len",
    ".relative:f",
    [],
    {},
    [[]],
    {"": None},
    {1: 2},
    {None: 1},
    list(range(10_000)),
    ["x"] * 1000,
    _deep(60),
]

scalars = st.one_of(
    st.sampled_from(SPECIAL),
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-3, max_value=300),
    st.floats(),
    st.floats(min_value=-2, max_value=2),
    st.text(max_size=12),
    st.binary(max_size=4),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.one_of(st.text(max_size=6), st.integers(), st.none()), inner, max_size=4
        )
    ),
    max_leaves=12,
)
# Values of the right type at the edge of, or past, what makes sense.
ints = st.one_of(
    st.integers(-2, 40),
    st.sampled_from([0, 1, 2, 1000, 10**6, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63]),
)
floats = st.one_of(
    st.floats(-1, 2),
    st.sampled_from([0.0, 1.0, 5e-324, 1e-300, 1e-12, 0.999999999, 1e12, 1e300]),
)
typed = st.one_of(ints, floats, st.sampled_from(NAMES), st.lists(ints, max_size=4))
paths = st.one_of(
    st.sampled_from(PATHS),
    st.builds(lambda p, k: f"{p}.{k}", st.sampled_from(PATHS), st.text(max_size=6)),
    st.text(max_size=10),
)


def _set(raw: dict, path: str, value) -> None:
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _delete(raw: dict, path: str) -> None:
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return
    node.pop(keys[-1], None)


# Capabilities turned on, so that the checks behind them see the mutated values too.
SWITCHES = [
    {"secure_aggregation.protocol": "secagg", "client.proximal_mu": 0.0},
    {"secure_aggregation.protocol": "secagg_plus", "secure_aggregation.buckets": 2},
    {"privacy.mode": "local", "privacy.target_epsilon": 1.0, "strategy.name": "fedavg"},
    {"privacy.mode": "central", "privacy.noise_multiplier": 1.0},
    {"privacy.mode": "central", "privacy.target_epsilon": 1.0, "privacy.adaptive_clipping": {}},
    {"attack.type": "backdoor", "attack.fraction": 0.1},
    {"attack.type": "label_flip", "attack.count": 2, "attack.fraction": 0.0},
    {"defense.type": "krum", "defense.f": 1},
]


@st.composite
def mutated(draw) -> tuple[object, list[str]]:
    """A shipped scenario as a dict with a few keys set or deleted, plus `--set` strings."""
    raw = yaml.safe_load(TEXT[draw(st.sampled_from(sorted(TEXT)))])
    for switch in draw(st.lists(st.sampled_from(SWITCHES), max_size=2)):
        for path, value in switch.items():
            _set(raw, path, value)
    if draw(st.booleans()):  # switch a section to another registered name
        section = draw(st.sampled_from(sorted(TAGGED)))
        name = draw(st.sampled_from(sorted(TAGGED[section])))
        _set(raw, f"{section}.{TAG_KEY.get(section, 'type')}", name)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.integers(0, 2))
        if action == 0:
            _set(raw, draw(paths), draw(values))
        elif action == 1:
            _set(raw, draw(st.sampled_from(PATHS)), draw(typed))
        else:
            _delete(raw, draw(paths))
    overrides = draw(st.lists(override_texts, max_size=2))
    if draw(st.integers(0, 20)) == 0:
        return draw(values), overrides  # not a mapping at all
    return raw, overrides


def _yaml_text(value) -> str:
    try:
        return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    except yaml.YAMLError:
        return repr(value)


override_texts = st.one_of(
    st.builds(lambda p, v: f"{p}={_yaml_text(v)}", paths, values),
    st.builds(lambda p, t: f"{p}={t}", st.sampled_from(PATHS), st.text(max_size=12)),
    st.text(max_size=16),
    st.sampled_from(["foo", "=", "=1", "a.b=", "rounds", " =3", "..=1", "rounds.x=1", "a..b=1"]),
)


@st.composite
def broken_yaml(draw) -> bytes:
    """A shipped scenario's bytes with a slice replaced by arbitrary text or bytes, or cut."""
    data = TEXT[draw(st.sampled_from(sorted(TEXT)))].encode()
    start = draw(st.integers(0, len(data)))
    stop = draw(st.integers(start, min(len(data), start + 40)))
    insert = draw(
        st.one_of(
            st.text(max_size=20).map(str.encode),
            st.binary(max_size=6),
            st.sampled_from(
                [
                    b"\t",
                    b": :",
                    b"- [",
                    b"{",
                    b"&a *a",
                    b"!!python/object:os.system",
                    b"\xef\xbb\xbf",  # a byte-order mark
                    b"%YAML 9.9\n---\n",
                    b"[" * 2000,
                    b"\nrounds: 1\n",  # a duplicate key
                ]
            ),
        )
    )
    return data[:start] + insert + data[stop:]


def outcome(source, overrides=()) -> str:
    """Load and prepare; return 'ok' or 'refused' (ScenarioError), and let anything else raise."""
    try:
        scenario = load_scenario(source, overrides)
    except ScenarioError as exc:
        return _refused(exc)
    assert load_scenario(yaml.safe_load(to_yaml(scenario))) == scenario  # resolved YAML reloads
    try:
        prepare(scenario)
    except ScenarioError as exc:
        user_code = is_plugin(scenario.data.dataset) or is_plugin(scenario.data.partition.type)
        return _refused(exc, user_code=user_code)
    return "ok"


def _refused(exc: ScenarioError, user_code: bool = False) -> str:
    assert exc.problems, "a ScenarioError names at least one problem"
    for line in exc.problems:
        assert LINE.match(line), f"not `path: message`: {line!r}"
        if not user_code:
            assert not UNEXPECTED.match(line), f"an exception caught late: {line!r}"
    str(exc)  # the message itself renders
    return "refused"


@FUZZ
@given(mutated())
def test_mutated_scenarios_load_or_refuse(tmp_path_factory, case):
    raw, overrides = case
    if not isinstance(raw, dict):  # a file whose top level is not a mapping
        path = tmp_path_factory.mktemp("fuzz") / "scenario.yaml"
        path.write_text(yaml.safe_dump(raw))
        raw = path
    outcome(raw, overrides)


@FUZZ
@given(st.sampled_from(sorted(RAW)), st.lists(override_texts, min_size=1, max_size=4))
def test_hostile_overrides_load_or_refuse(name, overrides):
    outcome(ROOT / "scenarios" / f"{name}.yaml", overrides)


@FUZZ
@given(
    st.sampled_from(sorted(RAW)),
    st.dictionaries(st.one_of(paths, st.sampled_from(PATHS), st.integers()), typed | values),
)
def test_hostile_override_mappings_load_or_refuse(name, overrides):
    outcome(RAW[name], overrides)


@settings(FUZZ, max_examples=max(10, FUZZ.max_examples // 3))
@given(broken_yaml())
def test_broken_yaml_files_load_or_refuse(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "broken.yaml"
    path.write_bytes(text)
    outcome(path)


# Bugs the fuzzing found, kept as examples ---------------------------------------------------

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


# Command-line arguments: exit 2 with a message, before Ray starts ---------------------------


def _no_ray(address):
    raise AssertionError("Ray must not start for arguments that cannot run")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["validate", "Q", "--set", "foo"], "--set 'foo': expected path=value"),
        (["run", "Q", "--set", "foo"], "--set 'foo': expected path=value"),
        (["run", "Q", "--set", "=3"], "--set '=3': expected path=value"),
        (["run", "Q", "--set", "rounds.x=1"], "rounds: --set rounds.x: not a section"),
        (["stress", "Q", "--grid", "foo"], "--grid 'foo': expected path=v1,v2"),
        (["stress", "Q", "--grid", "rounds="], "--grid 'rounds=': expected path=v1,v2"),
        (["stress", "Q", "--grid", "=1,2"], "--grid '=1,2': expected path=v1,v2"),
        (["stress", "Q", "--grid", "rounds=[1"], "--grid 'rounds=[1': a value is not valid YAML"),
        (["stress", "Q", "--grid", "rounds=x,2"], "[rounds=x, seed=0] rounds: wrong type"),
        (["stress", "Q", "--grid", "rounds=2020-01-01"], "rounds: wrong type (got '2020-01-01'"),
        (["stress", "Q", "--grid", "rounds=2", "--set", "foo"], "--set 'foo': expected"),
        (["stress", "Q", "--grid", "rounds=2", "--parallel", "0"], "--parallel: must be >= 1"),
        (["stress", "Q", "--grid", "rounds=2", "--seeds", "0"], "--seeds must be >= 1"),
        (["stress", "Q"], "give at least one --grid path=v1,v2"),
        (["stress", "absent.yaml", "--grid", "rounds=2"], "cannot read file"),
        (["run"], "give a scenario file, or --resume DIR"),
    ],
)
def test_bad_arguments_exit_2_before_ray_starts(monkeypatch, capsys, argv, expected):
    monkeypatch.setattr("fedray.api._connect", _no_ray)
    argv = [str(QUICKSTART) if a == "Q" else a for a in argv]

    code = main(argv)

    assert code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["stress", "Q", "--grid"], "argument --grid: expected one argument"),
        (["run", "Q", "--set"], "argument --set: expected one argument"),
        (["stress", "Q", "--grid", "rounds=2", "--seeds", "x"], "invalid int value: 'x'"),
        (["validate"], "the following arguments are required: scenarios"),
        ([], "the following arguments are required: command"),
    ],
)
def test_malformed_command_lines_exit_2_with_usage(capsys, argv, expected):
    argv = [str(QUICKSTART) if a == "Q" else a for a in argv]

    with pytest.raises(SystemExit) as info:
        main(argv)

    assert info.value.code == 2
    assert expected in capsys.readouterr().err


def test_resume_with_a_malformed_set_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("fedray.api._connect", _no_ray)
    (tmp_path / "scenario.yaml").write_text(to_yaml(load_scenario(QUICKSTART)))

    code = main(["run", "--resume", str(tmp_path), "--set", "foo"])

    assert code == 2
    assert "--set 'foo': expected path=value" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, argv, expected",
    [
        (b"rounds: " + b"[" * 3000 + b"]" * 3000, ["validate", "S"], "nested too deeply"),
        (b"rounds: 3\n", ["run", "S", "--set", "foo"], "--set 'foo': expected path=value"),
        (b"rounds: 3\n", ["stress", "S", "--grid"], "argument --grid: expected one argument"),
    ],
)
@pytest.mark.slow  # a fresh interpreter imports torch: seconds each
def test_cli_subprocess_exits_2_without_a_traceback(tmp_path, content, argv, expected):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    argv = [str(path) if a == "S" else a for a in argv]

    done = subprocess.run(
        [sys.executable, "-m", "fedray.cli", *argv], capture_output=True, text=True, cwd=tmp_path
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert expected in done.stderr


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


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("rounds=[1", "a value is not valid YAML (line 1, column 3: expected ',' or ']'"),
        ("rounds=a\0b", "a value is not valid YAML (character 2: special characters are not"),
        ("rounds=" + "[" * 3000, "a value is not valid YAML (lists or mappings nested too deeply)"),
        ("defense={type: krum, type: median}", "(line 1, column 14: duplicate key 'type')"),
    ],
)
def test_grid_values_that_are_not_yaml_are_one_problem(spec, expected):
    # Each once raised AttributeError: the error had no `problem` to quote.
    with pytest.raises(ScenarioError) as info:
        parse_grid([spec])

    (line,) = info.value.problems
    assert expected in line and len(line) < 200


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


@pytest.mark.parametrize("out", ["a_file", "a_file/run"])
def test_run_into_a_file_exits_2_before_ray_starts(monkeypatch, tmp_path, capsys, out):
    monkeypatch.setattr("fedray.api._connect", _no_ray)
    (tmp_path / "a_file").write_text("")

    code = main(["run", str(QUICKSTART), "--out", str(tmp_path / out)])

    assert code == 2
    assert "a_file is a file, not a directory" in capsys.readouterr().err
