"""`fedray tune --space`: a search space over scenario paths, parsed and checked without Ray.

    --space client.lr=loguniform(0.01,0.5)     a float, uniform on a log scale
    --space client.epochs=choice(1,2,4)        one of the values, drawn at random
    --space defense.type=grid(none,median)     every value, each with every sample
    --space client.momentum=uniform(0,0.9)     a float, uniform

Values are read as YAML (like `fedray stress --grid`); a value may be a whole section,
`defense=grid({type: krum, f: 2},{type: median})`. Every value (for a range: both ends and
its middle, as a float) is loaded into the scenario before any trial runs, so a bad path or
value is reported at once, with every other problem.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import yaml

from fedray.scenario import ScenarioError, load_scenario
from fedray.scenario.load import parse_yaml, yaml_problem
from fedray.stress import split_values

KINDS = ("choice", "grid", "uniform", "loguniform")
SPEC = re.compile(r"^\s*([^=\s]+)\s*=\s*([a-z]+)\((.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Axis:
    path: str
    kind: str  # one of KINDS
    values: tuple  # the choices / grid values, or (low, high) for a range

    def samples_to_check(self) -> list:
        """What `validate` loads: every listed value; a range's ends and its middle."""
        if self.kind in ("choice", "grid"):
            return list(self.values)
        low, high = self.values
        middle = math.sqrt(low * high) if self.kind == "loguniform" else (low + high) / 2
        return [low, high, float(middle)]


def parse_axis(spec: str) -> Axis:
    """`path=kind(args)` -> Axis; ScenarioError saying what was expected."""
    match = SPEC.match(spec)
    if not match:
        raise _bad(spec, "expected path=choice(a,b)|grid(a,b)|uniform(lo,hi)|loguniform(lo,hi)")
    path, kind, args = match.groups()
    if kind not in KINDS:
        raise _bad(spec, f"unknown distribution {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        values = tuple(parse_yaml(v) for v in split_values(args)) if args.strip() else ()
    except yaml.YAMLError as exc:
        raise _bad(spec, f"a value is not valid YAML ({yaml_problem(exc)})") from None
    if kind in ("choice", "grid"):
        if not values:
            raise _bad(spec, f"{kind}() needs at least one value")
        return Axis(path, kind, values)
    return Axis(path, kind, _range(spec, kind, values))


def _range(spec: str, kind: str, values: tuple) -> tuple[float, float]:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(values) != 2 or len(numbers) != 2:
        raise _bad(spec, f"{kind}(lo,hi) takes two numbers (got {len(values)} value(s))")
    low, high = float(numbers[0]), float(numbers[1])
    if not low < high:
        raise _bad(spec, f"{kind}(lo,hi) needs lo < hi (got lo={low:g}, hi={high:g})")
    if kind == "loguniform" and low <= 0:
        raise _bad(spec, f"loguniform(lo,hi) needs lo > 0 (got lo={low:g}); or use uniform")
    return low, high


def _bad(spec: str, problem: str) -> ScenarioError:
    return ScenarioError([f"--space {spec[:80]!r}: {problem}"], "tune")


def parse_space(specs: list[str], search: str) -> list[Axis]:
    """Parse every `--space`; with `search="grid"`, every axis must be enumerable."""
    if not specs:
        raise ScenarioError(
            ["give at least one --space path=grid(a,b) (or choice, uniform, ...)"], "tune"
        )
    problems, axes = [], []
    for spec in specs:
        try:
            axes.append(parse_axis(spec))
        except ScenarioError as exc:
            problems += exc.problems
    paths = [a.path for a in axes]
    problems += [
        f"--space {p}: given twice; one axis per path"
        for p in sorted(set(paths))
        if paths.count(p) > 1
    ]
    if search == "grid":
        problems += [
            f"--space {a.path}={a.kind}(...): --search grid enumerates values; a range cannot be "
            "(use grid(a,b,...) or choice(a,b,...), or --search random)"
            for a in axes
            if a.kind in ("uniform", "loguniform")
        ]
    if problems:
        raise ScenarioError(problems, "tune")
    return axes


def override(path: str, value) -> str:
    """A `--set` for one sampled value (a section or a date goes in as JSON / text)."""
    return f"{path}={json.dumps(value, default=str)}"


def validate(scenario_path, axes: list[Axis], overrides=()) -> None:
    """Load the scenario with each value to check of each axis (others at their first); then
    prepare (data and model built) the first combination. One ScenarioError lists it all."""
    from fedray.prepare import prepare

    first = [override(a.path, a.samples_to_check()[0]) for a in axes]
    problems = []
    for i, axis in enumerate(axes):
        for value in axis.samples_to_check():
            sets = [*overrides, *first[:i], override(axis.path, value), *first[i + 1 :]]
            try:
                load_scenario(scenario_path, sets)
            except ScenarioError as exc:
                problems += [f"--space {axis.path}={value!r}: {p}" for p in exc.problems]
    if not problems:
        try:
            prepare(load_scenario(scenario_path, [*overrides, *first]))
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(sorted(set(problems)), str(scenario_path))
