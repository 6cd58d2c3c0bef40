"""Load a scenario: YAML (or a dict) -> `--set` overrides -> typed, checked `Scenario`.

Every problem is collected and raised together as one `ScenarioError`.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fedray.data import GENERATED
from fedray.scenario.convert import MISSING, Problems, build_dataclass, to_plain
from fedray.scenario.rules import check
from fedray.scenario.schema import Scenario


class ScenarioError(ValueError):
    """A scenario with problems; `problems` holds one `path: message (got X; expected Y)` each."""

    def __init__(self, problems: list[str], source: str = "scenario"):
        # One line each: a wrapped library message would read as several problems.
        self.problems = [re.sub(r"\s*[\r\n]+\s*", " ", str(p)).strip() for p in problems]
        self.source = source
        super().__init__(
            f"{source}: {len(self.problems)} problem(s)\n  " + "\n  ".join(self.problems)
        )


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with YAML 1.2 floats and no duplicate keys.

    YAML 1.1 reads `1e-5` (no dot) as a string, so `lr: 1e-3` would be refused as a wrong
    type; and a key given twice would silently keep its last value.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text with `Loader`; raise yaml.YAMLError (nesting too deep included)."""
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise yaml.MarkedYAMLError(problem="lists or mappings nested too deeply") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where the YAML breaks, if known, and why (`line 3, column 1: ...`)."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"character {exc.position + 1}: {exc.reason} (#x{char:04x})"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + " ".join((getattr(exc, "problem", None) or str(exc)).split())


def read_yaml(path: str | os.PathLike) -> dict:
    """Read a scenario file into a dict, or raise ScenarioError naming the line at fault."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"cannot read file ({exc.strerror})"], source) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [f"cannot read file (byte {exc.start + 1} is not UTF-8: save the file as UTF-8)"],
            source,
        ) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise ScenarioError([f"cannot read file ({exc})"], source) from None
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        why = yaml_problem(exc)
        sep = " at " if re.match(r"(line|character) \d", why) else ": "
        raise ScenarioError([f"invalid YAML{sep}{why}"], source) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(
            [f"<scenario>: wrong type (got {type(raw).__name__}; expected a mapping)"], source
        )
    raw.setdefault("name", Path(path).stem)
    return raw


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b=value` into its path and YAML-parsed value."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ValueError(f"--set {text!r}: expected path=value, e.g. client.lr=0.1")
    try:
        return path.strip(), parse_yaml(value)
    except yaml.YAMLError:
        return path.strip(), value


def apply_overrides(
    raw: dict, overrides: Mapping[str, Any] | Iterable[str], problems: Problems
) -> dict:
    """Return a copy of `raw` with each `path=value` set; bad paths are recorded in `problems`."""
    out = copy.deepcopy(raw)
    items = overrides.items() if isinstance(overrides, Mapping) else []
    if not isinstance(overrides, Mapping):
        parsed = []
        for text in overrides:
            try:
                parsed.append(parse_override(text))
            except ValueError as exc:
                problems.add("--set", str(exc))
        items = parsed
    for path, value in items:
        if not isinstance(path, str):  # overrides={1: 2} from Python
            problems.add("--set", "not a dotted path", path, "a string such as 'client.lr'")
            continue
        node, keys = out, path.split(".")
        for depth, key in enumerate(keys[:-1]):
            if node.get(key) is None:  # absent, or written as an empty section (`client:`)
                node[key] = {}
            child = node[key]
            if not isinstance(child, dict):
                problems.add(
                    ".".join(keys[: depth + 1]), f"--set {path}: not a section", child, "a mapping"
                )
                break
            node = child
        else:
            node[keys[-1]] = value
    return out


def load_scenario(
    source: str | os.PathLike | Mapping | Scenario,
    overrides: Mapping[str, Any] | Iterable[str] = (),
) -> Scenario:
    """Return a validated Scenario from a YAML path, a dict, or a Scenario (re-checked with overrides)."""
    if isinstance(source, Scenario):
        raw, name = to_plain(source), "scenario"
    elif isinstance(source, Mapping):
        raw, name = dict(source), "scenario"
    else:
        raw, name = read_yaml(source), str(source)
    problems = Problems()
    raw = apply_overrides(raw, overrides, problems)
    data = raw.get("data")
    dataset = data.get("dataset") if isinstance(data, dict) else None
    if isinstance(dataset, str) and dataset in GENERATED and "partition" not in data:
        data["partition"] = {"type": "natural"}  # generated clients are their own partition
    defense = raw.get("defense")
    if isinstance(defense, dict) and isinstance(defense.get("pre"), list):
        # `pre: [nnm, {type: clip, max_norm: 1}]`: a bare name is a stage with defaults.
        pre = [{"type": p} if isinstance(p, str) else p for p in defense["pre"]]
        raw["defense"] = {**defense, "pre": pre}
    scenario = build_dataclass(Scenario, raw, "", problems)
    if scenario is not MISSING:
        check(scenario, problems)
    if problems.lines:
        raise ScenarioError(problems.lines, name)
    return scenario


def to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML, every default spelled out."""
    return yaml.safe_dump(to_plain(scenario), sort_keys=False)
