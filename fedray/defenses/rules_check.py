"""Cross-field rules of the `defense` section that no trial run shows: how the
pre-aggregators, the rule, secure aggregation and privacy combine.

`defense_problems(scenario)` returns (path, message, got, expected) tuples for
`fedray.scenario.rules`, which collects them with every other problem.
"""

from __future__ import annotations

from fedray.defenses.pre import NEEDS_IDENTITY

# Rules that judge each client by its own past (FoolsGold's per-client history): they need
# every row to be one identified client, so neither secure aggregation nor bucketing.
NEEDS_CLIENTS = frozenset({"foolsgold"})


def defense_problems(s) -> list[tuple]:
    """What the defense section cannot run with, all at once."""
    d, secure = s.defense, s.secure_aggregation
    out = []
    names = [stage.type for stage in d.pre]
    if d.bucketing > 1 and "bucketing" in names:
        out.append(
            (
                "defense.bucketing",
                "bucketing is given twice: defense.bucketing is the older spelling of a "
                "first pre stage {type: bucketing, s: ...}",
                d.bucketing,
                "0, with the bucketing stage in defense.pre only",
            )
        )
    if d.type in NEEDS_CLIENTS:
        if secure.protocol != "none":
            out.append(
                (
                    "defense.type",
                    f"{d.type} keeps a history per client id, and under secure aggregation "
                    "the server never sees a client's update",
                    d.type,
                    "a rule over bucket means (median, krum, ...), or secure_aggregation.protocol: none",
                )
            )
        if d.bucketing > 1 or "bucketing" in names:
            out.append(
                (
                    "defense.pre",
                    f"{d.type} keeps a history per client id; bucket means are no client's",
                    names or d.bucketing,
                    "no bucketing stage (and defense.bucketing 0)",
                )
            )
    if names and secure.protocol != "none" and secure.buckets <= 1:
        out.append(
            (
                "defense.pre",
                "pre-aggregators run over the rows the server sees; under secure aggregation "
                "without buckets that is one sum. Set secure_aggregation.buckets: B to run "
                "them over B bucket means",
                names,
                "[], or secure_aggregation.buckets >= 2",
            )
        )
    for i, name in enumerate(names):
        if name in NEEDS_IDENTITY and secure.protocol != "none":
            out.append(
                (
                    f"defense.pre[{i}].type",
                    f"{name} needs each row to be one client's update; secure aggregation "
                    "shows the server bucket means only",
                    name,
                    "nnm, arc, clip or bucketing",
                )
            )
    if names and s.privacy.mode in ("central", "distributed"):
        out.append(
            (
                "defense.pre",
                f"the accountant has no analysis for pre-aggregated rows under {s.privacy.mode} DP",
                names,
                "[] with privacy.mode " + s.privacy.mode,
            )
        )
    return out
