"""What local training must do beyond plain SGD, decided by the scenario, not by strategy names.

The worker reads a `ClientPlan`; a strategy declares what it needs from clients through its
registry entry's `client` hook (FedProx: a proximal term; SCAFFOLD: control variates; q-FFL:
the loss of the global model before training).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientPlan:
    proximal_mu: float = 0.0  # FedProx: mu/2 ||w - w_global||^2
    control_variates: bool = False  # SCAFFOLD: correct each step by (c - c_i)
    initial_loss: bool = False  # q-FFL: report F_k(w_global) before training
    # Local DP-SGD (privacy.mode: local): per-example clipping norm and noise multiplier.
    dp_max_grad_norm: float = 0.0  # 0: plain SGD
    dp_noise_multiplier: float = 0.0


def client_plan(scenario, sizes=None) -> ClientPlan:
    """Merge the `client` section with what the chosen strategy asks of clients and what
    local DP-SGD needs (`sizes(ids)`: training examples per client, to calibrate z)."""
    hints = strategy_hints(scenario)
    if scenario.privacy.mode == "local":
        hints["dp_max_grad_norm"] = scenario.privacy.clip
        hints["dp_noise_multiplier"] = local_noise_multiplier(scenario, sizes)
    return ClientPlan(**{"proximal_mu": scenario.client.proximal_mu, **hints})


def strategy_hints(scenario) -> dict:
    """What the chosen strategy asks of clients (e.g. {"control_variates": True})."""
    from fedray.registry import lookup
    from fedray.strategies import STRATEGIES

    entry = lookup(STRATEGIES, scenario.strategy.name)
    # A registered strategy's entry carries the hook; a plugin may set `fn.client = hook`.
    hook = getattr(entry, "client", None) or getattr(entry.fn, "client", None)
    return dict(hook(scenario.strategy.params)) if hook is not None else {}


def local_noise_multiplier(scenario, sizes) -> float:
    """z for local DP-SGD: given, or calibrated so that the client likely to spend the most
    stays within `target_epsilon` over the planned rounds.

    That client holds the fewest training examples (over up to 1,000 clients drawn at
    random; its sample rate q = batch / size is the largest) and is sampled in the 99th
    percentile of Binomial(rounds, clients_per_round / population) rounds, each `epochs`
    epochs of round(1/q) steps. The run stops at the budget by the largest client epsilon,
    so calibrating for a typical client would end it early.
    """
    import math

    import numpy as np
    from scipy.stats import binom

    from fedray import seeding
    from fedray.privacy.local import planned_steps
    from fedray.server.privacy import calibrated

    p, fed = scenario.privacy, scenario.federation
    if p.noise_multiplier is not None:
        return p.noise_multiplier
    rng = seeding.rng(scenario.seed, purpose=seeding.PRIVACY)
    ids = np.sort(rng.choice(fed.population, size=min(fed.population, 1000), replace=False))
    counts = np.asarray(sizes(ids))
    smallest = int(counts[counts > 0].min()) if (counts > 0).any() else 1
    q, steps = planned_steps(scenario.client, smallest)
    participations = binom.ppf(0.99, scenario.rounds, fed.clients_per_round / fed.population)
    steps *= max(1, math.ceil(participations))
    # Cached: the driver asks several times, and every worker once, for the same z.
    return calibrated(p.target_epsilon, p.delta, q, steps, p.accountant)
