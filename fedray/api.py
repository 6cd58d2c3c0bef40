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

from fedray import calls, checkpoint
from fedray.actors import WarmActors, node_table, start, stop
from fedray.asynchronous import run_async
from fedray.attacks import runtime
from fedray.baseline import Baseline
from fedray.client.plan import client_plan
from fedray.client.pool import PoolPlan, check_free, plan_pool
from fedray.data import GENERATED
from fedray.data.fingerprint import fingerprint
from fedray.data.partition import label_histograms
from fedray.engine import Handles, run_rounds
from fedray.files import write_durably
from fedray.output import RunOutput, fresh_dir
from fedray.prepare import Prepared, prepare
from fedray.progress import Progress
from fedray.scenario import Scenario, ScenarioError, load_scenario, parse_override
from fedray.server import driver_ledger
from fedray.server.state import ServerState

log = logging.getLogger("fedray")

# The data a run began with (`fedray.data.fingerprint`), checked when it is resumed.
DATA_FINGERPRINT = "data.sha256"


@dataclass(frozen=True)
class RunResult:
    history: pa.Table  # metrics.parquet: one row per round
    params: np.ndarray  # (d,) float32 final global parameters
    out_dir: Path
    summary: dict


# Set by Ray's job supervisor for the driver of a `ray job submit` entrypoint, together
# with RAY_ADDRESS (the job's cluster).
_RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def _connect(address: str | None) -> bool:
    """Join `address`, or start an embedded local Ray; return True when this call connected.

    Inside a Ray job, join the job's cluster and add no runtime env: the job's own (its
    `working_dir`, unpacked on every node and put on the workers' path and as their working
    directory) already reaches every actor, where this driver's directory would not exist.
    """
    if ray.is_initialized():
        return False
    if _RAY_JOB_ENV in os.environ:
        ray.init(address=address or "auto", logging_level=logging.WARNING)
        return True
    # Workers import user plugins (`module:attr`) from the driver's working directory too.
    # (Ray itself puts that directory first on every worker's path: a run started inside a
    # fedray checkout runs that checkout's fedray in its actors.)
    path = os.pathsep.join(
        [os.getcwd(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    if address:
        env = {"env_vars": {"PYTHONPATH": path}}
        ray.init(address=address, runtime_env=env, logging_level=logging.WARNING)
        return True
    # A private instance's processes inherit this one's environment: the path set there, not
    # as a runtime_env, spares each actor a round trip to Ray's runtime-env agent and lets
    # Ray start it as a plain worker process.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path
    # Ray says on every start that this private instance uses token authentication (its
    # default); a fedray run printed that line before anything of its own.
    notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        # "local" starts a private instance even when RAY_ADDRESS or a `ray start` cluster
        # exists on this machine: joining one must be asked for with --address.
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    finally:
        notice.setLevel(level)
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    return True


def run(
    scenario: str | os.PathLike | dict | Scenario,
    overrides=(),
    *,
    out: str | os.PathLike | None = None,
    address: str | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool | None = None,
    warm: WarmActors | None = None,
    on_round=None,
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
        warm: actors kept between runs (`fedray.actors.WarmActors`, as `fedray stress` does):
            this run takes a matching pool from it and leaves its own there for the next.
            A `fedray.slots.Slot` also fixes the pool's size and placement group.
        on_round: called with each round's metrics row once the round is recorded and
            checkpointed (`fedray tune` reports it to Ray Tune).
    """
    scenario, out_dir, resume_state = _resolve(scenario, overrides, out, resume)
    if scenario.resources.backend == "local" and address:
        raise ScenarioError(
            [
                f"resources.backend: local runs in this process and joins no cluster (got "
                f"--address {address}; expected no --address, or resources.backend: ray)"
            ],
            scenario.name,
        )
    prepared = prepare(scenario)
    # A run with no checkpoint yet restarts from round 0: nothing of it is kept to splice.
    resuming = resume_state is not None and resume_state.round > 0
    _check_data(out_dir, prepared.federation, scenario.name, resuming=resuming)
    # On Ray, trained in a thread of this process from here on, while Ray and the actors
    # start; in the driver's process (backend local), after the rounds.
    baseline = None
    if scenario.evaluation.centralized_baseline:
        baseline = Baseline(
            scenario,
            prepared.initial_params,
            prepared.federation,
            background=scenario.resources.backend == "ray",
        )
    started = False
    try:
        if scenario.resources.backend == "ray":
            started = _connect(address)
        return _execute(
            scenario, prepared, out_dir, resume_state, progress, warm, baseline, on_round
        )
    except BaseException:
        if baseline is not None:  # nobody will read it: stop spending the CPU
            baseline.cancel()
        raise
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
    try:
        state = checkpoint.load_latest(out_dir)
    except checkpoint.CorruptCheckpoint as exc:
        raise ScenarioError([f"--resume: {exc}"], str(out_dir)) from None
    if state is None:  # no checkpoint yet: the run restarts from round 0 in place
        state = ServerState(0, np.zeros(0, np.float32))
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


def _check_data(out_dir: Path, federation, name: str, *, resuming: bool) -> None:
    """Record the data a fresh run begins with; refuse to resume a run whose clients now
    hold other data (a release that generates it differently, a dataset file edited)."""
    path = out_dir / DATA_FINGERPRINT
    now = fingerprint(federation)
    then = path.read_text().strip() if resuming and path.exists() else ""
    version, _, digest = then.partition(" ")
    if version == now.partition(" ")[0]:  # comparable: written by this fingerprint's version
        if then != now:
            raise ScenarioError(
                [
                    f"data: the clients of {out_dir} hold other data than when the run began "
                    f"(fingerprint {digest[:12]}... then, {now.partition(' ')[2][:12]}... "
                    "now): this fedray "
                    "generates the dataset differently, its file changed on disk, or this "
                    "machine's CPU or torch build draws generated data with other bits, and a "
                    "resume would splice two data sets into one run (got --resume "
                    f"{out_dir}; expected a new run, e.g. fedray run SCENARIO --out NEW_DIR; "
                    f"to resume anyway, delete {path})"
                ],
                name,
            )
        return
    if resuming:
        log.warning(
            "%s predates this release's data fingerprints: fedray cannot check that its "
            "clients hold the data the run began with (a release that generates data "
            "differently would splice two data sets); recording today's",
            out_dir,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_durably(path, (now + "\n").encode())


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


def _plan(scenario: Scenario, warm: WarmActors | None = None, patience: float = 30.0) -> PoolPlan:
    """Size the pool; wait up to `patience` seconds for resources that are still being
    released (a previous run's actors, just killed) before saying the cluster is busy.

    A warm pool of this shape is taken over as it is; warm pools of other shapes are
    stopped first, since they hold resources this one may need.
    """
    if scenario.resources.backend == "local":  # one worker, in this process
        return PoolPlan(1, "cross-device", 1)
    if warm is not None and (reserved := warm.reserved_plan(scenario)) is not None:
        return reserved
    fed = scenario.federation
    try:
        plan = plan_pool(scenario.resources, fed.population, fed.clients_per_round, ray.nodes())
        if warm is not None:
            if warm.holds(plan, scenario.resources):
                return plan
            warm.close()
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


def _execute(
    scenario: Scenario,
    prepared: Prepared,
    out_dir: Path,
    resume_state: ServerState | None,
    progress,
    warm: WarmActors | None = None,
    baseline: Baseline | None = None,
    on_round=None,
) -> RunResult:
    begun = time.perf_counter()  # Ray is running (or not used): start-up is from here to round 1
    plan = _plan(scenario, warm)
    resuming = resume_state is not None
    state = (
        resume_state if resuming and resume_state.round else ServerState(0, prepared.initial_params)
    )
    state, ledger = driver_ledger.split(scenario, state)  # the Aggregator never gets it
    sizes = prepared.federation.sizes
    pool, aggregator, store, placement, _ = start(scenario, plan, state, sizes, out_dir, warm)
    output = bar = None
    try:
        output = RunOutput(out_dir, scenario, resume_from=state.round if resuming else None)
        federation = prepared.federation
        # A run killed before writing it gets it on resume.
        wrote = resuming and (out_dir / "partition.parquet").exists()
        if not wrote and hasattr(federation, "partition"):
            output.write_partition(
                label_histograms(
                    federation.partition, federation.arrays.y_train, federation.num_classes
                )
            )
        startup_seconds = time.perf_counter() - begun  # the rest before round 1 takes microseconds
        bar = Progress(scenario.rounds, state.round, enabled=progress, on_update=on_round)
        malicious = frozenset(runtime.adversary(scenario).tolist())
        local_z = client_plan(scenario, sizes).dp_noise_multiplier
        handles = Handles(
            scenario, pool, aggregator, federation.sizes, store, malicious, local_z, ledger
        )
        runner = run_async if scenario.system.mode == "async" else run_rounds
        stopped = runner(handles, output, state.round + 1, aggregator.params.remote(), bar)
        final = calls.get(
            aggregator.params.remote(), scenario.resources.call_timeout, "the aggregator (params)"
        )
    finally:
        if bar is not None:
            bar.close()
        stop(pool, aggregator, store, warm=warm, plan=plan, resources=scenario.resources)
        if output is not None:
            output.close()
    if baseline is not None:
        output.add_baseline(baseline.result())
    gpu_ids = sorted({g for p in placement for g in p["gpu_ids"]})
    extra = {
        "backend": scenario.resources.backend,
        "mode": plan.mode,
        "num_workers": plan.num_workers,
        "startup_seconds": startup_seconds,
        # Whether the workers trained blocks of clients at once (client.vectorize), and why not.
        "vectorized": all(p.get("vectorized") for p in placement),
        "vectorize_reason": next(
            (p["vectorize_reason"] for p in placement if not p.get("vectorized")), ""
        ),
        "nodes": node_table(placement),
        "workers_per_gpu": {g: sum(g in p["gpu_ids"] for p in placement) for g in gpu_ids},
        "seed": scenario.seed,
        "dataset": scenario.data.dataset,
        "generated": scenario.data.dataset in GENERATED,
        **stopped,
    }
    history, summary = output.finish(final, extra)
    return RunResult(history, final, out_dir, summary)
