"""Sample-level DP-SGD inside one client's local training, by Opacus.

Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar and Zhang, "Deep Learning with Differential
Privacy", CCS 2016: Poisson-sample each batch with rate q, clip every example's gradient to
norm C, add N(0, (z C)^2 I) to their sum and divide by the expected batch size qn.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

if TYPE_CHECKING:
    from opacus import GradSampleModule

from fedray.privacy.accounting import epsilon

# Attributes Opacus leaves on parameters that its own cleanup does not remove.
_LEFTOVER_ATTRS = ("summed_grad", "grad_sample", "_processed")


def check_private_model(model: nn.Module) -> None:
    """Raise ValueError naming every layer that per-example gradients cannot handle.

    BatchNorm mixes the examples of a batch, so one example's gradient depends on its peers
    and clipping no longer bounds its influence; a trainable layer with buffers (running
    statistics) also leaks data outside the noised gradient; Opacus' validator adds layers
    it has no per-example rule for (nn.LSTM). Linear, Conv2d, ReLU, MaxPool and Flatten
    (fedray's logreg, mlp and cnn) are all fine. Puts `model` in training mode.
    """
    # Opacus is imported where it is used: it costs about a second, and most runs never do.
    from opacus.validators import ModuleValidator

    model.train()
    problems = [
        f"layer {name!r} ({type(m).__name__}) "
        + ("mixes the examples of a batch" if isinstance(m, _BatchNorm) else "has buffers")
        for name, m in model.named_modules()
        if isinstance(m, _BatchNorm)
        or (_trainable(m) and any(True for _ in m.buffers(recurse=False)))
    ]
    problems += [
        str(e).split(". ")[0]
        for e in ModuleValidator.validate(model, strict=False)
        if "BatchNorm" not in str(e)
    ]
    if problems:
        raise ValueError(
            f"sample-level DP cannot train this model: {'; '.join(problems)}. Replace "
            "BatchNorm with GroupNorm or LayerNorm (opacus.validators.ModuleValidator.fix "
            "does it), use a model without these layers, or choose another privacy mode"
        )


def _trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters(recurse=False))


def sample_rate(batch_size: int, n: int) -> float:
    """Return Poisson sampling's rate q = batch_size / n, capped at 1; 0 when n = 0."""
    return min(1.0, batch_size / n) if n > 0 else 0.0


def planned_steps(cfg, n: int) -> tuple[float, int]:
    """(q, steps) of one client's round of DP-SGD over n examples: `cfg.epochs` epochs of
    round(1 / q) Poisson-sampled steps; (0, 0) for an empty client."""
    q = sample_rate(cfg.batch_size, n)
    return q, cfg.epochs * round(1 / q) if q > 0 else 0


def fit_private(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg,
    generator: torch.Generator,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    keep: list[torch.Tensor] | None = None,
) -> tuple[float, int, float]:
    """Train `model` in place with DP-SGD for `cfg.epochs` epochs (Abadi et al. 2016).

    Each epoch is round(1 / q) steps; each step keeps every example independently with
    probability q = batch_size / n (Poisson sampling, which the accountants assume), so a
    batch may be empty and still costs a noised step. `cfg.optimizer` (sgd or adam, with
    momentum and weight decay) runs on the privatised gradient. Batch membership and the
    noise (from a generator seeded by one draw of `generator`) make equal generators give
    bitwise-equal parameters. Layers that use torch's global generator (dropout) are the
    caller's to seed, as in `train_client`.

    The caller's module itself is trained; Opacus' hooks and attributes are removed before
    returning, so the same object may be passed again in a later round.

    Args:
        model: a module accepted by `check_private_model`.
        x: (n, ...) float32 inputs; y: (n,) int64 labels, on the model's device.
        cfg: the `client` section: epochs, batch_size, lr, optimizer, momentum, weight_decay.
        generator: CPU torch generator for batch sampling and the noise's seed (the noise
            itself is drawn on the model's device, so CPU and GPU runs differ).
        noise_multiplier: z >= 0; per-step noise std is z * max_grad_norm.
        max_grad_norm: per-example clipping norm C > 0.
        keep: 0/1 tensors shaped like the parameters: each privatised step direction, weight
            decay included, is masked before the optimizer steps (Neurotoxin); None: all.

    Returns:
        (mean per-example loss over sampled examples, optimizer steps, sample rate q).
        An empty client returns (0.0, 0, 0.0) without training.
    """
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    # Imported here: fedray.client.train imports this module to call fit_private.
    from fedray.client.step_mask import dp_hook
    from fedray.client.train import make_optimizer

    _check_arguments(noise_multiplier, max_grad_norm)
    check_private_model(model)
    q, steps = planned_steps(cfg, len(y))
    if steps == 0:
        return 0.0, 0, 0.0
    # Opacus draws the noise on the parameters' device, so its generator must live there.
    device = next(model.parameters()).device
    seed = int(torch.randint(2**62, (1,), generator=generator))
    noise = torch.Generator(device=device).manual_seed(seed)
    wrapped = GradSampleModule(model, loss_reduction="sum")
    try:
        optimizer = DPOptimizer(
            make_optimizer(model, cfg, decay=keep is None),
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            expected_batch_size=min(cfg.batch_size, len(y)),  # q n
            generator=noise,
        )
        if keep is not None:
            optimizer.step_hook = dp_hook(list(model.parameters()), keep, cfg.weight_decay)
        total, seen = _train(wrapped, optimizer, x, y, q, steps, generator)
    finally:
        _detach(wrapped, model)
    return total / max(seen, 1), steps, q


def _train(wrapped, optimizer, x, y, q, steps, generator) -> tuple[float, int]:
    """Run `steps` Poisson-sampled DP steps; return (summed loss, examples seen)."""
    total, seen = torch.zeros((), device=x.device), 0
    with warnings.catch_warnings():
        # Opacus' hooks on the first layer fire with no input gradient, by design.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in range(steps):
            idx = (torch.rand(len(y), generator=generator) < q).nonzero().squeeze(1)
            idx = idx.to(x.device)
            optimizer.zero_grad(set_to_none=True)
            # A summed loss gives per-example gradients as they are, and an empty batch a
            # zero sum; the optimizer divides the noised sum by the expected batch size.
            loss = nn.functional.cross_entropy(wrapped(x[idx]), y[idx], reduction="sum")
            loss.backward()
            optimizer.step()
            total += loss.detach()
            seen += len(idx)
    optimizer.zero_grad(set_to_none=True)
    return float(total), seen


def _detach(wrapped: GradSampleModule, model: nn.Module) -> None:
    """Remove Opacus' hooks and per-parameter attributes so `model` is plain again."""
    wrapped.to_standard_module()
    for p in model.parameters():
        p.grad = None
        for attr in _LEFTOVER_ATTRS:
            if hasattr(p, attr):
                delattr(p, attr)


def client_epsilon(
    steps_total: int,
    *,
    noise_multiplier: float,
    sample_rate: float,
    delta: float,
    accountant: str = "rdp",
) -> float:
    """Return a client's epsilon after `steps_total` DP-SGD steps summed over all its rounds.

    A client's z and q are fixed, so its history is the single entry (z, q, steps_total):
    the budget composes across rounds and must never be reset when a round ends.
    """
    return epsilon(
        [(noise_multiplier, sample_rate, steps_total)], delta=delta, accountant=accountant
    )


def _check_arguments(noise_multiplier: float, max_grad_norm: float) -> None:
    problems = []
    if not noise_multiplier >= 0:
        problems.append(f"noise_multiplier must be >= 0, got {noise_multiplier}")
    if not max_grad_norm > 0:
        problems.append(f"max_grad_norm must be > 0, got {max_grad_norm}")
    if problems:
        raise ValueError("local privacy: " + "; ".join(problems))
