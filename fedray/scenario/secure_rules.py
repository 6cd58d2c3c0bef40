"""Cross-field rules of `secure_aggregation`: what the protocol can run with (the server
learns only sums), and k and t against the security target. `fedray.scenario.rules.check`
calls `check`."""

from __future__ import annotations

from fedray.scenario.convert import Problems
from fedray.scenario.schema import Scenario


def check(s: Scenario, problems: Problems) -> None:
    """What secure aggregation can run with: the server learns only (bucket) sums."""
    from fedray.attacks import MODEL_ATTACKS
    from fedray.registry import is_plugin
    from fedray.secagg.encoding import capacity_problem
    from fedray.secagg.shamir import MAX_THRESHOLD
    from fedray.server.secure import neighbours_and_threshold
    from fedray.strategies import STRATEGIES

    cfg = s.secure_aggregation
    if cfg.protocol == "none":
        if cfg.server_attack != "none":
            problems.add(
                "secure_aggregation.server_attack",
                "a dishonest server attacks the secure-aggregation protocol, which is off",
                cfg.server_attack,
                "'none', or a secure_aggregation.protocol",
            )
        if cfg.buckets:
            problems.add(
                "secure_aggregation.buckets",
                "buckets group clients for secure aggregation, which is off",
                cfg.buckets,
                "0, or a secure_aggregation.protocol",
            )
        return
    entry = STRATEGIES.get(s.strategy.name)
    if entry is not None and getattr(entry, "needs_rows", None):
        problems.add(
            "strategy.name",
            f"{s.strategy.name} {entry.needs_rows}, but under secure aggregation the server "
            "sees only sums",
            s.strategy.name,
            "fedavg, fedavgm, fedprox, fedadagrad, fedadam or fedyogi",
        )
    if s.defense.type != "none" and cfg.buckets <= 1:
        problems.add(
            "defense.type",
            f"{s.defense.type} judges individual updates, and under secure aggregation the "
            "server never sees one; set secure_aggregation.buckets: B to run it over B "
            "securely aggregated bucket means",
            s.defense.type,
            "'none', or secure_aggregation.buckets >= 2",
        )
    a = s.attack
    model_attack = a.type != "none" and (a.type in MODEL_ATTACKS or is_plugin(a.type))
    if model_attack and a.knowledge == "omniscient" and not a.allow_omniscient:
        problems.add(
            "attack.knowledge",
            "an omniscient adversary reads every honest update, which secure aggregation hides "
            "from everyone: the run would be an upper bound, not an attack anyone can mount. "
            "Use colluding (the malicious clients pool their own updates), or set "
            "attack.allow_omniscient: true to run the upper bound (the run reports "
            "attack_upper_bound)",
            a.knowledge,
            "'colluding' or 'auto', or attack.allow_omniscient: true",
        )
    # Bucket sizes by arithmetic, not bucket_sizes(): a list of `buckets` sizes could be huge.
    # FedBuff runs one session per buffer, among the buffer's members.
    if s.system.mode == "async":
        cohort, per = s.system.fedbuff.buffer, "in a FedBuff buffer (system.fedbuff.buffer)"
    else:
        cohort, per = s.federation.clients_per_round, "per round"
    buckets = max(cfg.buckets, 1)
    smallest, n = cohort // buckets, -(-cohort // buckets)
    if smallest < 3:
        problems.add(
            "secure_aggregation.buckets",
            f"buckets of {smallest} client(s) would reveal individual updates "
            f"({cohort} clients {per})",
            cfg.buckets,
            f"<= {cohort // 3} (3 or more clients per bucket)",
        )
        return
    if cfg.protocol == "secagg_plus" and cfg.neighbors is not None and cfg.neighbors % 2:
        problems.add(
            "secure_aggregation.neighbors",
            "SecAgg+'s graph is a Harary ring: k must be even (k/2 neighbours each side)",
            cfg.neighbors,
            f"{cfg.neighbors - 1} or {cfg.neighbors + 1}",
        )
    if cfg.protocol == "secagg" and n > 5000:
        problems.add(
            "secure_aggregation.protocol",
            f"SecAgg pairs every two of the {n} clients of a bucket: O(n^2) keys, masks and "
            "memory per round",
            cfg.protocol,
            "secagg_plus (k ~ log n neighbours), or buckets of at most 5000 clients",
        )
    if not (0 <= cfg.assumed_corrupt < 1 and 0 <= cfg.assumed_dropout < 1):
        return  # out of range: reported with the field; k and t cannot be chosen from it
    k, t = neighbours_and_threshold(cfg, smallest)
    if t > MAX_THRESHOLD:
        problems.add(
            "secure_aggregation.threshold",
            f"Shamir sharing here takes t <= {MAX_THRESHOLD} (exact float64 arithmetic)",
            t,
            "a smaller threshold, secagg_plus, or buckets",
        )
    if t > k + 1:
        problems.add(
            "secure_aggregation.threshold",
            f"more than the {k + 1} clients that hold each secret's shares "
            f"(bucket of {smallest} clients, k = {k})",
            t,
            f"<= {k + 1}",
        )
    if cfg.threat_model == "malicious" and 2 * t <= k + 1:
        problems.add(
            "secure_aggregation.threshold",
            f"against a malicious server t must exceed (k + 1) / 2, or the server can tell two "
            f"disjoint groups of a client's k + 1 share holders different survivor sets and "
            f"collect t shares of both its secrets (bucket of {smallest} clients, k = {k})",
            t,
            f">= {(k + 1) // 2 + 1}, or leave threshold unset",
        )
    if not cfg.allow_insecure and (cfg.neighbors is not None or cfg.threshold is not None):
        _check_security_target(cfg, {smallest, n}, problems)
    max_units = cfg.max_weight if cfg.weighting == "examples" else 1
    # Integer-domain DP does not use `bits`: its own wrap-around bound sizes the field.
    integer = s.privacy.mode == "distributed" and s.privacy.mechanism != "gaussian"
    message = capacity_problem(
        clients=n,
        bits=2 if integer else cfg.bits,
        modulus_bits=cfg.modulus_bits,
        max_units=max_units,
    )
    if message:
        problems.add("secure_aggregation.modulus_bits", message, cfg.modulus_bits)


def _check_security_target(cfg, sizes: set[int], problems: Problems) -> None:
    """A user-set k, t must keep every client's neighbourhood safe (see `insecurity`)."""
    from fedray.secagg.graph import SECURITY_BITS, exposure, insecurity, secure_threshold
    from fedray.server.secure import neighbours_and_threshold

    for n in sorted(sizes):
        k, t = neighbours_and_threshold(cfg, n)
        if insecurity(n, k, t, cfg.assumed_corrupt) <= 2.0**-SECURITY_BITS:
            continue
        safe = secure_threshold(n, k, cfg.assumed_corrupt)  # t = k + 1 is always safe
        problems.add(
            "secure_aggregation.threshold",
            f"(k={k}, t={t}) in a protocol instance of {n} clients, with assumed_corrupt "
            f"{cfg.assumed_corrupt:.3g}, lets one given client have t or more corrupt "
            f"neighbours (who can pool its secrets) with probability "
            f"{exposure(n, k, t, cfg.assumed_corrupt):.2g}; the target is 2^-{SECURITY_BITS} "
            "for any client. Remove neighbors and threshold to have them chosen, or set "
            "allow_insecure: true to run it anyway (the run then reports it)",
            t,
            f">= {safe} (with k = {k})",
        )
        return
