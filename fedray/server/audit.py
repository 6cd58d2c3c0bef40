"""Privacy audits run at evaluation rounds: attacks as measurements of what privacy buys.

- Membership inference (Yeom et al. 2018): the AUC of "member iff the global model's loss
  is low" between clients' training examples and the central test split.
- Gradient inversion (DLG, Zhu et al. 2019) against one client's shared gradient, as the
  server would see it: raw (no privacy, or central DP, where the server holds individual
  updates), per-example clipped and noised (local DP-SGD's step), or not at all under
  secure aggregation, where no individual update reaches the server.
"""

from __future__ import annotations

import numpy as np
import torch

from fedray import seeding
from fedray.privacy.inversion import gradient, invert, reconstruction_error
from fedray.privacy.membership import loss_threshold_auc, per_example_loss


def audit_sample(federation, scenario, count: int, round_: int):
    """Up to `count` members and `count` non-members for membership inference.

    Members are training examples of clients sampled in rounds 1..`round_` (they trained
    the model); non-members are the same clients' local test examples, so both come from
    the same clients' distributions and the attack measures membership, not a shift
    between the clients and the central test split. Without local test examples
    (`data.local_test_fraction: 0`) non-members are None and the caller falls back to it.
    """
    fed = scenario.federation
    train_x, train_y, test_x, test_y = [], [], [], []
    seen: set[int] = set()
    for r in range(1, max(round_, 1) + 1):
        cohort = seeding.sample_clients(
            scenario.seed, r, fed.population, fed.clients_per_round, seeding.SAMPLE
        )
        for cid in (int(c) for c in cohort if int(c) not in seen):
            seen.add(cid)
            data = federation.client(cid)
            train_x.append(data.x_train), train_y.append(data.y_train)
            test_x.append(data.x_test), test_y.append(data.y_test)
        if sum(map(len, train_y)) >= count and sum(map(len, test_y)) >= count:
            break
    members = (np.concatenate(train_x)[:count], np.concatenate(train_y)[:count])
    have = sum(map(len, test_y))
    others = (np.concatenate(test_x)[:count], np.concatenate(test_y)[:count]) if have else None
    return members, others


def membership(model, members, nonmembers, count: int, batch_size: int) -> dict:
    """AUC of the loss-threshold attack on equal numbers of members and non-members."""
    n = min(count, len(members[1]), len(nonmembers[1]))
    if n == 0:
        return {}
    inside = per_example_loss(model, members[0][:n], members[1][:n], batch_size)
    outside = per_example_loss(model, nonmembers[0][:n], nonmembers[1][:n], batch_size)
    return {"audit_membership_auc": loss_threshold_auc(inside, outside)}


def inversion(model, scenario, data, round_: int, local_z: float = 0.0) -> dict:
    """DLG's reconstruction error of a client's batch from the gradient the server would see.

    Returns the error next to that of DLG's random starting point (its baseline): a
    ratio near 0 means the batch was recovered, near 1 that it was not.
    """
    a = scenario.privacy.audit
    if scenario.secure_aggregation.protocol != "none":
        return {"audit_inversion_available": 0.0}  # the server holds only sums
    x = torch.as_tensor(data[0][: a.inversion_batch])
    y = torch.as_tensor(data[1][: a.inversion_batch])
    if len(y) == 0:
        return {}
    model.eval()
    grads = _shared_gradient(model, scenario, x, y, round_, local_z)
    seed = int(seeding.rng(scenario.seed, round_, 0, seeding.PRIVACY).integers(2**31))
    x_hat, _ = invert(
        model,
        grads,
        batch_size=len(y),
        input_shape=tuple(x.shape[1:]),
        num_classes=_classes(model, x),
        steps=a.inversion_steps,
        seed=seed,
    )
    start = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    error = reconstruction_error(x, x_hat)
    baseline = reconstruction_error(x, start)
    return {
        "audit_inversion_available": 1.0,
        "audit_inversion_mse": error,
        "audit_inversion_ratio": error / baseline if baseline > 0 else float("nan"),
    }


def _shared_gradient(model, scenario, x, y, round_: int, z: float) -> list[torch.Tensor]:
    """The batch's gradient, privatised as local DP-SGD would share it (one step)."""
    p = scenario.privacy
    if p.mode != "local":
        return gradient(model, x, y)
    per_example = [gradient(model, x[i : i + 1], y[i : i + 1]) for i in range(len(y))]
    noise = torch.Generator().manual_seed(round_)
    total = [torch.zeros_like(g) for g in per_example[0]]
    for grads in per_example:
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        scale = min(1.0, p.clip / max(float(norm), 1e-12))
        total = [t + g * scale for t, g in zip(total, grads)]
    return [(t + z * p.clip * torch.randn(t.shape, generator=noise)) / len(y) for t in total]


@torch.no_grad()
def _classes(model, x) -> int:
    return int(model(x[:1]).shape[1])
