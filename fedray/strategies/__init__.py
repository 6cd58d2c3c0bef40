"""Server strategies by name.

A strategy is pure: `fn(params (d,), batch: UpdateBatch, state: dict, cfg, ctx:
ServerContext) -> (new params (d,), new state, metrics)`. It calls `ctx.aggregate(rows,
weights)` wherever its algorithm takes a mean of client vectors; that is where the
`defense` section's robust rule goes in. State values must be numpy arrays (they are
checkpointed). `client(cfg) -> dict` says what local training must do for it (a
`fedray.client.plan.ClientPlan` field per key). A user strategy is `strategy.name:
module:attr` with the same signature; its sibling keys arrive as a dict.
"""

from collections.abc import Callable
from dataclasses import dataclass

from fedray.registry import Entry
from fedray.strategies.fedavg import (
    FedAvgMParams,
    FedAvgParams,
    FedProxParams,
    fedavg,
    fedavgm,
    fedprox_client,
)
from fedray.strategies.fednova import FedNovaParams, fednova
from fedray.strategies.fedopt import FedOptParams, fedadagrad, fedadam, fedyogi
from fedray.strategies.qffl import QFFLParams, qffl, qffl_client
from fedray.strategies.scaffold import ScaffoldParams, scaffold, scaffold_client


def _no_client_needs(cfg) -> dict:
    return {}


@dataclass(frozen=True)
class StrategyEntry(Entry):
    client: Callable[..., dict] = _no_client_needs
    # What it needs from a cohort, for secure aggregation, which yields only weighted sums:
    # None when the weighted mean of the deltas is all its server step reads, else why not.
    needs_rows: str | None = None


STRATEGIES: dict[str, Entry] = {
    "fedavg": StrategyEntry(fedavg, FedAvgParams),
    "fedavgm": StrategyEntry(fedavgm, FedAvgMParams),
    "fedprox": StrategyEntry(fedavg, FedProxParams, client=fedprox_client),
    "fedadagrad": StrategyEntry(fedadagrad, FedOptParams),
    "fedadam": StrategyEntry(fedadam, FedOptParams),
    "fedyogi": StrategyEntry(fedyogi, FedOptParams),
    "fednova": StrategyEntry(
        fednova, FedNovaParams, needs_rows="normalises each update by its own step count"
    ),
    "qffl": StrategyEntry(
        qffl, QFFLParams, client=qffl_client, needs_rows="weights each update by its own loss"
    ),
    "scaffold": StrategyEntry(
        scaffold,
        ScaffoldParams,
        client=scaffold_client,
        needs_rows="stores each client's control-variate delta",
    ),
}

__all__ = ["STRATEGIES", "StrategyEntry"]
