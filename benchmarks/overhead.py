"""How much does fedray's orchestration cost? fedray vs a plain single-process loop.

The plain loop trains the same sampled clients with the same pure functions (local
training, FedAvg, central evaluation) in one process, no Ray; fedray runs the scenario on
a local Ray cluster with its worker pool, Aggregator actor, TensorBoard and Parquet output
(or, with `--set resources.backend=local`, the same actors in this process).
Both must end with the same parameters, which shows they did the same work: bitwise with
`--set client.vectorize=off`, within float tolerance when fedray trains blocks of clients.

    python benchmarks/overhead.py [SCENARIO] [--set path=value ...] [--repeat 2]

Prints seconds per round for each and the ratio fedray / plain. Ray's start-up (a few
seconds, once per process) is reported apart from the rounds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch

import fedray
from fedray import seeding
from fedray.client.train import evaluate, train_client
from fedray.engine import sample_clients
from fedray.models import build_model, unflatten
from fedray.prepare import prepare
from fedray.scenario import load_scenario
from fedray.server.state import ServerState, server_round
from fedray.types import UpdateBatch

ROOT = Path(__file__).resolve().parent.parent


def plain_loop(scenario) -> tuple[np.ndarray, float, float]:
    """Train the scenario's rounds in this process; return (final params, seconds of the
    rounds, seconds in all: the federation, model and test set too)."""
    whole = time.perf_counter()
    torch.set_num_threads(max(1, int(scenario.resources.num_cpus)))
    prepared = prepare(scenario)
    fed = prepared.federation
    model = build_model(
        scenario.model.type, scenario.model.params, fed.input_shape, fed.num_classes
    )
    x_test, y_test = fed.central_test()
    state = ServerState(0, prepared.initial_params)
    device = torch.device("cpu")
    start = time.perf_counter()
    for r in range(1, scenario.rounds + 1):
        cohort = sample_clients(
            scenario.seed,
            r,
            scenario.federation.population,
            scenario.federation.clients_per_round,
            seeding.SAMPLE,
        )
        updates = []
        for cid in cohort:
            data = fed.client(int(cid))
            if len(data.y_train):
                gen = seeding.torch_generator(scenario.seed, r, int(cid), seeding.TRAIN)
                updates.append(
                    train_client(model, state.params, int(cid), data, scenario.client, gen, device)
                )
        state, _ = server_round(state, UpdateBatch.stack(updates, len(state.params)), scenario)
        if r % scenario.evaluation.every == 0 or r == scenario.rounds:
            unflatten(model, state.params)
            evaluate(model, x_test, y_test, scenario.evaluation.batch_size, device)
    return state.params, time.perf_counter() - start, time.perf_counter() - whole


def fedray_run(scenario) -> tuple[np.ndarray, float, float, float]:
    """Return (final params, seconds of the whole run less actor start-up, start-up seconds,
    seconds in all).

    The first figure holds everything a user waits for once the actors are up: the rounds,
    per-round TensorBoard and Parquet writes, checkpoints, the final tables and shutdown.
    """
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = fedray.run(scenario, out=Path(out) / "run", progress=False)
        total = time.perf_counter() - start
    startup = result.summary["startup_seconds"]
    return result.params, total - startup, startup, total


def _check_same_work(scenario, plain: np.ndarray, ours: np.ndarray) -> None:
    """The loop trains client by client; fedray's vectorised blocks give the same updates
    within float tolerance, and with `client.vectorize: off` the same bits."""
    if scenario.client.vectorize == "off":
        assert plain.tobytes() == ours.tobytes(), "fedray and the plain loop disagree"
    else:
        gap = float(np.max(np.abs(plain - ours)))
        assert gap < 1e-4, f"fedray's blocks and the plain loop disagree by {gap:.2e}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "quickstart.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--repeat", type=int, default=2, help="alternate the two this many times; best of each"
    )
    args = parser.parse_args()
    # Federated evaluation and the centralized baseline are extra work the plain loop skips.
    overrides = [
        "evaluation.federated_clients=0",
        "evaluation.centralized_baseline=false",
        *args.overrides,
    ]
    scenario = load_scenario(args.scenario, overrides)
    backend = scenario.resources.backend
    t0 = time.perf_counter()
    if backend == "ray":
        ray.init(include_dashboard=False, logging_level="WARNING")
    startup = time.perf_counter() - t0
    plain, ours, actors, plain_whole, ours_whole = [], [], [], [], []
    try:
        for _ in range(args.repeat):
            p_params, p_sec, p_whole = plain_loop(scenario)
            f_params, f_sec, f_start, f_whole = fedray_run(scenario)
            _check_same_work(scenario, p_params, f_params)
            plain.append(p_sec)
            ours.append(f_sec)
            actors.append(f_start)
            plain_whole.append(p_whole)
            ours_whole.append(f_whole)
    finally:
        if backend == "ray":
            ray.shutdown()
    rounds = scenario.rounds
    print(
        f"scenario: {scenario.name}  rounds={rounds}  clients/round={scenario.federation.clients_per_round}  "
        f"model={scenario.model.type}  epochs={scenario.client.epochs}"
    )
    print(
        f"ray start-up (once per process): {startup:.2f} s; worker + aggregator actors: "
        f"{min(actors):.2f} s per run (not in the rounds below)"
    )
    print(f"plain loop, 1 process : {min(plain) / rounds * 1000:8.1f} ms/round")
    print(
        f"fedray ({backend:5s})        : {min(ours) / rounds * 1000:8.1f} ms/round "
        "(all of the run but actor start-up: rounds, TensorBoard, Parquet, checkpoints)"
    )
    print(
        f"ratio fedray / plain  : {min(ours) / min(plain):8.2f}   (final parameters equal: "
        + ("bitwise)" if scenario.client.vectorize == "off" else "within 1e-4, vectorised)")
    )
    print(
        f"end to end (data, model, actors, rounds, output; not Ray's start-up): plain "
        f"{min(plain_whole):.2f} s, fedray {min(ours_whole):.2f} s, plain / fedray "
        f"{min(plain_whole) / min(ours_whole):.2f}"
    )


if __name__ == "__main__":
    main()
