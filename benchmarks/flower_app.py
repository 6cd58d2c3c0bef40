"""W1 as a Flower app, run by Flower's Ray simulation; `benchmarks/vs_flower.py` launches it.

Needs only flwr[simulation], torch and numpy, so it runs in a venv of its own (flwr pins a
Ray that differs from fedray's). Everything it trains on comes from the .npz file that
vs_flower.py wrote with fedray's generator: each client's examples, the cohort of every
round, each client's batch-order seed, the initial model and the central test set.

    FLOWER_PYTHON -m benchmarks.flower_app DATA.npz --result RESULT.npz   (from the repository root)

Flower's own pieces do the work: `run_simulation` with a ServerApp and a ClientApp, the
message-based FedAvg (`flwr.serverapp.strategy`), Ray actors of 1 CPU. One change to
FedAvg: each sampled node is told which client to be, so that both engines train the
same clients in the same order and end with the same model.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import cache

import flwr
import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation
from torch import nn

CPUS = 2  # the whole simulation, as fedray's local Ray on this benchmark's machine
CLIENT_CPUS = 1  # per actor, as fedray's resources.num_cpus
SETTINGS: dict = {}  # the server's inputs and outputs; the ServerApp runs in this process


def logreg(dim: int, num_classes: int) -> nn.Module:
    """The same module as fedray's `logreg`, so the state dicts line up."""
    return nn.Sequential(nn.Flatten(), nn.Linear(dim, num_classes))


@cache
def load(path: str) -> dict[str, np.ndarray]:
    """Read the data file once per process: each actor keeps it for the whole run."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def client_examples(data: dict, cid: int) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = data["offsets"][cid], data["offsets"][cid + 1]
    return torch.as_tensor(data["x"][lo:hi]), torch.as_tensor(data["y"][lo:hi])


def fit(model: nn.Module, x, y, cfg: ConfigRecord, generator: torch.Generator) -> float:
    """Shuffled minibatch SGD, step for step as fedray's `fit` (FedProx's mu term included)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=float(cfg["lr"]))
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    mu, batch = float(cfg["mu"]), int(cfg["batch-size"])
    anchor = [p.detach().clone() for p in params]
    total = torch.zeros(())  # summed as a tensor, as fedray does: no sync per step
    for _ in range(int(cfg["epochs"])):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch):
            idx = order[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            if mu > 0:
                grads = [p.grad for p in params]
                torch._foreach_add_(grads, torch._foreach_sub(params, anchor), alpha=mu)
            optimizer.step()
            total += loss.detach() * len(idx)
    return float(total) / max(len(y) * int(cfg["epochs"]), 1)


client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    cfg = msg.content["config"]
    data = load(str(cfg["data"]))
    x, y = client_examples(data, int(cfg["client-id"]))
    model = logreg(x.shape[1], int(data["num_classes"]))
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    loss = fit(model, x, y, cfg, torch.Generator().manual_seed(int(cfg["torch-seed"])))
    # Ray sets an actor's OMP_NUM_THREADS to its CPUs; reported to show torch obeyed.
    threads = torch.get_num_threads()
    metrics = MetricRecord({"train_loss": loss, "torch_threads": threads, "num-examples": len(y)})
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)


class CohortFedAvg(FedAvg):
    """FedAvg whose k-th sampled node trains fedray's k-th client of the round."""

    def __init__(self, cohorts: np.ndarray, seeds: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.cohorts, self.seeds = cohorts, seeds

    def configure_train(self, server_round: int, arrays: ArrayRecord, config, grid: Grid):
        messages = list(super().configure_train(server_round, arrays, config, grid))
        cohort, seeds = self.cohorts[server_round - 1], self.seeds[server_round - 1]
        if len(messages) != len(cohort):
            raise RuntimeError(f"Flower sampled {len(messages)} nodes; expected {len(cohort)}")
        for msg, cid, seed in zip(messages, cohort, seeds, strict=True):
            own = ConfigRecord({**config, "client-id": int(cid), "torch-seed": int(seed)})
            msg.content = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: own})
        return messages


def central_eval(data: dict, dim: int):
    x, y = torch.as_tensor(data["x_test"]), torch.as_tensor(data["y_test"])
    model = logreg(dim, int(data["num_classes"]))

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model.load_state_dict(arrays.to_torch_state_dict())
        with torch.no_grad():
            logits = model(x)
        accuracy = float((logits.argmax(1) == y).float().mean())
        return MetricRecord(
            {"accuracy": accuracy, "loss": float(nn.functional.cross_entropy(logits, y))}
        )

    return evaluate


server_app = ServerApp()


@server_app.main()
def server_main(grid: Grid, context: Context) -> None:
    data = load(SETTINGS["data"])
    population, (rounds, cohort_size) = int(data["population"]), data["cohorts"].shape
    dim = data["x"].shape[1]
    strategy = CohortFedAvg(
        data["cohorts"],
        data["seeds"],
        fraction_train=cohort_size / population,
        fraction_evaluate=0.0,  # fedray's W1 runs no federated evaluation either
        # Wait until every node is up: on a busy machine the first round can start while
        # some are still registering, and FedAvg would sample a fraction of those it sees.
        min_train_nodes=cohort_size,
        min_available_nodes=population,
    )
    initial = logreg(dim, int(data["num_classes"]))
    initial.load_state_dict(
        {"1.weight": torch.as_tensor(data["weight"]), "1.bias": torch.as_tensor(data["bias"])}
    )
    train_config = ConfigRecord(
        {
            "data": SETTINGS["data"],
            "lr": float(data["lr"]),
            "batch-size": int(data["batch_size"]),
            "epochs": int(data["epochs"]),
            "mu": float(data["mu"]),
        }
    )
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(initial.state_dict()),
        num_rounds=rounds,
        train_config=train_config,
        evaluate_fn=central_eval(data, dim),
    )
    state = result.arrays.to_torch_state_dict()
    SETTINGS["params"] = np.concatenate(
        [state["1.weight"].numpy().ravel(), state["1.bias"].numpy().ravel()]
    )
    evals = result.evaluate_metrics_serverapp
    SETTINGS["accuracy"] = np.array([evals[r]["accuracy"] for r in range(1, rounds + 1)])
    trained = result.train_metrics_clientapp
    SETTINGS["torch_threads"] = max(trained[r]["torch_threads"] for r in range(1, rounds + 1))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="W1 in Flower's Ray simulation")
    parser.add_argument("data", help="the .npz file benchmarks/vs_flower.py wrote")
    parser.add_argument("--result", required=True, help="where to save seconds and the model")
    args = parser.parse_args(argv)
    data_path, result_path = args.data, args.result
    SETTINGS["data"] = data_path
    population = int(load(data_path)["population"])
    backend_config = {
        # A private Ray instance, as fedray starts its own: never join one already running.
        "init_args": {"address": "local", "num_cpus": CPUS},
        "client_resources": {"num_cpus": CLIENT_CPUS, "num_gpus": 0.0},
    }
    start = time.perf_counter()
    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=population,
        backend_name="ray",
        backend_config=backend_config,
    )
    seconds = time.perf_counter() - start
    if "params" not in SETTINGS:
        raise SystemExit("Flower's ServerApp did not finish; see the log above")
    np.savez(
        result_path,
        seconds=seconds,
        params=SETTINGS["params"],
        accuracy=SETTINGS["accuracy"],
        flwr_version=flwr.__version__,
        torch_threads=SETTINGS["torch_threads"],
    )


if __name__ == "__main__":
    # Ray pickles what __main__ defines by value, on every call: the actors would reload the
    # data file for each client. Imported as a module, the ClientApp travels by reference
    # and each actor keeps `load`'s cache.
    from benchmarks import flower_app

    flower_app.main(sys.argv[1:])
