"""`fedray tune SCENARIO`: hyperparameter search over scenario paths on Ray Tune.

    fedray tune scenarios/tune_digits.yaml --space client.lr=loguniform(0.01,0.5) \
        --search random --samples 8 --scheduler asha --metric test_accuracy --mode max

Each trial is a normal fedray run (`fedray.run`) in `OUT/runs/<trial id>/`, reporting
every round that has the metric to Tune; ASHA stops the trials that trail at a rung. A
stopped trial's directory is closed at its last checkpoint (trials checkpoint every round):
metrics.parquet and summary.json, with `stopped_at_round` and `stop_reason`. A trial's
workers sit in the placement group Tune reserves for it, sized like `fedray stress
--parallel auto` (`fedray.concurrency.share`). Results: `tune_results.parquet` and `.csv`
(a row per trial), `tune.md`, TensorBoard hparams in `OUT/tensorboard/`, and Tune's own
experiment directory in `OUT/tune/`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import ray

import fedray
from fedray.failures import MissingExtra
from fedray.scenario import ScenarioError, load_scenario
from fedray.slots import Slot, bundle, cluster_share
from fedray.space import Axis, override, parse_space, validate
from fedray.tune_results import write_results

INSTALL = "fedray tune needs Ray Tune: pip install 'fedray[tune]'"


def require_tune() -> None:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise MissingExtra(INSTALL) from None


@dataclass(frozen=True)
class Search:
    axes: tuple[Axis, ...]
    search: str = "grid"  # grid | random
    samples: int = 1
    scheduler: str = "none"  # none | asha
    metric: str = "test_accuracy"
    mode: str = "max"
    grace_period: int = 1
    reduction_factor: float = 2.0


def check_search(scenario_path, search: Search, overrides=()) -> int:
    """Check the search against the scenario before Ray starts; return the number of trials.
    One ScenarioError lists every problem."""
    base = load_scenario(scenario_path, list(overrides))
    problems = []
    if search.samples < 1:
        problems.append(f"--samples: must be >= 1 (got {search.samples})")
    if search.scheduler == "asha" and not 1 <= search.grace_period <= base.rounds:
        problems.append(
            f"--grace-period: ASHA's first rung must be a round of the run (got "
            f"{search.grace_period}; expected 1..rounds={base.rounds})"
        )
    if search.reduction_factor <= 1:
        problems.append(f"--reduction-factor: must be > 1 (got {search.reduction_factor:g})")
    if not search.metric.replace("_", "").isalnum():
        problems.append(
            f"--metric {search.metric!r}: expected a column of metrics.parquet, e.g. test_accuracy"
        )
    if problems:
        raise ScenarioError(problems, "tune")
    validate(scenario_path, list(search.axes), overrides)
    enumerated = [len(a.values) for a in search.axes if a.kind == "grid" or _as_grid(a, search)]
    return math.prod(enumerated) * search.samples


def _as_grid(axis: Axis, search: Search) -> bool:
    return axis.kind == "choice" and search.search == "grid"


def param_space(search: Search) -> dict:
    """Tune's param_space: grid axes enumerated (every sample gets each value), the rest drawn."""
    from ray import tune

    space = {}
    for a in search.axes:
        if a.kind == "grid" or _as_grid(a, search):
            space[a.path] = tune.grid_search(list(a.values))
        elif a.kind == "choice":
            space[a.path] = tune.choice(list(a.values))
        else:
            draw = tune.uniform if a.kind == "uniform" else tune.loguniform
            space[a.path] = draw(*a.values)
    return space


def parse(specs: list[str], **options) -> Search:
    return Search(tuple(parse_space(specs, options.get("search", "grid"))), **options)


def run_search(
    scenario_path, search: Search, *, out: Path, overrides=(), parallel="auto"
) -> pa.Table:
    """Run the search on the connected Ray cluster; write and return the results table."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    trials = check_search(scenario_path, search, overrides)
    base = load_scenario(scenario_path, list(overrides))
    out = out.resolve()
    one = bundle(base.resources)
    local = base.resources.backend == "local"
    if local:  # the trial's own process trains: it holds one worker's resources, no pool
        base = replace(base, resources=replace(base.resources, num_workers=1))
    share = cluster_share(base, todo=trials, parallel=parallel)
    if local:
        resources = {k.lower(): v for k, v in one.items()}
    elif one:
        resources = tune.PlacementGroupFactory([{}] + [one] * share.workers, strategy="PACK")
    else:
        resources = {"cpu": 0}
    trainable = tune.with_resources(
        tune.with_parameters(
            trial,
            scenario=str(Path(scenario_path).resolve()),
            overrides=list(overrides),
            out=str(out),
            metric=search.metric,
            workers=share.workers,
            cwd=os.getcwd(),
        ),
        resources,
    )
    scheduler = None
    if search.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="round",
            max_t=base.rounds,
            grace_period=search.grace_period,
            reduction_factor=search.reduction_factor,
        )
    tuner = tune.Tuner(
        trainable,
        param_space=param_space(search),
        tune_config=tune.TuneConfig(
            metric=search.metric,
            mode=search.mode,
            num_samples=search.samples,
            scheduler=scheduler,
            search_alg=BasicVariantGenerator(random_state=base.seed, max_concurrent=share.runs),
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=str(out),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    return write_results(out, tuner.fit(), search, rounds=base.rounds)


def trial(config: dict, *, scenario, overrides, out, metric, workers, cwd) -> None:
    """One Tune trial: a fedray run with the trial's values, reporting each round's row that
    has `metric`. Runs in Tune's trial actor; its workers go in the trial's placement group."""
    from ray import tune

    if os.path.isdir(cwd):  # Tune starts trials in their own directory: relative paths
        os.chdir(cwd)
    run_dir = Path(out) / "runs" / tune.get_context().get_trial_id()
    sets = [*overrides, *(override(p, v) for p, v in config.items()), "output.checkpoint_every=1"]
    resolved = load_scenario(scenario, sets)
    rounds = resolved.rounds
    # A local trial trains in this process, on the CPUs Tune gave it: no pool to place.
    slot = None
    if resolved.resources.backend == "ray":
        slot = Slot.adopt(ray.util.get_current_placement_group(), workers)
    reported, last = [], []

    def report(row: dict) -> None:
        value = row.get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        reported.append(row["round"])
        numbers = {k: v for k, v in row.items() if isinstance(v, int | float) and v is not None}
        # Tune stops a trial at its last round (ASHA's max_t) and ends it inside `report`:
        # the last row goes once the run has written its summary.
        if row["round"] < rounds:
            tune.report(numbers)
        else:
            last.append(numbers)

    try:
        fedray.run(scenario, sets, out=run_dir, progress=False, warm=slot, on_round=report)
    finally:
        if slot is not None:
            slot.close()
    if last:
        tune.report(last[-1])
    if not reported:
        raise ValueError(
            f"--metric {metric}: no round of this run had it (expected a column of "
            f"metrics.parquet, e.g. test_accuracy; see {run_dir / 'metrics.parquet'})"
        )
