"""torch.optim's SGD and Adam, functional and over stacked parameters (one row per client).

The vectorised path (`fedray.client.vectorized`) trains a block of clients at once, so each
tensor here is (k, *shape): the first k clients of the block that still take a step. The
arithmetic is torch's single-tensor implementation op for op (what `torch.optim` runs on
CPU), applied in place to the rows, so a client's parameters follow the loop's to the bit
whenever the gradients do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# torch.optim.Adam's defaults, which `make_optimizer` keeps.
BETAS = (0.9, 0.999)
EPS = 1e-8


@dataclass
class StackedOptimizer:
    """SGD (momentum, weight decay; torch.optim.SGD) or Adam (torch.optim.Adam) state for B
    clients that all start at step 0, as `fedray.client.train.make_optimizer` builds them."""

    kind: str
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    state: list[list[torch.Tensor]] = field(default_factory=list)

    @staticmethod
    def for_client_config(cfg, params: list[torch.Tensor]) -> StackedOptimizer:
        opt = StackedOptimizer(cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)
        if opt.kind == "adam":  # exp_avg, exp_avg_sq
            opt.state = [[torch.zeros_like(p) for p in params] for _ in range(2)]
        elif opt.momentum != 0:  # the buffer, set from the first gradient
            opt.state = [[torch.zeros_like(p) for p in params]]
        return opt

    def step(
        self, params: list[torch.Tensor], grads: list[torch.Tensor], t: int, k: int, keep=None
    ):
        """Update rows [:k] of `params` in place with `grads` (k, *shape), at step t (from 0).

        Every client of a block starts together and stops for good after its last step, so
        the k rows still training all take their (t + 1)-th step. `keep`: 0/1 (k, *shape)
        tensors masking each row's direction after weight decay (`fedray.client.step_mask`).
        """
        for j, (p, g) in enumerate(zip(params, grads, strict=True)):
            rows = p[:k]
            if self.weight_decay != 0:
                g = g.add(rows, alpha=self.weight_decay)
            if keep is not None:
                g = g * keep[j]
            if self.kind == "adam":
                self._adam(rows, g, j, t, k)
            else:
                self._sgd(rows, g, j, t, k)

    def _sgd(self, rows, g, j, t, k):
        if self.momentum != 0:
            buf = self.state[0][j][:k]
            if t == 0:
                buf.copy_(g)
            else:
                buf.mul_(self.momentum).add_(g, alpha=1)  # dampening 0
            g = buf
        rows.add_(g, alpha=-self.lr)

    def _adam(self, rows, g, j, t, k):
        beta1, beta2 = BETAS
        exp_avg, exp_avg_sq = self.state[0][j][:k], self.state[1][j][:k]
        exp_avg.lerp_(g, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        step = float(t + 1)  # torch keeps the count in a float tensor and reads it back
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = self.lr / bias_correction1
        denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(EPS)
        rows.addcdiv_(exp_avg, denom, value=-step_size)
