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
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedray.api import prepare
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
