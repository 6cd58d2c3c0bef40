"""Centralized baseline: the same model and optimizer trained on the pooled client data.

Logged beside the federated curve so a user sees the price of federation. One baseline
"round" is `client.epochs` epochs over all clients' training data, evaluated on the same
central test split at the same rounds.

It costs as much as a small run of its own, so the driver trains it in a background thread
(`Baseline`) while the federated run starts and goes on, from the data and initial model
the driver has already built; the thread's torch ops release the GIL, and the driver mostly
waits on Ray. Its steps are torch.optim's arithmetic op for op (`StackedOptimizer` over one
row), without torch.optim itself, whose first use imports torch._dynamo (about 1.5 s of CPU).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from fedray import seeding
from fedray.client.stacked_optim import StackedOptimizer
from fedray.client.train import evaluate
from fedray.data import build_federation
from fedray.models import build_model, unflatten
from fedray.prepare import TORCH_RNG_LOCK


def centralized_curve(
    scenario, initial_params: np.ndarray, federation=None, stop: threading.Event | None = None
) -> list[dict]:
    """Return `[{round, baseline_test_accuracy, baseline_test_loss}]` for the evaluated rounds.

    Never touches the state of torch's global generator, which other runs in this process may
    be seeding (`prepare`): a model that draws from it in training (dropout) gets it forked
    and seeded from the scenario, holding `TORCH_RNG_LOCK` throughout.

    Args:
        federation: the scenario's federated dataset when the caller has built it already.
        stop: set by another thread to end the training early; the curve is then partial.
    """
    federation = federation if federation is not None else build_federation(scenario)
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):  # its init draws, discarded
        model = build_model(
            scenario.model.type,
            scenario.model.params,
            federation.input_shape,
            federation.num_classes,
        )
    unflatten(model, initial_params)
    if not any(isinstance(m, _DropoutNd) for m in model.modules()):
        return _curve(scenario, model, federation, stop)
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeding.rng(scenario.seed, purpose=seeding.BASELINE).integers(2**62)))
        return _curve(scenario, model, federation, stop)


def _curve(scenario, model: nn.Module, federation, stop=None) -> list[dict]:
    x, y = federation.pooled_train()
    x_test, y_test = federation.central_test()
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    curve = []
    for r in range(1, scenario.rounds + 1):
        if stop is not None and stop.is_set():
            break
        generator = seeding.torch_generator(scenario.seed, r, 0, seeding.BASELINE)
        pooled_fit(model, xt, yt, scenario.client, generator)
        if r % scenario.evaluation.every == 0 or r == scenario.rounds:
            acc, loss, _ = evaluate(
                model, x_test, y_test, scenario.evaluation.batch_size, torch.device("cpu")
            )
            curve.append({"round": r, "baseline_test_accuracy": acc, "baseline_test_loss": loss})
    return curve


def pooled_fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg, generator) -> None:
    """Train `model` in place for `cfg.epochs` epochs of shuffled minibatches: the same
    parameters, to the bit, as `fedray.client.train.fit` with a fresh optimizer (no proximal
    term or correction), which `tests/test_baseline.py` checks."""
    params = list(model.parameters())
    rows = [p.detach().unsqueeze(0) for p in params]  # views: a step on a row moves the model
    optimizer = StackedOptimizer.for_client_config(cfg, rows)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            for p in params:
                p.grad = None
            loss_fn(model(x[idx]), y[idx]).backward()
            with torch.no_grad():
                optimizer.step(rows, [p.grad.unsqueeze(0) for p in params], step, 1)
            step += 1


class Baseline:
    """`centralized_curve` in a daemon thread of the driver, started at once; `result()`
    waits for it (and raises what it raised); `cancel()` ends it at its next round, for a
    run that failed.

    With `background=False` it trains in `result()`, in the caller's thread: a run whose
    actors live in the driver's process (`resources.backend: local`) shares torch's global
    generator with it (dropout layers fork and seed it), so the two must not overlap; on
    two cores the thread bought nothing there anyway, both sides being Python-bound.
    """

    def __init__(self, scenario, initial_params: np.ndarray, federation=None, background=True):
        self._curve: list[dict] | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._args = (scenario, initial_params, federation)
        self._thread = None
        if background:
            self._thread = threading.Thread(target=self._background, name="fedray-baseline")
            self._thread.daemon = True
            self._thread.start()

    def _background(self) -> None:
        _yield_cpu()
        self._train(*self._args)

    def _train(self, scenario, initial_params, federation) -> None:
        try:
            self._curve = _isolated(scenario, initial_params, federation, self._stop)
        except BaseException as exc:  # handed to result(), in the driver's thread
            self._error = exc

    def cancel(self) -> None:
        """Stop at the next round and wait for that: the thread holds torch's forked global
        generator while it trains, and a run started next in this process must not share it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> list[dict]:
        if self._thread is not None:
            self._thread.join()
        elif self._curve is None and self._error is None:
            if self._stop.is_set():
                return []  # cancelled before it began
            self._train(*self._args)  # not in the background: now, in this thread
        if self._error is not None:
            raise self._error
        return self._curve


def _yield_cpu() -> None:
    """Lower this thread's CPU priority (Linux: nice +10 for the thread alone), so the
    baseline takes what Ray's start-up, the actors and the rounds leave idle instead of
    delaying them; the run still waits for it at the end. Elsewhere a no-op."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


# Baseline threads running now, and torch's thread count before the first of them: runs
# started together (`fedray stress --parallel`) must not restore it under each other.
_THREADS_LOCK = threading.Lock()
_active = {"count": 0, "saved": 0}


def _isolated(scenario, initial_params, federation, stop) -> list[dict]:
    """The curve with torch's intra-op threads at the scenario's `num_cpus`, as a worker has
    them, so that its floats do not depend on the driver's machine."""
    with _THREADS_LOCK:
        if _active["count"] == 0:
            _active["saved"] = torch.get_num_threads()
        _active["count"] += 1
        torch.set_num_threads(max(1, int(scenario.resources.num_cpus)))
    try:
        return centralized_curve(scenario, initial_params, federation, stop)
    finally:
        with _THREADS_LOCK:
            _active["count"] -= 1
            if _active["count"] == 0:
                torch.set_num_threads(_active["saved"])
