"""The scenario: every section as a frozen dataclass; defaults live here.

Sections chosen by a name (`data.dataset`, `data.partition.type`, `model.type`,
`strategy.name`, ...) carry `__tag__ = (key, registry)`: their other keys are the chosen
entry's parameters, validated against its own dataclass and stored in `params`.
Sections whose registries hold only `none` today (defense, attack, secure_aggregation,
privacy, compression) are the slots later capabilities fill without reshaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from fedray.attacks import DATA_ATTACKS, MODEL_ATTACKS
from fedray.compression.config import Compression
from fedray.data import DATASETS
from fedray.data.partition import PARTITIONS
from fedray.defenses import DEFENSES, PRE_AGGREGATORS
from fedray.models import MODELS
from fedray.registry import Entry
from fedray.strategies import STRATEGIES
from fedray.system.config import System


class ClosedRegistry(dict):
    """A registry that takes no `module:attr` plugins: its capability is not built yet."""

    closed = True


OFF: dict[str, Entry] = ClosedRegistry(none=Entry(lambda *a, **k: None))


@dataclass(frozen=True)
class Federation:
    population: int = field(default=100, metadata={"min": 1})
    clients_per_round: int = field(default=10, metadata={"min": 1})


@dataclass(frozen=True)
class Partition:
    __tag__: ClassVar = ("type", PARTITIONS)
    type: str = "iid"
    params: Any = None


@dataclass(frozen=True)
class Data:
    __tag__: ClassVar = ("dataset", DATASETS)
    dataset: str = "digits"
    partition: Partition = field(default_factory=Partition)
    local_test_fraction: float = field(default=0.2, metadata={"min": 0, "lt": 1})
    params: Any = None


@dataclass(frozen=True)
class Model:
    __tag__: ClassVar = ("type", MODELS)
    type: str = "mlp"
    params: Any = None


@dataclass(frozen=True)
class Client:
    epochs: int = field(default=1, metadata={"min": 1})
    batch_size: int = field(default=32, metadata={"min": 1})
    lr: float = field(default=0.05, metadata={"gt": 0})
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = field(default=0.0, metadata={"min": 0, "lt": 1})
    weight_decay: float = field(default=0.0, metadata={"min": 0})
    proximal_mu: float = field(default=0.0, metadata={"min": 0})  # FedProx's mu/2 ||w - w_t||^2
    # Vectorised cohorts: a worker trains blocks of `block_size` clients at once (torch.func).
    # auto: where the model allows, else the loop (logged); on: a model that cannot is an error.
    vectorize: Literal["auto", "on", "off"] = "auto"
    # Cut from the sorted cohort; auto: at least 16 blocks of at most 64 (vectorized.block_size_for).
    block_size: int | Literal["auto"] = field(default="auto", metadata={"min": 1})


@dataclass(frozen=True)
class Strategy:
    __tag__: ClassVar = ("name", STRATEGIES)
    name: str = "fedavg"
    params: Any = None


@dataclass(frozen=True)
class PreStage:
    """One pre-aggregator in front of the rule (fedray.defenses.pre): nnm, arc, clip, bucketing."""

    __tag__: ClassVar = ("type", PRE_AGGREGATORS)
    type: str  # required: a stage names itself
    params: Any = None


@dataclass(frozen=True)
class Defense:
    """The aggregation rule strategies use where they would take a mean (none: the mean)."""

    __tag__: ClassVar = ("type", DEFENSES)
    type: str = "none"
    pre: tuple[PreStage, ...] = ()  # pre-aggregators, in order, before the rule
    bucketing: int = field(default=0, metadata={"min": 0})  # bucket size s; 0 or 1: off
    root_size: int = field(default=100, metadata={"min": 1})  # FLTrust: server's clean examples
    params: Any = None


ATTACKS: dict[str, Entry] = {**MODEL_ATTACKS, **DATA_ATTACKS}


@dataclass(frozen=True)
class Attack:
    """The adversary: a fixed seeded set of clients, when it acts, and what it does."""

    __tag__: ClassVar = ("type", ATTACKS)
    type: str = "none"
    fraction: float = field(default=0.0, metadata={"min": 0, "max": 1})  # of the population
    count: int | None = field(default=None, metadata={"min": 0})  # instead of fraction
    start_round: int = field(default=1, metadata={"min": 1})
    every: int = field(default=1, metadata={"min": 1})
    # The last round it acts in; None: to the end. Backdoors' durability shows after it.
    stop_round: int | None = field(default=None, metadata={"min": 1})
    # Model replacement (Bagdasaryan et al. 2020): malicious updates times boost, after the attack.
    boost: float = field(default=1.0, metadata={"gt": 0})
    # What a model attack's statistics come from: every honest update (omniscient), the
    # malicious clients' own (colluding); auto: omniscient in plaintext, colluding under
    # secure aggregation, where omniscient needs allow_omniscient (an upper bound).
    knowledge: Literal["auto", "omniscient", "colluding"] = "auto"
    allow_omniscient: bool = False
    params: Any = None


@dataclass(frozen=True)
class StageDropout:
    """Probability that a client still in the protocol goes silent at each SecAgg stage."""

    advertise: float = field(default=0.0, metadata={"min": 0, "max": 1})  # before its keys
    share: float = field(default=0.0, metadata={"min": 0, "max": 1})  # before its key shares
    masked_input: float = field(default=0.0, metadata={"min": 0, "max": 1})  # before its input
    unmask: float = field(default=0.0, metadata={"min": 0, "max": 1})  # before its unmask shares


@dataclass(frozen=True)
class SecureAggregation:
    """SecAgg (Bonawitz et al. 2017) or SecAgg+ (Bell et al. 2020): the server learns sums only.

    Each client clips its update to [-clip, clip] per coordinate, scales it by its weight,
    encodes it with `bits` bits (stochastic rounding) and masks it modulo 2^modulus_bits.
    With `buckets: B` the cohort is split into B random groups aggregated separately, and
    the defense runs over the B bucket means.
    """

    protocol: Literal["none", "secagg", "secagg_plus"] = "none"
    threshold: int | None = field(default=None, metadata={"min": 2})  # t; none: from the cohort
    neighbors: int | None = field(default=None, metadata={"min": 2})  # SecAgg+'s k; none: chosen
    assumed_corrupt: float = field(default=1 / 3, metadata={"min": 0, "lt": 1})  # to choose k, t
    assumed_dropout: float = field(default=1 / 3, metadata={"min": 0, "lt": 1})  # to choose k, t
    clip: float = field(default=1.0, metadata={"gt": 0})
    bits: int = field(default=16, metadata={"min": 2, "max": 53})  # float64 holds 53 exactly
    modulus_bits: int = field(default=32, metadata={"min": 8, "max": 64})
    weighting: Literal["examples", "uniform"] = "examples"
    max_weight: int = field(default=100, metadata={"min": 1})  # weight = min(n_k, max_weight)
    buckets: int = field(default=0, metadata={"min": 0})  # 0: one secure sum of the cohort
    dropout: StageDropout = field(default_factory=StageDropout)
    # run a user-set k, t below the security target (2^-40 against assumed_corrupt) anyway
    allow_insecure: bool = False
    # semi_honest: Bonawitz et al.'s honest-but-curious server; malicious: signed keys and
    # survivor sets (a simulated PKI), t > (k + 1) / 2
    threat_model: Literal["semi_honest", "malicious"] = "semi_honest"
    # a simulated dishonest server that really deviates (see fedray/secagg/dishonest.py)
    server_attack: Literal["none", "split_views", "drop_honest", "replay_keys", "mitm"] = "none"


@dataclass(frozen=True)
class Reserved:
    """A section whose capability is not built yet: it takes `type: none` only."""

    __tag__: ClassVar = ("type", OFF)
    type: str = "none"
    params: Any = None


@dataclass(frozen=True)
class AdaptiveClipping:
    """Adaptive clipping (Andrew et al. 2021): move S toward the `target_quantile` of norms."""

    enabled: bool = False
    target_quantile: float = field(default=0.5, metadata={"gt": 0, "lt": 1})
    lr: float = field(default=0.2, metadata={"gt": 0})  # geometric step
    # sigma_b; none: n/20; 0 only to test the mechanics (with noise_multiplier: 0)
    count_noise: float | None = field(default=None, metadata={"min": 0})


@dataclass(frozen=True)
class DiscreteNoise:
    """Integer-domain distributed DP (privacy.mechanism discrete_gaussian or skellam)."""

    granularity: float | None = field(default=None, metadata={"gt": 0})  # gamma; none: finest safe
    rotation: bool = True  # random Walsh-Hadamard rotation before rounding (flattens the vector)
    beta: float = field(default=0.6065306597126334, metadata={"gt": 0, "lt": 1})  # rounding
    # refuse a configuration whose modular sum may wrap around with a larger probability
    max_wrap_probability: float = field(default=1e-6, metadata={"gt": 0, "lt": 1})


@dataclass(frozen=True)
class Audit:
    """Attacks run as measurements of what privacy buys, at evaluation rounds."""

    membership: bool = False  # loss-threshold membership inference (Yeom et al. 2018): AUC
    membership_examples: int = field(default=500, metadata={"min": 10})  # members and non-members
    inversion: bool = False  # DLG gradient inversion (Zhu et al. 2019) of one client's update
    inversion_batch: int = field(default=1, metadata={"min": 1, "max": 8})
    inversion_steps: int = field(default=100, metadata={"min": 1})


@dataclass(frozen=True)
class Privacy:
    """Differential privacy: user-level `central` (DP-FedAvg, McMahan et al. 2018),
    `distributed` (each client adds its share of the noise under secure aggregation), or
    sample-level `local` DP-SGD inside each client's training (Opacus)."""

    mode: Literal["none", "central", "distributed", "local"] = "none"
    noise_multiplier: float | None = field(default=None, metadata={"min": 0})  # z
    target_epsilon: float | None = field(default=None, metadata={"gt": 0})  # instead of z
    delta: float = field(default=1e-5, metadata={"gt": 0, "lt": 1})
    accountant: Literal["rdp", "prv"] = "rdp"
    clip: float = field(default=1.0, metadata={"gt": 0})  # S (user level) or max grad norm
    adaptive_clipping: AdaptiveClipping = field(default_factory=AdaptiveClipping)
    budget: float | None = field(default=None, metadata={"gt": 0})  # epsilon; none: target
    on_budget: Literal["stop", "warn"] = "stop"
    audit: Audit = field(default_factory=Audit)
    # scenario: noise drawn from the scenario's seed (reproducible, but whoever knows the seed,
    # the server included, can subtract it); os: from os.urandom (unpredictable, not repeatable)
    noise_seed: Literal["scenario", "os"] = "scenario"
    # distributed mode's noise: continuous Gaussian (quantized after), or integer-domain noise
    mechanism: Literal["gaussian", "discrete_gaussian", "skellam"] = "gaussian"
    discrete: DiscreteNoise = field(default_factory=DiscreteNoise)


@dataclass(frozen=True)
class Resources:
    # Where the actors live: `ray` (worker processes, on this machine or a cluster) or
    # `local` (one worker and the Aggregator in the driver's process: no Ray start-up, for
    # small runs and debugging; the same bits as a cross-device Ray pool).
    backend: Literal["ray", "local"] = "ray"
    num_workers: int | Literal["auto"] = "auto"
    num_cpus: float = field(default=1.0, metadata={"gt": 0})
    num_gpus: float = field(default=0.0, metadata={"min": 0})
    # Re-sends of a lost worker's clients to another worker; also Ray restarts per worker.
    max_retries: int = field(default=2, metadata={"min": 0})
    # Seconds to wait for the actors to build their model and data before giving up.
    startup_timeout: float = field(default=600.0, metadata={"gt": 0})
    # Seconds to wait for any one call on an actor (a worker's share, an aggregator step).
    # A worker that does not answer in time is treated as lost: killed, restarted, and its
    # clients re-sent; an aggregator that does not answer stops the run (resume it).
    call_timeout: float = field(default=600.0, metadata={"gt": 0})


@dataclass(frozen=True)
class Evaluation:
    every: int = field(default=1, metadata={"min": 1})  # central test split every k rounds
    federated_every: int = field(default=5, metadata={"min": 1})
    federated_clients: int = field(default=20, metadata={"min": 0})  # 0 turns federated eval off
    centralized_baseline: bool = False
    batch_size: int = field(default=1024, metadata={"min": 1})


@dataclass(frozen=True)
class Output:
    dir: str | None = None  # default: runs/<scenario name>
    checkpoint_every: int = field(default=10, metadata={"min": 0})  # 0: only the final round
    # How many checkpoints to keep, newest first ("all", or at least 1); older ones, with
    # their client-state links, are deleted once a newer one is committed.
    keep_checkpoints: int | Literal["all"] = field(default="all", metadata={"min": 1})
    tensorboard: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str = "scenario"
    seed: int = field(default=0, metadata={"min": 0})
    rounds: int = field(default=10, metadata={"min": 1})
    federation: Federation = field(default_factory=Federation)
    data: Data = field(default_factory=Data)
    model: Model = field(default_factory=Model)
    client: Client = field(default_factory=Client)
    strategy: Strategy = field(default_factory=Strategy)
    defense: Defense = field(default_factory=Defense)
    attack: Attack = field(default_factory=Attack)
    secure_aggregation: SecureAggregation = field(default_factory=SecureAggregation)
    privacy: Privacy = field(default_factory=Privacy)
    system: System = field(default_factory=System)
    compression: Compression = field(default_factory=Compression)
    resources: Resources = field(default_factory=Resources)
    evaluation: Evaluation = field(default_factory=Evaluation)
    output: Output = field(default_factory=Output)
