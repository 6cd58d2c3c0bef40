"""Load a scenario: YAML (or a dict) -> `--set` overrides -> typed, checked `Scenario`.

Every problem is collected and raised together as one `ScenarioError`.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fedray.data import GENERATED
from fedray.scenario.convert import MISSING, Problems, build_dataclass, to_plain
from fedray.scenario.schema import Scenario


class ScenarioError(ValueError):
    """A scenario with problems; `problems` holds one `path: message (got X; expected Y)` each."""

    def __init__(self, problems: list[str], source: str = "scenario"):
        self.problems = list(problems)
        self.source = source
        super().__init__(
            f"{source}: {len(self.problems)} problem(s)\n  " + "\n  ".join(self.problems)
        )


def read_yaml(path: str | os.PathLike) -> dict:
    """Read a scenario file into a dict, or raise ScenarioError naming the line at fault."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ScenarioError([f"cannot read file ({exc.strerror})"], source) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(
            [f"invalid YAML at {where}{getattr(exc, 'problem', exc)}"], source
        ) from None
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
        return path.strip(), yaml.safe_load(value)
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
    scenario = build_dataclass(Scenario, raw, "", problems)
    if scenario is not MISSING:
        check(scenario, problems)
    if problems.lines:
        raise ScenarioError(problems.lines, name)
    return scenario


def check(s: Scenario, problems: Problems) -> None:
    """Cross-field rules: what no single field's type can say."""
    fed = s.federation
    if fed.clients_per_round > fed.population:
        problems.add(
            "federation.clients_per_round",
            "more than the population",
            fed.clients_per_round,
            f"<= federation.population ({fed.population})",
        )
    if s.evaluation.federated_clients > fed.population:
        problems.add(
            "evaluation.federated_clients",
            "more than the population",
            s.evaluation.federated_clients,
            f"<= federation.population ({fed.population})",
        )
    _check_strategy(s, problems)
    _check_defense(s, problems)
    _check_attack(s, problems)
    if s.data.dataset in GENERATED and s.data.partition.type != "natural":
        problems.add(
            "data.partition.type",
            f"{s.data.dataset} clients are generated with their own "
            "distribution; only the natural partition applies",
            s.data.partition.type,
            "'natural'",
        )
    if s.data.dataset == "digits" and s.data.partition.type == "natural":
        problems.add(
            "data.partition.type",
            "digits has no client ids",
            "natural",
            "iid, dirichlet, shards or quantity_skew",
        )
    if s.data.dataset in GENERATED and s.data.params.min_samples > s.data.params.max_samples:
        problems.add(
            "data.min_samples",
            "above data.max_samples",
            s.data.params.min_samples,
            f"<= data.max_samples ({s.data.params.max_samples})",
        )
    if s.data.dataset == "parquet":
        _check_parquet(s.data.params, s.data.partition.type, problems)
    gpus = s.resources.num_gpus
    if gpus > 1 and not math.isclose(gpus, round(gpus)):
        problems.add(
            "resources.num_gpus",
            "Ray shares a GPU only in fractions of one",
            gpus,
            "a fraction <= 1 or a whole number",
        )
    if isinstance(s.resources.num_workers, int) and s.resources.num_workers < 1:
        problems.add(
            "resources.num_workers", "out of range", s.resources.num_workers, ">= 1 or 'auto'"
        )


def _check_strategy(s: Scenario, problems: Problems) -> None:
    name, client = s.strategy.name, s.client
    if name == "fedprox" and client.proximal_mu > 0:
        problems.add(
            "client.proximal_mu",
            "fedprox sets the proximal term from strategy.mu",
            client.proximal_mu,
            "0 with strategy.name: fedprox (or use fedavg)",
        )
    if name == "fednova" and client.proximal_mu > 0:
        problems.add(
            "client.proximal_mu",
            "fednova's normaliser assumes plain local SGD (a_i = tau_i)",
            client.proximal_mu,
            "0 with strategy.name: fednova",
        )
    if name in ("fednova", "scaffold") and (client.optimizer != "sgd" or client.momentum > 0):
        problems.add(
            "client.optimizer",
            f"{name}'s server step assumes plain local SGD",
            f"{client.optimizer}, momentum {client.momentum}",
            "sgd with momentum 0",
        )


def _check_attack(s: Scenario, problems: Problems) -> None:
    a = s.attack
    # type none with a fraction is allowed: a stress grid sweeps attack.type over "none"
    # while keeping the share, and "none" plainly means nobody attacks.
    if a.count is not None and a.fraction > 0:
        problems.add(
            "attack.count", "give attack.fraction or attack.count, not both", a.count, "one of them"
        )
    if a.type != "none" and a.fraction == 0 and not a.count:
        problems.add(
            "attack.fraction",
            f"attack {a.type!r} has no malicious clients",
            0,
            "a share in (0, 1] or attack.count >= 1",
        )
    if a.count is not None and a.count > s.federation.population:
        problems.add(
            "attack.count",
            "more than the population",
            a.count,
            f"<= federation.population ({s.federation.population})",
        )


def _check_defense(s: Scenario, problems: Problems) -> None:
    """Try the defense once on a cohort-sized matrix, so a rule whose precondition cannot
    hold (Krum with n <= 2f + 2, Bulyan with n < 4f + 3) is refused before any actor starts."""
    import numpy as np

    from fedray.defenses import DEFENSES
    from fedray.defenses.bucketing import with_bucketing
    from fedray.defenses.common import RoundContext
    from fedray.registry import is_plugin

    if is_plugin(s.defense.type):
        return
    rule = DEFENSES[s.defense.type].fn
    if s.defense.bucketing > 1:
        rule = with_bucketing(rule, s.defense.bucketing)
    rng = np.random.default_rng(0)
    n = s.federation.clients_per_round
    rows = rng.standard_normal((n, 4)).astype(np.float32)
    try:
        rule(
            rows, np.ones(n), s.defense.params, RoundContext(rng, reference=np.ones(4, np.float32))
        )
    except ValueError as exc:
        problems.add("defense", f"{exc} (checked with the {n} updates of a full cohort)")


def _check_parquet(p, partition_type: str, problems: Problems) -> None:
    if not p.path:
        problems.add("data.path", "required for the parquet dataset", "", "a Parquet file path")
    elif not os.path.isfile(p.path):
        problems.add("data.path", "file not found", p.path, "an existing Parquet file")
    if p.test_path and not os.path.isfile(p.test_path):
        problems.add("data.test_path", "file not found", p.test_path, "an existing Parquet file")
    if p.tensor_column and p.feature_columns:
        problems.add(
            "data.tensor_column", "give tensor_column or feature_columns, not both", p.tensor_column
        )
    if partition_type == "natural" and p.path and os.path.isfile(p.path):
        import pyarrow.parquet as pq

        columns = pq.read_schema(p.path).names
        if p.client_column not in columns:
            problems.add(
                "data.client_column",
                f"the natural partition needs a client id column, and {p.path} has none of that name",
                p.client_column,
                "one of " + ", ".join(columns) + " (or another partition type)",
            )


def to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML, every default spelled out."""
    return yaml.safe_dump(to_plain(scenario), sort_keys=False)
