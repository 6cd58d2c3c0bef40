"""Robust aggregation rules (defenses) by name: pure numpy over the stacked update matrix.

A rule is `fn(updates (n, d) float32, weights (n,), params, ctx: RoundContext) -> Aggregated`
with its frozen parameter dataclass; rules that assume f malicious clients take `f` or
`fraction` (of the cohort, floored). Any rule runs over bucket means with `with_bucketing`.

| name | params | paper |
|---|---|---|
| none | - | weighted mean (FedAvg; McMahan et al. 2017) |
| krum | f / fraction | Blanchard et al., NeurIPS 2017 |
| multi_krum | f / fraction, m | Blanchard et al., NeurIPS 2017 |
| median | - | coordinate-wise median; Yin et al., ICML 2018 |
| trimmed_mean | f / fraction | coordinate-wise trimmed mean; Yin et al., ICML 2018 |
| bulyan | f / fraction | El Mhamdi, Guerraoui and Rouault, ICML 2018 |
| geometric_median | nu, tol, max_iter | RFA; Pillutla, Kakade and Harchaoui, 2019 / IEEE TSP 2022 |
| centered_clipping | tau, iterations | Karimireddy, He and Jaggi, ICML 2021 |
| norm_bounding | max_norm | Sun, Kairouz, Suresh and McMahan, 2019 |
| fltrust | - (needs ctx.reference) | Cao, Fang, Liu and Gong, NDSS 2021 |
| mda | f / fraction | minimum-diameter averaging; El Mhamdi, Guerraoui and Rouault, ICML 2018 |
| dnc | f / fraction, sub_dim, iterations, c | Shejwalkar and Houmansadr, NDSS 2021 |
| signguard | lower, upper, coordinates | Xu, Huang, Song and Lan, ICDCS 2022 |
| flame | noise | Nguyen et al., USENIX Security 2022 |
| foolsgold | confidence (needs ctx.history) | Fung, Yoon and Beschastnikh, RAID 2020 |
| clipped_clustering | window (keeps ctx.state) | Li, Lyu, Wang and Zhang, IEEE TBD 2023 |
| meamed | f / fraction | mean around the median; Xie, Koyejo and Gupta, 2018 |
| monna | f / fraction, pivot | nearest neighbours of a pivot; Farhadkhani et al., ICML 2023 |
| with_bucketing(rule, s) | s | Karimireddy, He and Jaggi, ICLR 2022 |

Pre-aggregators (`PRE_AGGREGATORS`, `fedray.defenses.pre`) run in front of any rule:
`compose(stages, rule)` chains them (`defense.pre` in a scenario).

Weights (example counts) are used by none, multi_krum, geometric_median, centered_clipping
and norm_bounding; krum, median, trimmed_mean, bulyan and fltrust ignore them, as in their
papers, since clients report their own counts.

The modules are imported as modules (not their functions) so that `fedray.defenses.krum`
stays the module and can be patched or inspected.
"""

from fedray.defenses import (
    bulyan,
    centered_clipping,
    clipped_clustering,
    dnc,
    flame,
    fltrust,
    foolsgold,
    geometric_median,
    krum,
    mda,
    meamed,
    mean,
    median,
    monna,
    norm_bounding,
    signguard,
)
from fedray.defenses.bucketing import as_buckets, bucketize, with_bucketing
from fedray.defenses.common import Aggregated, RoundContext, resolve_f
from fedray.defenses.compose import compose
from fedray.defenses.pre import PRE_AGGREGATORS, BucketingParams
from fedray.registry import Entry, lookup

DEFENSES: dict[str, Entry] = {
    "none": Entry(mean.mean),
    "krum": Entry(krum.krum, krum.KrumParams),
    "multi_krum": Entry(krum.multi_krum, krum.MultiKrumParams),
    "median": Entry(median.median),
    "trimmed_mean": Entry(median.trimmed_mean, median.TrimmedMeanParams),
    "bulyan": Entry(bulyan.bulyan, bulyan.BulyanParams),
    "geometric_median": Entry(
        geometric_median.geometric_median, geometric_median.GeometricMedianParams
    ),
    "centered_clipping": Entry(
        centered_clipping.centered_clipping, centered_clipping.CenteredClippingParams
    ),
    "norm_bounding": Entry(norm_bounding.norm_bounding, norm_bounding.NormBoundingParams),
    "fltrust": Entry(fltrust.fltrust),
    "mda": Entry(mda.mda, mda.MDAParams),
    "dnc": Entry(dnc.dnc, dnc.DnCParams),
    "signguard": Entry(signguard.signguard, signguard.SignGuardParams),
    "flame": Entry(flame.flame, flame.FlameParams),
    "foolsgold": Entry(foolsgold.foolsgold, foolsgold.FoolsGoldParams),
    "clipped_clustering": Entry(
        clipped_clustering.clipped_clustering, clipped_clustering.ClippedClusteringParams
    ),
    "meamed": Entry(meamed.meamed, meamed.MeamedParams),
    "monna": Entry(monna.monna, monna.MoNNAParams),
}

# What a rule needs of the cohort's size, checkable without any update: `fn(n, params)`
# raises the rule's own ValueError. Validation uses it for cohorts too large to try the rule.
REQUIREMENTS = {
    "krum": krum.require_krum,
    "multi_krum": krum.require_multi_krum,
    "trimmed_mean": median.require_trimmed_mean,
    "bulyan": bulyan.require_bulyan,
    "mda": mda.require_mda,
    "dnc": dnc.require_dnc,
    "meamed": meamed.require_meamed,
    "monna": monna.require_monna,
}


def stages_of(defense) -> list[tuple[str, object]]:
    """The pre-aggregators of a scenario's `defense` section, in order, as (name, params).

    `defense.bucketing: s` is the older spelling of a first stage `{type: bucketing, s: s}`.
    """
    pre = [(stage.type, stage.params) for stage in getattr(defense, "pre", ())]
    if defense.bucketing > 1 and pre:
        return [("bucketing", BucketingParams(defense.bucketing)), *pre]
    return pre


def needs_root(defense) -> bool:
    """Whether the rule reads the server's own update on a clean root set (ctx.reference)."""
    pivot = getattr(defense.params, "pivot", None)
    return defense.type == "fltrust" or (defense.type == "monna" and pivot == "reference")


def build_rule(defense):
    """The scenario's aggregation rule: `defense.type` after its pre-aggregators."""
    rule = lookup(DEFENSES, defense.type).fn
    stages = stages_of(defense)
    if stages:
        return compose(stages, rule)
    if defense.bucketing > 1:  # alone, it keeps its original wrapper and messages
        return with_bucketing(rule, defense.bucketing)
    return rule


__all__ = [
    "DEFENSES",
    "PRE_AGGREGATORS",
    "REQUIREMENTS",
    "Aggregated",
    "RoundContext",
    "as_buckets",
    "bucketize",
    "build_rule",
    "compose",
    "needs_root",
    "resolve_f",
    "stages_of",
    "with_bucketing",
]
