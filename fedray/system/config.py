"""The `system:` section: devices, availability, dropout, deadlines and FedBuff.

Defaults live here; `fedray.scenario.schema.System` is this dataclass. `mode: none` keeps
rounds as they were before the system model existed (no clock, every sampled client trains).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Speed:
    """Compute speed in samples per second, lognormal: `median * exp(sigma * N(0, 1))`."""

    median: float = field(default=100.0, metadata={"gt": 0})
    sigma: float = field(default=0.0, metadata={"min": 0})


@dataclass(frozen=True)
class Upload:
    """Upload bandwidth in bytes per second, lognormal like `Speed`."""

    median: float = field(default=1e6, metadata={"gt": 0})
    sigma: float = field(default=0.0, metadata={"min": 0})


@dataclass(frozen=True)
class Download:
    """Download bandwidth in bytes per second, lognormal like `Speed`."""

    median: float = field(default=4e6, metadata={"gt": 0})
    sigma: float = field(default=0.0, metadata={"min": 0})


@dataclass(frozen=True)
class Tier:
    """A device class: its share of the population, speeds, and dropout probabilities
    (each None: the `dropout` section's)."""

    share: float = field(default=1.0, metadata={"gt": 0})
    speed: float = field(default=100.0, metadata={"gt": 0})  # samples per second
    upload: float = field(default=1e6, metadata={"gt": 0})  # bytes per second
    download: float = field(default=4e6, metadata={"gt": 0})  # bytes per second
    drop_before: float | None = field(default=None, metadata={"min": 0, "max": 1})
    drop_during: float | None = field(default=None, metadata={"min": 0, "max": 1})
    drop_after: float | None = field(default=None, metadata={"min": 0, "max": 1})


@dataclass(frozen=True)
class Devices:
    """Where a client's compute speed and bandwidths come from.

    lognormal: drawn per client id from `speed`, `upload`, `download`. tiers: each client
    falls in one tier with probability proportional to its share. trace: a CSV or Parquet
    table in FedScale's device format (client_id, computation in ms per sample,
    communication in kbit/s; optional dropout_before/during/after columns), client c taking
    row c mod rows.
    """

    source: Literal["lognormal", "tiers", "trace"] = "lognormal"
    speed: Speed = field(default_factory=Speed)
    upload: Upload = field(default_factory=Upload)
    download: Download = field(default_factory=Download)
    tiers: tuple[Tier, ...] = ()
    trace: str | None = None
    # FedScale multiplies compute by 3 (forward + backward + update per sample); 1 here.
    compute_factor: float = field(default=1.0, metadata={"gt": 0})


@dataclass(frozen=True)
class Availability:
    """Whether a client can be reached when the server asks it at virtual time t.

    always; bernoulli: online with `probability`, drawn per round and client; diurnal: on
    for `on_fraction` of every `period` seconds, from a phase drawn per client; trace: the
    client's active intervals in a FedScale-style table (client_id, active, inactive,
    finish_time: seconds; one row per interval, or list columns), repeating every
    finish_time. Client c takes the trace's client c mod (clients in the trace).
    """

    type: Literal["always", "bernoulli", "diurnal", "trace"] = "always"
    probability: float = field(default=1.0, metadata={"min": 0, "max": 1})
    period: float = field(default=86400.0, metadata={"gt": 0})
    on_fraction: float = field(default=0.5, metadata={"gt": 0, "max": 1})
    trace: str | None = None


@dataclass(frozen=True)
class Dropout:
    """Probabilities that a client that started the round drops before training, while
    training (after a uniform share of its steps), or after uploading (lost on the way)."""

    before: float = field(default=0.0, metadata={"min": 0, "max": 1})
    during: float = field(default=0.0, metadata={"min": 0, "max": 1})
    after: float = field(default=0.0, metadata={"min": 0, "max": 1})
    # What a client that drops mid-training sends: nothing, or the steps it did (FedProx).
    partial: Literal["nothing", "send"] = "nothing"


@dataclass(frozen=True)
class FedBuff:
    """Asynchronous FedBuff (Nguyen et al., AISTATS 2022).

    `concurrency` clients train at once; the server steps when `buffer` updates have
    arrived, each scaled by s(staleness): constant 1; polynomial (1 + tau)^-exponent;
    hinge 1 for tau <= hinge_b, else 1 / (hinge_a (tau - hinge_b) + 1). The server
    learning rate is the strategy's `server_lr`. `scenario.rounds` counts server steps.
    """

    concurrency: int = field(default=10, metadata={"min": 1})
    buffer: int = field(default=10, metadata={"min": 1})
    staleness: Literal["constant", "polynomial", "hinge"] = "polynomial"
    exponent: float = field(default=0.5, metadata={"min": 0})
    hinge_a: float = field(default=10.0, metadata={"min": 0})
    hinge_b: float = field(default=4.0, metadata={"min": 0})


@dataclass(frozen=True)
class System:
    """System heterogeneity on a virtual clock (see fedray/system/)."""

    mode: Literal["none", "sync", "async"] = "none"
    devices: Devices = field(default_factory=Devices)
    availability: Availability = field(default_factory=Availability)
    dropout: Dropout = field(default_factory=Dropout)
    # Sync rounds: seconds after the round starts by which an update must be in; none: no limit.
    deadline: float | None = field(default=None, metadata={"gt": 0})
    # Sample ceil((1 + over_commit) * clients_per_round); the first clients_per_round count.
    over_commit: float = field(default=0.0, metadata={"min": 0})
    # At the deadline a straggler sends the steps it has done (FedProx's partial work).
    accept_partial: bool = False
    min_steps: int = field(default=1, metadata={"min": 1})  # fewer done steps: not sent
    # When nobody reports (sync, no deadline) or nobody is in flight (async), the clock moves
    # on this many seconds before the server asks again.
    retry_seconds: float = field(default=60.0, metadata={"gt": 0})
    # Participation-aware privacy accounting (see README): poisson, or the most-participating
    # client's real count.
    accountant: Literal["poisson", "max_participation"] = "poisson"
    fedbuff: FedBuff = field(default_factory=FedBuff)
