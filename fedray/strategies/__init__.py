"""Server strategies by name.

A strategy is `fn(params (d,), updates (n, d), num_examples (n,), state: dict, cfg) ->
(new_params (d,), new_state, metrics)`, pure, plus its parameter dataclass. A user strategy
is `strategy.name: module:attr` with the same signature; its sibling keys arrive as a dict.
"""

from fedray.registry import Entry
from fedray.strategies.fedavg import FedAvgParams, fedavg

STRATEGIES: dict[str, Entry] = {
    "fedavg": Entry(fedavg, FedAvgParams),
}

__all__ = ["STRATEGIES"]
