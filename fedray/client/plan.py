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


def client_plan(scenario) -> ClientPlan:
    """Merge the `client` section with what the chosen strategy asks of clients."""
    from fedray.registry import lookup
    from fedray.strategies import STRATEGIES

    entry = lookup(STRATEGIES, scenario.strategy.name)
    # A registered strategy's entry carries the hook; a plugin may set `fn.client = hook`.
    hook = getattr(entry, "client", None) or getattr(entry.fn, "client", None)
    hints = hook(scenario.strategy.params) if hook is not None else {}
    return ClientPlan(**{"proximal_mu": scenario.client.proximal_mu, **hints})
