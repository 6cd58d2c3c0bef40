"""The Python API: `fedray.run(scenario, overrides=...)`; the CLI is a thin layer over it."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray
import torch
from ray.exceptions import GetTimeoutError, RayActorError

from fedray import checkpoint, seeding
from fedray.attacks import runtime
from fedray.baseline import centralized_curve
from fedray.client.plan import client_plan
from fedray.client.pool import PoolPlan, WorkerPool, check_free, plan_pool
from fedray.data import GENERATED, build_federation
from fedray.data.datasets import DataError
from fedray.data.partition import label_histograms
from fedray.engine import Handles, run_rounds
from fedray.models import build_model, flatten
from fedray.output import RunOutput, fresh_dir
from fedray.privacy.adaptive import update_noise_multiplier
from fedray.privacy.local import check_private_model
from fedray.progress import Progress
from fedray.scenario import Scenario, ScenarioError, load_scenario, parse_override
from fedray.scenario.convert import to_plain
from fedray.server.aggregator import Aggregator
from fedray.server.client_state import ClientStateStore
from fedray.server.privacy import USER_LEVEL, count_noise, user_noise_multiplier
from fedray.server.state import ServerState

_INIT_LOCK = threading.Lock()


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
    except DataError as exc:  # already names the scenario key at fault
        raise ScenarioError([str(exc)], scenario.name) from None
    except ValueError as exc:
        raise ScenarioError([f"data: {exc}"], scenario.name) from None
    except Exception as exc:  # user loaders / partitioners, odd files: one line, not a traceback
        raise ScenarioError([f"data: {type(exc).__name__}: {exc}"], scenario.name) from None
    try:
        # fork_rng + manual_seed touch torch's process-wide generator: the lock keeps runs
        # started from several threads (fedray stress --parallel) from seeding each other's.
        with _INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seeding.rng(scenario.seed, purpose=seeding.INIT).integers(2**62)))
            model = build_model(
                scenario.model.type,
                scenario.model.params,
                federation.input_shape,
                federation.num_classes,
            )
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ScenarioError([f"model.type: {exc}"], scenario.name) from None
    except Exception as exc:  # a user model's own bug: one line, not a traceback
        raise ScenarioError([f"model.type: {type(exc).__name__}: {exc}"], scenario.name) from None
    try:
        runtime.check(scenario, federation.num_classes, federation.input_shape)
    except ValueError as exc:
        raise ScenarioError([f"attack: {exc}"], scenario.name) from None
    _check_privacy(scenario, model, federation)
    _check_weights(scenario, federation)
    return Prepared(federation, flatten(model))


def _check_weights(scenario: Scenario, federation) -> None:
    """Secure aggregation encodes each update scaled by its weight min(n, max_weight) /
    max_weight: a max_weight far above every client's size leaves them a few bits."""
    cfg = scenario.secure_aggregation
    if cfg.protocol == "none" or cfg.weighting != "examples":
        return
    rng = seeding.rng(scenario.seed, purpose=seeding.SECAGG)
    population = scenario.federation.population
    ids = np.sort(rng.choice(population, size=min(population, 1000), replace=False))
    largest = int(np.max(federation.sizes(ids)))
    bits = math.log2(max(min(largest, cfg.max_weight) / cfg.max_weight * 2 ** (cfg.bits - 1), 1))
    if bits < 8:
        raise ScenarioError(
            [
                f"secure_aggregation.max_weight: the largest client holds {largest} examples, "
                f"so its weight is at most {min(largest, cfg.max_weight)}/{cfg.max_weight} and "
                f"its update is encoded with about {bits:.1f} of the {cfg.bits} bits (got "
                f"{cfg.max_weight}; expected about {largest}, or more secure_aggregation.bits)"
            ],
            scenario.name,
        )


def _check_privacy(scenario: Scenario, model, federation) -> None:
    """What local DP-SGD needs from the model (Opacus' per-example gradients), and a noise
    level that `target_epsilon` can be calibrated to."""
    p = scenario.privacy
    try:
        if p.mode == "local":
            check_private_model(model)
        client_plan(scenario, federation.sizes)
        if p.mode in USER_LEVEL:
            z = user_noise_multiplier(scenario)
            if p.adaptive_clipping.enabled:
                update_noise_multiplier(z, count_noise(scenario))
    except ValueError as exc:
        raise ScenarioError([f"privacy: {exc}"], scenario.name) from None
    secure = scenario.secure_aggregation
    if p.mode == "distributed":
        # Each coordinate of a clipped update is within S, and its noise share has std
        # z S / sqrt(m): the encoding's range must hold both, or it clips the noise away.
        m = scenario.federation.clients_per_round
        need = p.clip + 6 * z * p.clip / m**0.5
        if secure.clip < need:
            raise ScenarioError(
                [
                    f"secure_aggregation.clip: {secure.clip:g} would cut off the clients' noise "
                    f"shares (S = {p.clip:g}, z = {z:.3g}, m = {m}); expected >= {need:.3g}, "
                    "S plus 6 standard deviations of a share"
                ],
                scenario.name,
            )


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
        # "local" starts a private instance even when RAY_ADDRESS or a `ray start` cluster
        # exists on this machine: joining one must be asked for with --address.
        ray.init(
            address="local", runtime_env=env, include_dashboard=False, logging_level=logging.WARNING
        )
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
    scenario, out_dir, resume_state = _resolve(scenario, overrides, out, resume)
    prepared = prepare(scenario)
    started = _connect(address)
    try:
        return _execute(scenario, prepared, out_dir, resume_state, progress)
    finally:
        if started:
            ray.shutdown()


# What a resumed run may change: how long it runs, and where and how it runs. Anything
# else (seed, data, model, strategy, ...) would splice two different experiments together.
RESUMABLE_PREFIXES = ("rounds", "resources.", "output.", "evaluation.every", "evaluation.federated")


def _resolve(scenario, overrides, out, resume) -> tuple[Scenario, Path, ServerState | None]:
    """Return (scenario, output dir, checkpointed state or None for a fresh run)."""
    if resume is None:
        scenario = load_scenario(scenario, overrides)
        return scenario, _choose_out(scenario, out), None
    out_dir = Path(resume)
    if not (out_dir / "scenario.yaml").exists():
        raise ScenarioError(
            [f"--resume: {out_dir} holds no fedray run (no scenario.yaml)"], str(out_dir)
        )
    scenario = load_scenario(out_dir / "scenario.yaml", overrides)  # a malformed --set: here
    pairs = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    refused = [path for path, _ in pairs if not path.startswith(RESUMABLE_PREFIXES)]
    found = checkpoint.latest(out_dir)  # none yet: the run restarts from round 0 in place
    state = checkpoint.load(found) if found is not None else ServerState(0, np.zeros(0, np.float32))
    problems = [
        f"--set {path}: a resumed run keeps its experiment (got a change to {path}; expected only "
        "rounds, resources.*, output.*, evaluation.every / federated_*): start a new run instead"
        for path in refused
    ]
    original = load_scenario(out_dir / "scenario.yaml")
    if scenario.privacy.target_epsilon is not None and scenario.rounds != original.rounds:
        problems.append(
            f"rounds: privacy.target_epsilon calibrated the noise for {original.rounds} rounds; "
            f"{scenario.rounds} would recalibrate it mid-run (got a change to rounds; expected "
            "the same rounds, or a new run with privacy.noise_multiplier set to the "
            "privacy_noise_multiplier this run reports)"
        )
    if scenario.rounds < state.round:
        problems.append(
            f"rounds: the run is checkpointed at round {state.round} (got {scenario.rounds}; "
            f"expected >= {state.round})"
        )
    if problems:
        raise ScenarioError(problems, str(out_dir))
    return scenario, out_dir, state


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
        _check_writable(path, scenario.name)
        return path
    path = fresh_dir(Path("runs") / scenario.name)
    _check_writable(path, scenario.name)
    return path


def _check_writable(path: Path, name: str) -> None:
    """Refuse, before Ray starts, an output directory that cannot be created or written."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problem = f"{existing} is a file, not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return
    raise ScenarioError(
        [
            f"output.dir: cannot write the run to {path}: {problem} (got {str(path)!r}; "
            "expected a directory path that can be created and written, e.g. --out runs/x)"
        ],
        name,
    )


class StartupError(RuntimeError):
    """The actors could not start: the cluster is full, or a worker failed to build."""


def _plan(scenario: Scenario, patience: float = 30.0) -> PoolPlan:
    """Size the pool; wait up to `patience` seconds for resources that are still being
    released (a previous run's actors, just killed) before saying the cluster is busy."""
    fed = scenario.federation
    try:
        plan = plan_pool(scenario.resources, fed.population, fed.clients_per_round, ray.nodes())
        deadline = time.monotonic() + patience
        while True:
            try:
                check_free(plan, scenario.resources, ray.available_resources())
                return plan
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    except ValueError as exc:
        raise ScenarioError([f"resources: {exc}"], scenario.name) from None


def _start(scenario: Scenario, plan: PoolPlan, state: ServerState, sizes):
    """Start the workers and the Aggregator and wait until each has built its model and data.

    Returns (pool, aggregator, client state store or None, placement, seconds). On failure
    nothing is left running.
    """
    plain = to_plain(scenario)
    started = time.perf_counter()
    pool = WorkerPool(plain, plan, scenario.resources)
    store = None
    if client_plan(scenario, sizes).control_variates:
        store = (
            ray.remote(ClientStateStore)
            .options(num_cpus=0)
            .remote(len(state.params), state.client_states)
        )
    server_state = replace(state, client_states=None)  # those live in the store
    aggregator = ray.remote(Aggregator).options(num_cpus=0).remote(plain, server_state, store)
    timeout = scenario.resources.startup_timeout
    try:
        placement = pool.info(timeout=timeout)
        ray.get(aggregator.params.remote(), timeout=timeout)
    except GetTimeoutError:
        _stop(pool, aggregator, store)
        raise StartupError(
            f"the workers did not start within resources.startup_timeout={timeout:g} s; the cluster "
            f"has {ray.available_resources()} free: another job may hold the resources"
        ) from None
    except RayActorError as exc:
        _stop(pool, aggregator, store)
        raise StartupError(f"a worker or the aggregator failed to start: {exc}") from None
    return pool, aggregator, store, placement, time.perf_counter() - started


def _stop(pool: WorkerPool, aggregator, store=None) -> None:
    pool.shutdown()
    for actor in (aggregator, store):
        if actor is not None:
            ray.kill(actor)


def _execute(
    scenario: Scenario,
    prepared: Prepared,
    out_dir: Path,
    resume_state: ServerState | None,
    progress,
) -> RunResult:
    plan = _plan(scenario)
    resuming = resume_state is not None
    state = (
        resume_state if resuming and resume_state.round else ServerState(0, prepared.initial_params)
    )
    sizes = prepared.federation.sizes
    pool, aggregator, store, placement, startup_seconds = _start(scenario, plan, state, sizes)
    output = bar = None
    try:
        output = RunOutput(out_dir, scenario, resume_from=state.round if resuming else None)
        federation = prepared.federation
        if not resuming and hasattr(federation, "partition"):
            output.write_partition(
                label_histograms(
                    federation.partition, federation.arrays.y_train, federation.num_classes
                )
            )
        bar = Progress(scenario.rounds, state.round, enabled=progress)
        malicious = frozenset(runtime.adversary(scenario).tolist())
        local_z = client_plan(scenario, sizes).dp_noise_multiplier
        handles = Handles(scenario, pool, aggregator, federation.sizes, store, malicious, local_z)
        stopped = run_rounds(handles, output, state.round + 1, aggregator.params.remote(), bar)
        final = ray.get(aggregator.params.remote())
    finally:
        if bar is not None:
            bar.close()
        _stop(pool, aggregator, store)
        if output is not None:
            output.close()
    if scenario.evaluation.centralized_baseline:  # after the pool is gone, so it finds a free CPU
        task = ray.remote(centralized_curve).options(num_cpus=scenario.resources.num_cpus)
        output.add_baseline(ray.get(task.remote(scenario, prepared.initial_params)))
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
        **stopped,
    }
    history, summary = output.finish(final, extra)
    return RunResult(history, final, out_dir, summary)
