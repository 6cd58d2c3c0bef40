"""Vectorised cohorts: train a block of clients at once with torch.func; pure torch, no Ray.

`train_block` gives each client of a block the `ClientUpdate` that `train_client` gives it
alone, within float tolerance: the same minibatches (each client's generator is drawn from
exactly as the loop draws from it), the same optimizer arithmetic (`stacked_optim`), the same
FedProx term, SCAFFOLD correction and local DP-SGD (Abadi et al. 2016: Poisson sampling,
per-example clipping, Gaussian noise, with Opacus' noise stream). Parameters are stacked
(B, *shape); a step is one `vmap` over the clients of a `functional_call`, then autograd of
the summed per-client losses (each row's gradient is its own client's); DP-SGD's per-example
gradients are `vmap` of `grad` inside `vmap` (`vectorized_dp`). Ragged clients are padded
(`block`): a step's batch is (B, b) indices with 0/1 weights, and clients are ordered by
step count so that step t runs on the first k_t rows only: a client never moves after its
last step.

Data attacks need nothing here: a malicious client's rows are already poisoned in `datas`.
Neurotoxin's clients bring a (d,) keep mask each (`keeps`); the block's mask rows are all
ones for the others, so their bits do not change (`fedray.client.step_mask`).

What cannot be vectorised falls back to the loop (`can_vectorize` says why): dropout and
other layers that draw random numbers (the loop seeds torch's global generator per client;
a vmapped batch has one), layers with buffers (BatchNorm's running statistics are updated
in place per client), frozen parameters, and any forward pass torch.func refuses.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.func import vmap
from torch.nn.modules.dropout import _DropoutNd

from fedray.client.block import Block, pad, schedule
from fedray.client.plan import ClientPlan
from fedray.client.stacked_forward import batched_forward
from fedray.client.stacked_optim import StackedOptimizer
from fedray.client.stacked_step import autograd_step, stacked_step
from fedray.client.step_mask import keep_rows
from fedray.client.train import _control_delta, evaluate
from fedray.client.vectorized_dp import fit_private_block
from fedray.data.federation import ClientData
from fedray.models import federated_tensors, unflatten
from fedray.privacy.local import check_private_model
from fedray.types import ClientUpdate

VECTORIZE_MODES = ("auto", "on", "off")


# `client.block_size: auto`: the cohort is cut into at least AUTO_BLOCKS blocks, so that up to
# that many workers share a round, and a block holds at most AUTO_MAX clients. Blocks must not
# depend on the worker count (see `blocks`), so this is fixed, not sized to the pool.
AUTO_BLOCKS = 16
AUTO_MAX = 64


def block_size_for(setting: int | str, clients_per_round: int) -> int:
    """`client.block_size` as a number of clients: itself, or for `auto`
    ceil(clients_per_round / 16), between 1 and 64."""
    if setting != "auto":
        return int(setting)
    return max(1, min(AUTO_MAX, -(-int(clients_per_round) // AUTO_BLOCKS)))


def blocks(
    cohort_ids: np.ndarray, block_size: int, sizes: np.ndarray | None = None
) -> list[np.ndarray]:
    """Cut the sorted cohort into consecutive blocks of `block_size` ids (the last shorter).

    With `sizes` (each client's training examples, aligned with `cohort_ids`), the cohort is
    cut in order of (size, id) instead of id, and each block's ids are returned sorted: a
    block is padded to its largest client's steps, so clients of like size share a block
    (on W1's power-law sizes, cutting by id padded every block of 64 to about 90 steps for a
    mean of 21).

    A block depends on the cohort, its sizes and `client.block_size` only, never on the
    number of workers, so a scenario gives the same bits with 1 or N workers: float results
    within a block may depend on its other members (the shapes torch's kernels see). The
    pool must therefore hand out whole blocks (balanced by their padded cost), also when it
    retries a lost worker's share. A worker may cut its share again with the same
    `block_size` and sizes and gets the same blocks back (every block but the cohort's last
    is full, and the last comes last in the order); it drops empty clients after cutting.
    """
    ids = np.asarray(cohort_ids, dtype=np.int64)
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1; got {block_size}")
    if len(ids) > 1 and not (np.diff(ids) > 0).all():
        raise ValueError(
            "cohort ids must be sorted ascending and distinct: blocks are cut in order"
        )
    if sizes is not None:
        sizes = np.asarray(sizes, dtype=np.int64)
        if sizes.shape != ids.shape:
            raise ValueError(f"one size per client: got {sizes.shape} for {ids.shape} ids")
        ids = ids[np.argsort(sizes, kind="stable")]  # ties keep the id order
        return [np.sort(ids[i : i + block_size]) for i in range(0, len(ids), block_size)]
    return [ids[i : i + block_size] for i in range(0, len(ids), block_size)]


def can_vectorize(
    model: nn.Module, plan: ClientPlan | None = None, input_shape: tuple[int, ...] | None = None
) -> tuple[bool, str]:
    """Return (True, "") if `train_block` can train `model`, else (False, why not).

    With `input_shape`, also run one vectorised step of two clients on zeros, which catches
    what a user model does that torch.func refuses (data-dependent control flow, `.item()`,
    random ops) and, for a worker, pays torch.func's first-call cost at start-up.
    """
    for name, m in model.named_modules():
        kind = f"layer {name!r} ({type(m).__name__})"
        if isinstance(m, _DropoutNd):
            return False, (
                f"{kind} draws random numbers, which the loop seeds per client and a vmapped "
                "block cannot"
            )
        if any(True for _ in m.buffers(recurse=False)):
            return False, f"{kind} has buffers (running statistics) that training updates in place"
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    if frozen:
        return False, f"parameters {frozen} are frozen, and the vectorised optimizer trains all"
    if input_shape is not None:
        try:
            _trial(model, plan or ClientPlan(), tuple(input_shape))
        except Exception as exc:  # any refusal means: use the loop, and say why
            first = (str(exc).splitlines() or [""])[0]
            return (
                False,
                f"one vectorised step on zeros fails ({type(exc).__name__}: {first})",
            )
    return True, ""


def choose(mode: str, model: nn.Module, plan, input_shape) -> tuple[bool, str]:
    """(vectorise?, why not) for `client.vectorize`; `on` with an impossible model raises."""
    if mode == "off":
        return False, "client.vectorize is off"
    ok, reason = can_vectorize(model, plan, input_shape)
    if mode == "on" and not ok:
        raise ValueError(
            f"client.vectorize: on, but {reason}; set client.vectorize: auto (falls back to "
            "the loop) or off"
        )
    return ok, reason


def train_block(
    model: nn.Module,
    global_params: np.ndarray,
    client_ids: list[int],
    datas: list[ClientData],
    cfg,
    generators: list[torch.Generator],
    device: torch.device,
    plan: ClientPlan | None = None,
    controls: list[tuple[np.ndarray, np.ndarray]] | None = None,
    max_steps: list[int | None] | None = None,
    keeps: list[np.ndarray | None] | None = None,
) -> list[ClientUpdate]:
    """Train a block of clients from `global_params` at once; one `ClientUpdate` per client.

    Args and results are `train_client`'s, one per client and in the same order: `datas`
    already poisoned for malicious clients, `generators[i]` client i's TRAIN stream,
    `controls[i]` its SCAFFOLD (c, c_i), `max_steps[i]` its cap on steps (partial work;
    None: all), `keeps[i]` its (d,) step mask (None: none). Each update's `seconds` is the block's wall time
    divided by its size. `model` is used for its structure and left at `global_params`.
    """
    start = time.perf_counter()
    plan = plan or ClientPlan(proximal_mu=cfg.proximal_mu)
    ok, reason = can_vectorize(model, plan)
    if not ok:
        raise ValueError(f"train_block cannot vectorise this model: {reason}; use train_client")
    if not len(client_ids) == len(datas) == len(generators):
        raise ValueError(
            f"one data set and one generator per client: got {len(client_ids)} ids, "
            f"{len(datas)} data sets, {len(generators)} generators"
        )
    if not client_ids:
        return []
    unflatten(model, global_params)
    extras = [{} for _ in client_ids]
    if plan.initial_loss:  # one forward pass each, as in the loop
        for e, d in zip(extras, datas, strict=True):
            e["initial_loss"] = evaluate(model, d.x_train, d.y_train, 4096, device)[1]
    block = Block.build(model, datas, device)
    rows = keep_rows(keeps or [None] * len(client_ids), len(global_params))
    masks = block.stacked(rows) if rows is not None else None
    if plan.dp_max_grad_norm > 0:  # as the loop: proximal and SCAFFOLD terms do not apply
        check_private_model(model)
        losses, steps, dp = fit_private_block(block, cfg, plan, generators, masks)
    else:
        corrections = None
        if plan.control_variates:
            corrections = block.stacked(np.stack([c - ci for c, ci in controls]))
        losses, steps = _fit(block, cfg, plan, generators, corrections, max_steps, masks)
        dp = [{} for _ in client_ids]
    deltas = block.flat() - global_params
    seconds = (time.perf_counter() - start) / max(len(client_ids), 1)
    updates = []
    for i, cid in enumerate(client_ids):
        extras[i]["num_steps"] = int(steps[i])
        if plan.control_variates:
            extras[i]["control_delta"] = _control_delta(
                model, deltas[i], controls[i], int(steps[i]), cfg.lr
            )
        norm = float(np.linalg.norm(deltas[i].astype(np.float64)))
        metrics = {"train_loss": losses[i], "update_norm": norm, "seconds": seconds, **dp[i]}
        updates.append(ClientUpdate(cid, deltas[i], len(datas[i].y_train), metrics, extras[i]))
    return updates


def _epoch_batches(n: int, cfg, generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) local indices of the loop's minibatches, -1 past a short batch."""
    per_epoch = -(-n // cfg.batch_size)
    out = []
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator)  # as `fit` draws it
        padded = torch.full((per_epoch * cfg.batch_size,), -1, dtype=torch.long)
        padded[:n] = order
        out.append(padded.view(per_epoch, cfg.batch_size))
    return torch.cat(out)


def _fit(block: Block, cfg, plan: ClientPlan, generators, corrections, max_steps=None, masks=None):
    """Minibatch SGD / Adam for every client of the block, as `fit` does for one, each
    client stopping after its `max_steps` (None: all its steps), its direction masked by
    its row of `masks` (stacked like the parameters; None: no mask).

    Returns (mean minibatch loss per client, optimizer steps per client (B,)).
    """
    sizes = [int(n) for n in block.sizes]
    batches = [_epoch_batches(n, cfg, g) for n, g in zip(sizes, generators, strict=True)]
    caps = max_steps if max_steps is not None else [None] * len(batches)
    batches = [b if cap is None else b[:cap] for b, cap in zip(batches, caps, strict=True)]
    # Examples each client saw: a full round sees n x epochs, a partial one fewer.
    seen = [int((b >= 0).sum()) for b in batches]
    steps = np.array([len(b) for b in batches], dtype=np.int64)
    order, active = schedule(steps)
    rows, weight, count = pad([batches[i] for i in order], block.offsets[order], block.device)
    block.reorder(order)
    index = torch.as_tensor(order, device=block.device)
    if corrections is not None:
        corrections = [c[index] for c in corrections]
    if masks is not None:
        masks = [m[index] for m in masks]

    # Linear stacks: gradients by hand, autograd's bits (`stacked_step`). Other models: vmap
    # for the forward pass only; autograd of the summed client losses gives each row its own
    # client's gradient, with less torch.func machinery per step.
    step = stacked_step(block.model, block.device) or autograd_step(
        batched_forward(block.model) or vmap(block.logits)
    )

    optimizer = StackedOptimizer.for_client_config(cfg, block.params)
    total = torch.zeros(len(steps), device=block.device)
    block.model.train()
    for t, k in enumerate(active):
        params = [p[:k] for p in block.params]
        sel = rows[:k, t]
        grads, loss = step(params, *block.batch(sel), weight[:k, t], count[:k, t])
        if plan.proximal_mu > 0:  # FedProx: + mu (w - w_global), added before weight decay
            grads = [
                torch.add(g, p - a, alpha=plan.proximal_mu)
                for g, p, a in zip(grads, params, block.anchor, strict=True)
            ]
        if corrections is not None:  # SCAFFOLD: + (c - c_i)
            grads = [g + c[:k] for g, c in zip(grads, corrections, strict=True)]
        optimizer.step(block.params, grads, t, k, None if masks is None else [m[:k] for m in masks])
        total[:k] += loss * count[:k, t]
    back = np.argsort(order)
    block.reorder(back)
    totals = total.cpu()[torch.as_tensor(back)].tolist()
    return [s / max(n, 1) for s, n in zip(totals, seen, strict=True)], steps


def _trial(model: nn.Module, plan: ClientPlan, input_shape: tuple[int, ...]) -> None:
    """One vectorised step of two clients with two examples of zeros each; `model` is left
    as it was."""
    device = next(model.parameters()).device
    zeros = np.zeros((2, *input_shape), np.float32)
    labels = np.zeros(2, np.int64)
    data = ClientData(zeros, labels, zeros[:0], labels[:0])
    saved = [t.detach().clone() for t in federated_tensors(model)]
    cfg = SimpleNamespace(
        epochs=1, batch_size=2, lr=0.0, optimizer="sgd", momentum=0.0, weight_decay=0.0
    )
    dp = 1.0 if plan.dp_max_grad_norm > 0 else 0.0
    flat = torch.cat([t.reshape(-1) for t in saved]).float().cpu().numpy()
    gens = [torch.Generator().manual_seed(0) for _ in range(2)]
    try:
        train_block(
            model,
            flat,
            [0, 1],
            [data, data],
            cfg,
            gens,
            device,
            ClientPlan(0.0, dp_max_grad_norm=dp),
        )
    finally:
        with torch.no_grad():
            for t, s in zip(federated_tensors(model), saved, strict=True):
                t.copy_(s)
