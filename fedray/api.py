"""The Python API: `fedray.run(scenario, overrides=...)`; the CLI is a thin layer over it."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray
import torch

from fedray import checkpoint, seeding
from fedray.baseline import centralized_curve
from fedray.client.pool import WorkerPool, plan_pool
from fedray.data import GENERATED, build_federation
from fedray.data.partition import label_histograms
from fedray.engine import Handles, run_rounds
from fedray.models import build_model, flatten
from fedray.output import RunOutput, fresh_dir
from fedray.progress import Progress
from fedray.scenario import Scenario, ScenarioError, load_scenario
from fedray.scenario.convert import to_plain
from fedray.server.aggregator import Aggregator
from fedray.server.state import ServerState


@dataclass(frozen=True)
class RunResult:
    history: pa.Table  # metrics.parquet: one row per round
    params: np.ndarray  # (d,) float32 final global parameters
    out_dir: Path
    summary: dict


@dataclass(frozen=True)
class Prepared:
    """What the driver learns from building the data and model once, before any actor starts."""

    federation: object
    initial_params: np.ndarray


def prepare(scenario: Scenario) -> Prepared:
    """Build the federated dataset and the initial model; report failures as ScenarioError.

    This is where problems that need the data are found: a missing column, a population
    larger than the data, a model whose output does not match the label count.
    """
    try:
        federation = build_federation(scenario)
    except ValueError as exc:
        raise ScenarioError([f"data: {exc}"], scenario.name) from None
    try:
        with torch.random.fork_rng(devices=[]):  # never disturb the user's global torch state
            torch.manual_seed(int(seeding.rng(scenario.seed, purpose=seeding.INIT).integers(2**62)))
            model = build_model(
                scenario.model.type,
                scenario.model.params,
                federation.input_shape,
                federation.num_classes,
            )
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ScenarioError([f"model.type: {exc}"], scenario.name) from None
    return Prepared(federation, flatten(model))


def _connect(address: str | None) -> bool:
    """Join `address`, or start an embedded local Ray; return True when this call connected."""
    if ray.is_initialized():
        return False
    # Workers import user plugins (`module:attr`) from the driver's working directory too.
    path = os.pathsep.join(
        [os.getcwd(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    env = {"env_vars": {"PYTHONPATH": path}}
    if address:
        ray.init(address=address, runtime_env=env, logging_level=logging.WARNING)
    else:
        ray.init(runtime_env=env, include_dashboard=False, logging_level=logging.WARNING)
    return True


def run(
    scenario: str | os.PathLike | dict | Scenario,
    overrides=(),
    *,
    out: str | os.PathLike | None = None,
    address: str | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Run a scenario end to end and return its history and final parameters.

    Args:
        scenario: a YAML path, a dict, or a Scenario. Ignored with `resume` (the run's own
            resolved scenario is used), except that `overrides` still apply, e.g. more rounds.
        overrides: `["a.b=value", ...]` or `{"a.b": value}`.
        out: output directory; default `output.dir`, else `runs/<name>` (a fresh `.N` suffix
            if that already holds a run).
        address: a Ray cluster address (`auto`, `ray://host:10001`); default: embedded local Ray.
        resume: a run directory to continue from its last checkpoint.
        progress: show a progress bar; default: only when stderr is a terminal.
    """
    if resume is not None:
        out_dir = Path(resume)
        if not (out_dir / "scenario.yaml").exists():
            raise ScenarioError(
                [f"--resume: {out_dir} holds no fedray run (no scenario.yaml)"], str(out_dir)
            )
        scenario = load_scenario(out_dir / "scenario.yaml", overrides)
    else:
        scenario = load_scenario(scenario, overrides)
        out_dir = _choose_out(scenario, out)
    prepared = prepare(scenario)
    started = _connect(address)
    try:
        return _execute(scenario, prepared, out_dir, resume is not None, progress)
    finally:
        if started:
            ray.shutdown()


def _choose_out(scenario: Scenario, out) -> Path:
    if out is not None or scenario.output.dir is not None:
        path = Path(out if out is not None else scenario.output.dir)
        if (path / "scenario.yaml").exists():
            raise ScenarioError(
                [
                    f"output.dir: {path} already holds a run; continue it with --resume {path}, "
                    "or choose another --out"
                ],
                scenario.name,
            )
        return path
    return fresh_dir(Path("runs") / scenario.name)


def _execute(
    scenario: Scenario, prepared: Prepared, out_dir: Path, resuming: bool, progress
) -> RunResult:
    state = ServerState(0, prepared.initial_params)
    if resuming and (found := checkpoint.latest(out_dir)) is not None:
        state = checkpoint.load(found)
    output = RunOutput(out_dir, scenario, resume_from=state.round if resuming else None)
    federation = prepared.federation
    partition = getattr(federation, "partition", None)
    if partition is not None and not resuming:
        output.write_partition(
            label_histograms(partition, federation.arrays.y_train, federation.num_classes)
        )
    plain = to_plain(scenario)
    try:
        plan = plan_pool(
            scenario.resources,
            scenario.federation.population,
            scenario.federation.clients_per_round,
            ray.nodes(),
        )
    except ValueError as exc:
        raise ScenarioError([f"resources: {exc}"], scenario.name) from None
    started = time.perf_counter()
    pool = WorkerPool(plain, plan, scenario.resources)
    aggregator = ray.remote(Aggregator).options(num_cpus=0).remote(plain, state)
    # Wait for every actor to have built its model and data, so that round 1's time
    # measures a round and not process start-up.
    placement = pool.info()
    ray.get(aggregator.params.remote())
    startup_seconds = time.perf_counter() - started
    handles = Handles(scenario, pool, aggregator, federation.sizes)
    bar = Progress(scenario.rounds, state.round, enabled=progress)
    try:
        run_rounds(handles, output, state.round + 1, aggregator.params.remote(), bar)
        final = ray.get(aggregator.params.remote())
    finally:
        bar.close()
        pool.shutdown()
        ray.kill(aggregator)
    baseline = []
    if scenario.evaluation.centralized_baseline:  # after the pool is gone, so it finds a free CPU
        task = ray.remote(centralized_curve).options(num_cpus=scenario.resources.num_cpus)
        baseline = ray.get(task.remote(scenario, prepared.initial_params))
    gpu_ids = sorted({g for p in placement for g in p["gpu_ids"]})
    extra = {
        "mode": plan.mode,
        "num_workers": plan.num_workers,
        "startup_seconds": startup_seconds,
        "nodes": len({p["node_id"] for p in placement}),
        "workers_per_gpu": {g: sum(g in p["gpu_ids"] for p in placement) for g in gpu_ids},
        "seed": scenario.seed,
        "dataset": scenario.data.dataset,
        "generated": scenario.data.dataset in GENERATED,
    }
    history, summary = output.finish(final, baseline, extra)
    return RunResult(history, final, out_dir, summary)
