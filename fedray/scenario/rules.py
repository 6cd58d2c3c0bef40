"""Cross-field rules: what no single field's type can say, checked once every field parses.

`check` runs them all and adds each problem to `problems`; the loader calls it.
"""

from __future__ import annotations

import math
import os

from fedray.attacks import DATA_ATTACKS
from fedray.compression import checks as compression_checks
from fedray.data import GENERATED
from fedray.scenario import attack_rules, dp_rules, secure_rules
from fedray.scenario.convert import Problems
from fedray.scenario.schema import Scenario
from fedray.system import rules as system_rules


def check(s: Scenario, problems: Problems) -> None:
    """Cross-field rules: what no single field's type can say."""
    fed = s.federation
    if fed.clients_per_round > fed.population:
        problems.add(
            "federation.clients_per_round",
            "more than the population",
            fed.clients_per_round,
            f"<= federation.population ({fed.population})",
        )
    if s.evaluation.federated_clients > fed.population:
        problems.add(
            "evaluation.federated_clients",
            "more than the population",
            s.evaluation.federated_clients,
            f"<= federation.population ({fed.population})",
        )
    _check_names(s, problems)
    _check_strategy(s, problems)
    _check_defense(s, problems)
    _check_attack(s, problems)
    attack_rules.check(s, problems)
    secure_rules.check(s, problems)
    _check_privacy(s, problems)
    dp_rules.check(s, problems)
    for problem in compression_checks.problems(s):
        problems.add(*problem)
    system_rules.check(s, problems)
    if s.data.dataset in GENERATED and s.data.partition.type != "natural":
        problems.add(
            "data.partition.type",
            f"{s.data.dataset} clients are generated with their own "
            "distribution; only the natural partition applies",
            s.data.partition.type,
            "'natural'",
        )
    if s.data.dataset == "digits" and s.data.partition.type == "natural":
        problems.add(
            "data.partition.type",
            "digits has no client ids",
            "natural",
            "iid, dirichlet, shards or quantity_skew",
        )
    if s.data.dataset in GENERATED and s.data.params.min_samples > s.data.params.max_samples:
        problems.add(
            "data.min_samples",
            "above data.max_samples",
            s.data.params.min_samples,
            f"<= data.max_samples ({s.data.params.max_samples})",
        )
    if s.data.dataset == "mnist1d" and s.data.params.pad_min > s.data.params.pad_max:
        problems.add(
            "data.pad_max",
            "below data.pad_min",
            s.data.params.pad_max,
            f">= data.pad_min ({s.data.params.pad_min})",
        )
    if s.data.dataset == "parquet":
        _check_parquet(s.data.params, s.data.partition.type, problems)
    gpus = s.resources.num_gpus
    if gpus > 1 and not math.isclose(gpus, round(gpus)):
        problems.add(
            "resources.num_gpus",
            "Ray shares a GPU only in fractions of one",
            gpus,
            "a fraction <= 1 or a whole number",
        )
    if isinstance(s.resources.num_workers, int) and s.resources.num_workers < 1:
        problems.add(
            "resources.num_workers", "out of range", s.resources.num_workers, ">= 1 or 'auto'"
        )


def _check_names(s: Scenario, problems: Problems) -> None:
    """The name and output.dir become directories: runs/<name>, or output.dir itself."""
    if not s.name.strip() or s.name in (".", "..") or any(c in s.name for c in "/\\\0"):
        problems.add(
            "name",
            "names the run's directory runs/<name>",
            s.name,
            "a non-empty file name without '/', '\\' or NUL",
        )
    out = s.output.dir
    if out is not None and (not out.strip() or "\0" in out):
        problems.add("output.dir", "not a directory path", out, "a path, or null for runs/<name>")


def _check_strategy(s: Scenario, problems: Problems) -> None:
    name, client = s.strategy.name, s.client
    if name == "fedprox" and client.proximal_mu > 0:
        problems.add(
            "client.proximal_mu",
            "fedprox sets the proximal term from strategy.mu",
            client.proximal_mu,
            "0 with strategy.name: fedprox (or use fedavg)",
        )
    if name == "fednova" and client.proximal_mu > 0:
        problems.add(
            "client.proximal_mu",
            "fednova's normaliser assumes plain local SGD (a_i = tau_i)",
            client.proximal_mu,
            "0 with strategy.name: fednova",
        )
    if name in ("fednova", "scaffold") and (client.optimizer != "sgd" or client.momentum > 0):
        problems.add(
            "client.optimizer",
            f"{name}'s server step assumes plain local SGD",
            f"{client.optimizer}, momentum {client.momentum}",
            "sgd with momentum 0",
        )


def _check_attack(s: Scenario, problems: Problems) -> None:
    a = s.attack
    # type none with a fraction is allowed: a stress grid sweeps attack.type over "none"
    # while keeping the share, and "none" plainly means nobody attacks.
    if a.count is not None and a.fraction > 0:
        problems.add(
            "attack.count", "give attack.fraction or attack.count, not both", a.count, "one of them"
        )
    if a.type != "none" and a.fraction == 0 and not a.count:
        problems.add(
            "attack.fraction",
            f"attack {a.type!r} has no malicious clients",
            0,
            "a share in (0, 1] or attack.count >= 1",
        )
    if a.knowledge != "auto" and a.type in DATA_ATTACKS:
        problems.add(
            "attack.knowledge",
            f"{a.type} poisons the malicious clients' own data; knowledge only applies to "
            "model attacks, which craft updates from benign statistics",
            a.knowledge,
            "'auto' (or leave it out)",
        )
    if a.count is not None and a.count > s.federation.population:
        problems.add(
            "attack.count",
            "more than the population",
            a.count,
            f"<= federation.population ({s.federation.population})",
        )


TRIAL_ROWS = 2000  # cohorts up to this size try their defense once at validation


def _check_defense(s: Scenario, problems: Problems) -> None:
    """Try the defense once on a cohort-sized matrix, so a rule whose precondition cannot
    hold (Krum with n <= 2f + 2, Bulyan with n < 4f + 3) is refused before any actor starts."""
    import numpy as np

    from fedray.defenses import build_rule
    from fedray.defenses.common import RoundContext
    from fedray.defenses.rules_check import defense_problems
    from fedray.registry import is_plugin

    for problem in defense_problems(s):
        problems.add(*problem)
    if is_plugin(s.defense.type) or any(is_plugin(p.type) for p in s.defense.pre):
        return
    rng = np.random.default_rng(0)
    # FedBuff runs the rule over each buffer, not over a cohort.
    n = s.system.fedbuff.buffer if s.system.mode == "async" else s.federation.clients_per_round
    if n > s.federation.population:
        return  # refused above
    secure = s.secure_aggregation
    if secure.protocol != "none" and secure.buckets > 1:
        n = min(secure.buckets, n)  # the rule sees one row per bucket
    elif secure.protocol != "none":
        return  # refused in secure_rules.check unless the rule is the plain mean
    if n > TRIAL_ROWS:  # too large to try (Krum's distances grow as n^2): check its needs
        _check_requirement(s, n, problems)
        return
    rows = rng.standard_normal((n, 4)).astype(np.float32)
    try:
        build_rule(s.defense)(
            rows, np.ones(n), s.defense.params, RoundContext(rng, reference=np.ones(4, np.float32))
        )
    except ValueError as exc:
        what = "bucket means" if secure.protocol != "none" else "updates of a full cohort"
        problems.add("defense", f"{exc} (checked with the {n} {what})")


def _check_requirement(s: Scenario, n: int, problems: Problems) -> None:
    """What the defense needs of n rows, from the size alone (REQUIREMENTS), as a trial would."""
    from fedray.defenses import REQUIREMENTS, as_buckets, stages_of
    from fedray.defenses.compose import require

    need = REQUIREMENTS.get(s.defense.type)
    rows, params, what = n, s.defense.params, f"updates of a full cohort of {n}"
    stages = stages_of(s.defense)
    try:
        if stages:
            rows, params = require(stages, n, params)
            what = f"rows after defense.pre from a cohort of {n}"
        elif s.defense.bucketing > 1:
            rows, params = as_buckets(n, s.defense.bucketing, params)
            what = f"buckets of {s.defense.bucketing} from a cohort of {n}"
        if need is not None:
            need(rows, params)
    except ValueError as exc:
        problems.add("defense", f"{exc} (checked with the {rows} {what})")


def _check_privacy(s: Scenario, problems: Problems) -> None:
    """What each privacy mode needs from the rest of the scenario."""
    from fedray.strategies import STRATEGIES

    p, secure = s.privacy, s.secure_aggregation
    if p.mode == "none":
        for key in ("noise_multiplier", "target_epsilon", "budget"):
            if getattr(p, key) is not None:
                problems.add(
                    f"privacy.{key}",
                    "set, but privacy.mode is none",
                    getattr(p, key),
                    "a privacy.mode (central, distributed, local), or remove it",
                )
        return
    if (p.noise_multiplier is None) == (p.target_epsilon is None):
        problems.add(
            "privacy.noise_multiplier",
            f"privacy mode {p.mode!r} needs a noise level: give noise_multiplier or "
            "target_epsilon (calibrated for the planned rounds), not both",
            p.noise_multiplier,
            "exactly one of privacy.noise_multiplier and privacy.target_epsilon",
        )
    entry = STRATEGIES.get(s.strategy.name)
    reads_rows = entry is not None and getattr(entry, "needs_rows", None)
    if p.mode in ("central", "distributed") and reads_rows:
        problems.add(
            "strategy.name",
            f"{s.strategy.name} {entry.needs_rows}: user-level DP clips and noises only the "
            "mean of the updates, so what else it reads would leave the server un-noised",
            s.strategy.name,
            "fedavg, fedavgm, fedprox, fedadagrad, fedadam or fedyogi",
        )
    if p.mode in ("central", "distributed") and s.defense.type != "none":
        problems.add(
            "defense.type",
            f"{p.mode} DP bounds each client's influence by clipping and noises the mean; "
            "the accountant has no analysis for a robust rule over noised or clipped rows",
            s.defense.type,
            "'none' with a user-level privacy mode",
        )
    if p.mode == "distributed":
        if secure.protocol == "none":
            problems.add(
                "privacy.mode",
                "distributed DP adds each client's share of the noise before masking, so it "
                "needs secure aggregation (otherwise the server sees nearly noiseless updates)",
                p.mode,
                "central, or a secure_aggregation.protocol",
            )
    if p.mode in ("central", "distributed") and secure.protocol != "none":
        if secure.buckets > 1:
            problems.add(
                "secure_aggregation.buckets",
                "user-level DP calibrates its noise to one sum of the whole cohort per round",
                secure.buckets,
                f"0 with privacy.mode: {p.mode}",
            )
        if secure.weighting != "uniform":
            problems.add(
                "secure_aggregation.weighting",
                "user-level DP needs fixed weights: every clipped update counts the same",
                secure.weighting,
                "'uniform' with a user-level privacy mode",
            )
    if p.mode == "local":
        if p.adaptive_clipping.enabled:
            problems.add(
                "privacy.adaptive_clipping.enabled",
                "adaptive clipping applies to user-level (central, distributed) DP",
                True,
                "false with privacy.mode: local",
            )
        needs = s.strategy.name in ("scaffold", "fedprox", "qffl") or s.client.proximal_mu > 0
        if needs:
            problems.add(
                "strategy.name",
                "local DP-SGD trains with Opacus' private optimizer alone; proximal terms, "
                "control variates and q-FFL's un-noised initial loss do not go with it",
                s.strategy.name,
                "a strategy without client-side terms (fedavg, fedavgm, fedadam, ...)",
            )


def _check_parquet(p, partition_type: str, problems: Problems) -> None:
    if not p.path:
        problems.add("data.path", "required for the parquet dataset", "", "a Parquet file path")
    elif not os.path.isfile(p.path):
        problems.add("data.path", "file not found", p.path, "an existing Parquet file")
    if p.test_path and not os.path.isfile(p.test_path):
        problems.add("data.test_path", "file not found", p.test_path, "an existing Parquet file")
    if p.tensor_column and p.feature_columns:
        problems.add(
            "data.tensor_column", "give tensor_column or feature_columns, not both", p.tensor_column
        )
    if partition_type == "natural" and p.path and os.path.isfile(p.path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            columns = pq.read_schema(p.path).names
        except (pa.ArrowException, OSError) as exc:
            reason = " ".join(str(exc).split())
            problems.add("data.path", f"not a readable Parquet file ({reason})", p.path)
            return
        if p.client_column not in columns:
            problems.add(
                "data.client_column",
                f"the natural partition needs a client id column, and {p.path} has none of that name",
                p.client_column,
                "one of " + ", ".join(columns) + " (or another partition type)",
            )
