"""fedray vs Flower's Ray simulation on the same workload (issue 11's W1 by default).

Both engines train the same clients on the same data: this script generates every
client's examples with fedray's own generator (the federation's `client(cid)`) and writes
them, with each round's cohort, each client's batch-order seed, the initial model and the
central test set, to a .npz file that the Flower side reads. Same model (torch logistic
regression), cohort size, rounds, batch size, epochs and learning rate; 1 CPU per Ray
actor and 2 CPUs in all for both. The two end with the same model up to float rounding,
which shows they did the same work.

    python benchmarks/vs_flower.py [SCENARIO] [--set path=value ...] [--repeat 2]
        [--flower-python PATH] [--backends ray,local]

Each engine runs in a process of its own, one after the other, each with its own private
Ray instance. flwr[simulation] pins a Ray that differs from fedray's, so Flower usually
lives in a venv of its own, given with --flower-python (it needs flwr[simulation], torch
and numpy, not fedray); by default this interpreter, if it can import flwr.

Prints end-to-end seconds for each (from the engine's entry point, `fedray.run` or
`flwr.simulation.run_simulation`, to its return: Ray start-up, actors, rounds, output,
shutdown), the ratio, and fedray's actor start-up and round seconds, for each of fedray's
`resources.backend` values asked for (by default both: Ray actors, and the driver's process).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fedray
from fedray import seeding
from fedray.engine import sample_clients
from fedray.prepare import prepare
from fedray.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
W1 = ROOT / "scenarios" / "w1_synthetic.yaml"
# What both engines must leave out for the comparison to be like for like.
OVERRIDES = ["evaluation.federated_clients=0", "evaluation.centralized_baseline=false"]
INSTALL = (
    "python3 -m venv /work/flwr-venv && /work/flwr-venv/bin/pip install torch==2.13.0 "
    "'flwr[simulation]' numpy\n"
    "then: python benchmarks/vs_flower.py --flower-python /work/flwr-venv/bin/python"
)


def check_comparable(scenario) -> None:
    """The Flower side implements FedAvg over plain SGD on fedray's `logreg`, nothing else."""
    c = scenario.client
    problems = [
        f"{path}: the Flower side supports only {want} (got {got!r})"
        for path, got, want in [
            ("model.type", scenario.model.type, "logreg"),
            ("strategy.name", scenario.strategy.name, "fedavg"),
            ("client.optimizer", c.optimizer, "sgd"),
            ("client.momentum", c.momentum, 0.0),
            ("client.weight_decay", c.weight_decay, 0.0),
            ("privacy.mode", scenario.privacy.mode, "none"),
            ("secure_aggregation.protocol", scenario.secure_aggregation.protocol, "none"),
            ("attack.type", scenario.attack.type, "none"),
            ("defense.type", scenario.defense.type, "none"),
            ("evaluation.every", scenario.evaluation.every, 1),  # Flower's evaluate_fn: every round
        ]
        if got != want
    ]
    if problems:
        raise SystemExit("\n".join(problems))


def write_data(scenario, path: Path) -> None:
    """Write every client's training examples, the cohorts and seeds fedray will use, the
    initial model and the central test set to `path` (.npz)."""
    prepared = prepare(scenario)
    fed, population = prepared.federation, scenario.federation.population
    clients = [fed.client(cid) for cid in range(population)]
    sizes = np.array([len(c.y_train) for c in clients], dtype=np.int64)
    rounds = range(1, scenario.rounds + 1)
    cohorts = np.stack(
        [
            sample_clients(
                scenario.seed, r, population, scenario.federation.clients_per_round, seeding.SAMPLE
            )
            for r in rounds
        ]
    )
    seeds = np.array(
        [
            [
                seeding.torch_generator(scenario.seed, r, int(c), seeding.TRAIN).initial_seed()
                for c in row
            ]
            for r, row in zip(rounds, cohorts, strict=True)
        ],
        dtype=np.int64,
    )
    dim, k = int(np.prod(fed.input_shape)), fed.num_classes
    x_test, y_test = fed.central_test()
    np.savez(
        path,
        x=np.concatenate([c.x_train.reshape(len(c.y_train), dim) for c in clients]),
        y=np.concatenate([c.y_train for c in clients]),
        offsets=np.concatenate([[0], np.cumsum(sizes)]),
        cohorts=cohorts,
        seeds=seeds,
        weight=prepared.initial_params[: dim * k].reshape(k, dim),
        bias=prepared.initial_params[dim * k : dim * k + k],
        x_test=x_test.reshape(len(y_test), dim),
        y_test=y_test,
        population=population,
        num_classes=k,
        lr=scenario.client.lr,
        batch_size=scenario.client.batch_size,
        epochs=scenario.client.epochs,
        mu=scenario.client.proximal_mu,
    )


def fedray_side(scenario_path: str, overrides: list[str], result: str) -> None:
    """Run the scenario with fedray in this process and save its figures to `result`."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = fedray.run(scenario_path, overrides, out=Path(out) / "run", progress=False)
        seconds = time.perf_counter() - start
    np.savez(
        result,
        seconds=seconds,
        params=run.params,
        accuracy=np.asarray(run.history.column("test_accuracy").to_pylist()),
        startup=run.summary["startup_seconds"],
        rounds=np.asarray(run.history.column("wall_seconds").to_pylist()),
    )


def child(cmd: list[str], log: Path, result: Path, env=None) -> dict:
    """Run one engine's process; return its saved figures and the process' wall seconds."""
    start = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env).returncode
    wall = time.perf_counter() - start
    if code != 0 or not result.exists():
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise SystemExit(f"{' '.join(cmd)} failed (exit {code}); last lines:\n{tail}")
    with np.load(result) as f:
        return {**{k: f[k] for k in f.files}, "wall": wall}


def flower_python(path: str | None) -> str | None:
    """The interpreter to run Flower with, or None (with a message) when there is none."""
    if path is None:
        if importlib.util.find_spec("flwr") is None:
            print(
                "skipped: flwr is not importable here. Install Flower in a separate venv "
                f"(flwr[simulation] pins its own Ray):\n{INSTALL}"
            )
            return None
        return sys.executable
    probe = subprocess.run(
        [path, "-c", "import flwr.simulation, torch, numpy"], capture_output=True
    )
    if probe.returncode != 0:
        raise SystemExit(
            f"--flower-python {path} cannot import flwr.simulation, torch and numpy:\n"
            f"{probe.stderr.decode()[-600:]}\nInstall them with:\n{INSTALL}"
        )
    return path


def report(scenario, backends: dict[str, list[dict]], flower_runs: list[dict]) -> None:
    w = min(flower_runs, key=lambda r: r["seconds"])
    c = scenario.client
    print(
        f"workload: {scenario.name}  population={scenario.federation.population}  "
        f"clients/round={scenario.federation.clients_per_round}  rounds={scenario.rounds}  "
        f"model={scenario.model.type}  batch={c.batch_size}  epochs={c.epochs}  lr={c.lr}  "
        f"mu={c.proximal_mu}"
    )
    print(
        f"Flower {w['flwr_version']} (Ray simulation, 1 CPU/actor, 2 CPUs) vs fedray {fedray.__version__}"
    )
    print(
        f"Flower end-to-end       : {float(w['seconds']):7.2f} s   (process incl. imports "
        f"{w['wall']:.2f} s; runs {[round(float(r['seconds']), 1) for r in flower_runs]})"
    )
    for backend, fedray_runs in backends.items():
        f = min(fedray_runs, key=lambda r: r["seconds"])
        print(
            f"fedray ({backend:5s}) end-to-end: {float(f['seconds']):7.2f} s   (process incl. "
            f"imports {f['wall']:.2f} s; runs {[round(float(r['seconds']), 1) for r in fedray_runs]})"
        )
        pairs = [
            float(a["seconds"]) / float(b["seconds"])
            for a, b in zip(flower_runs, fedray_runs, strict=True)
        ]
        walls = [a["wall"] / b["wall"] for a, b in zip(flower_runs, fedray_runs, strict=True)]
        print(
            f"  ratio Flower / fedray ({backend}): "
            f"{float(w['seconds']) / float(f['seconds']):.2f} (best of each); "
            f"{np.median(pairs):.2f} (median over runs side by side: "
            f"{' '.join(f'{p:.2f}' for p in pairs)}); whole processes {np.median(walls):.2f}"
        )
        rounds, startup = f["rounds"], float(f["startup"])
        print(
            f"  actor start-up {startup:.2f} s; rounds {float(rounds.sum()):.2f} s "
            f"({float(rounds.mean()):.2f} s/round: {' '.join(f'{s:.2f}' for s in rounds)}); "
            f"the rest {float(f['seconds']) - startup - float(rounds.sum()):.2f} s "
            "(Ray start-up if any, data, output tables, shutdown)"
        )
        diff = float(np.max(np.abs(f["params"] - w["params"])))
        print(f"  same work: final parameters differ from Flower's by at most {diff:.2e}")
        print(f"  test accuracy per round: {' '.join(f'{a:.4f}' for a in f['accuracy'])}")
    print(f"Flower's test accuracy per round: {' '.join(f'{a:.4f}' for a in w['accuracy'])}")
    print(f"Flower's actors ran torch with {int(w['torch_threads'])} thread(s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", nargs="?", default=str(W1))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=2, help="alternate the two this many times")
    parser.add_argument("--flower-python", help="a Python that can import flwr[simulation]")
    parser.add_argument(
        "--backends",
        default="ray,local",
        help="fedray's resources.backend values to run, each side by side with Flower",
    )
    parser.add_argument("--side", choices=["fedray"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = [*OVERRIDES, *args.overrides]
    if args.side == "fedray":
        return fedray_side(args.scenario, overrides, args.result)
    python = flower_python(args.flower_python)
    if python is None:
        return
    scenario = load_scenario(args.scenario, overrides)
    check_comparable(scenario)
    backends = [b for b in args.backends.split(",") if b]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    runs = {name: [] for name in ["flower", *backends]}
    load = os.getloadavg()  # other jobs on the machine: the figures are only as quiet as it
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "clients.npz"
        write_data(scenario, data)
        commands = {
            **{
                b: (
                    [sys.executable, __file__, args.scenario, "--side", "fedray"]
                    + [f"--set={o}" for o in [*args.overrides, f"resources.backend={b}"]],
                    env,
                )
                for b in backends
            },
            "flower": (
                [python, "-m", "benchmarks.flower_app", str(data)],
                {**env, "PYTHONPATH": str(ROOT)},
            ),
        }
        for i in range(args.repeat):
            # Alternate who goes first, so a load that drifts over the runs favours neither.
            order = [*backends, "flower"]
            for name in order if i % 2 == 0 else order[::-1]:
                cmd, child_env = commands[name]
                out = Path(tmp) / f"{name}{i}.npz"
                log = Path(tmp) / f"{name}.log"
                runs[name].append(child([*cmd, "--result", str(out)], log, out, child_env))
    report(scenario, {b: runs[b] for b in backends}, runs["flower"])
    print(f"load average (1 min) before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
