"""Loss-threshold membership inference: guess "member" when the model's loss is low.

Yeom, Giacomelli, Fredrikson and Jha, "Privacy Risk in Machine Learning: Analyzing the
Connection to Overfitting", CSF 2018. Sweeping the threshold over all values traces the
attack's ROC curve; its area is the chance that a random member has lower loss than a random
non-member, the Mann-Whitney U statistic over m n pairs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def per_example_loss(
    model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, batch_size: int
) -> np.ndarray:
    """Return the (n,) float64 cross-entropy of each example, with `model` in eval mode.

    Args:
        model: maps (b, *shape) float32 to (b, classes) logits.
        x: (n, *shape) float32; y: (n,) int64 labels (numpy or torch, on the model's device).
        batch_size: examples per forward pass.
    """
    model.eval()
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    losses = [
        nn.functional.cross_entropy(
            model(x[start : start + batch_size]), y[start : start + batch_size], reduction="none"
        )
        for start in range(0, len(y), batch_size)
    ]
    return torch.cat(losses).double().cpu().numpy() if losses else np.zeros(0)


def loss_threshold_auc(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> float:
    """Return the ROC AUC of the attack "member iff loss <= threshold" (Yeom et al. 2018).

    AUC = P(member loss < non-member loss) + P(equal) / 2 over all member / non-member pairs,
    from average ranks. 0.5 means the losses reveal nothing; 1.0 that every member has lower
    loss than every non-member.

    Args:
        member_losses: (m,) losses on training examples, m >= 1.
        nonmember_losses: (k,) losses on held-out examples, k >= 1.
    """
    members = np.asarray(member_losses, dtype=np.float64).ravel()
    others = np.asarray(nonmember_losses, dtype=np.float64).ravel()
    if len(members) == 0 or len(others) == 0:
        raise ValueError(
            f"membership AUC needs members and non-members; got {len(members)} and {len(others)}"
        )
    if not (np.isfinite(members).all() and np.isfinite(others).all()):
        raise ValueError("membership AUC got non-finite losses: check the model's outputs")
    from scipy.stats import rankdata  # most of a second to import; only audits need it

    # Rank by -loss, so a member ranks high when its loss is low; ties share their mean rank.
    ranks = rankdata(-np.concatenate([members, others]))
    m, k = len(members), len(others)
    u = ranks[:m].sum() - m * (m + 1) / 2
    return float(u / (m * k))
