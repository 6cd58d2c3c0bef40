"""What the loader refuses for secure aggregation and privacy, and why it says so."""

import pytest

from fedray.scenario import load_scenario
from tests.scenario.test_load import problems_of

SECAGG = {"protocol": "secagg"}


def one(problems: list[str], needle: str) -> str:
    hits = [p for p in problems if needle in p]
    assert len(hits) == 1, problems
    return hits[0]


def test_defaults_leave_both_off():
    s = load_scenario({})
    assert s.secure_aggregation.protocol == "none" and s.privacy.mode == "none"


@pytest.mark.parametrize("strategy", ["scaffold", "fednova", "qffl"])
def test_strategies_that_need_rows_are_refused_under_secagg(strategy):
    line = one(
        problems_of({"strategy": {"name": strategy}, "secure_aggregation": SECAGG}), "strategy.name"
    )
    assert "only sums" in line


def test_robust_rule_without_buckets_is_refused_with_the_way_out():
    line = one(
        problems_of({"defense": {"type": "krum"}, "secure_aggregation": SECAGG}), "defense.type"
    )
    assert "never sees one" in line and "buckets" in line


def test_robust_rule_over_buckets_is_checked_on_the_bucket_count():
    scenario = {
        "federation": {"population": 100, "clients_per_round": 30},
        "defense": {"type": "krum", "f": 2},
        "secure_aggregation": {**SECAGG, "buckets": 5},
    }
    line = one(problems_of(scenario), "defense")
    assert "5 bucket means" in line  # Krum needs n > 2f + 2 = 6 rows
    assert load_scenario({**scenario, "secure_aggregation": {**SECAGG, "buckets": 10}})


def test_buckets_too_small_to_hide_an_update_are_refused():
    line = one(problems_of({"secure_aggregation": {**SECAGG, "buckets": 5}}), "buckets")
    assert "reveal individual updates" in line  # 10 clients in 5 buckets of 2


def test_model_attacks_collude_under_secagg_omniscient_only_as_an_upper_bound():
    ipm = {"type": "ipm", "fraction": 0.2}
    assert load_scenario({"attack": ipm, "secure_aggregation": SECAGG}).attack.knowledge == "auto"
    line = one(
        problems_of({"attack": {**ipm, "knowledge": "omniscient"}, "secure_aggregation": SECAGG}),
        "attack.knowledge",
    )
    assert "upper bound" in line and "allow_omniscient" in line and "colluding" in line
    bound = {**ipm, "knowledge": "omniscient", "allow_omniscient": True}
    assert load_scenario({"attack": bound, "secure_aggregation": SECAGG})
    assert load_scenario({"attack": {**ipm, "knowledge": "omniscient"}})  # plaintext: fine
    assert load_scenario(
        {"attack": {"type": "label_flip", "fraction": 0.2}, "secure_aggregation": SECAGG}
    )


def test_knowledge_is_refused_for_data_attacks():
    flip = {"type": "label_flip", "fraction": 0.2, "knowledge": "colluding"}
    line = one(problems_of({"attack": flip}), "attack.knowledge")
    assert "model attacks" in line


def test_modulus_too_small_for_the_cohort_is_refused():
    line = one(
        problems_of({"secure_aggregation": {**SECAGG, "bits": 30, "modulus_bits": 32}}),
        "modulus_bits",
    )
    assert "modulus_bits" in line


def test_threshold_above_the_share_holders_is_refused():
    line = one(problems_of({"secure_aggregation": {**SECAGG, "threshold": 11}}), "threshold")
    assert "<= 10" in line


def test_buckets_without_a_protocol_are_refused():
    one(problems_of({"secure_aggregation": {"buckets": 3}}), "buckets")


def test_privacy_needs_exactly_one_noise_level():
    one(problems_of({"privacy": {"mode": "central"}}), "noise_multiplier")
    one(
        problems_of(
            {"privacy": {"mode": "central", "noise_multiplier": 1.0, "target_epsilon": 3.0}}
        ),
        "noise_multiplier",
    )
    assert load_scenario({"privacy": {"mode": "central", "target_epsilon": 3.0}})


def test_noise_without_a_mode_is_refused():
    one(problems_of({"privacy": {"noise_multiplier": 1.0}}), "privacy.noise_multiplier")


def test_distributed_dp_needs_secure_aggregation_with_uniform_weights():
    one(problems_of({"privacy": {"mode": "distributed", "noise_multiplier": 1.0}}), "privacy.mode")
    line = one(
        problems_of(
            {
                "privacy": {"mode": "distributed", "noise_multiplier": 1.0},
                "secure_aggregation": SECAGG,
            }
        ),
        "weighting",
    )
    assert "fixed weights" in line


def test_user_level_dp_refuses_robust_rules():
    one(
        problems_of(
            {"privacy": {"mode": "central", "noise_multiplier": 1.0}, "defense": {"type": "median"}}
        ),
        "defense.type",
    )


def test_local_dp_refuses_client_side_terms():
    one(
        problems_of(
            {
                "privacy": {"mode": "local", "noise_multiplier": 1.0},
                "strategy": {"name": "scaffold"},
            }
        ),
        "strategy.name",
    )


@pytest.mark.parametrize("strategy", ["scaffold", "fednova", "qffl"])
def test_user_level_dp_refuses_strategies_that_read_more_than_the_mean(strategy):
    line = one(
        problems_of(
            {
                "privacy": {"mode": "central", "noise_multiplier": 1.0},
                "strategy": {"name": strategy},
            }
        ),
        "strategy.name",
    )
    assert "un-noised" in line


def test_central_dp_under_secagg_refuses_buckets():
    one(
        problems_of(
            {
                "privacy": {"mode": "central", "noise_multiplier": 1.0},
                "federation": {"population": 100, "clients_per_round": 30},
                "secure_aggregation": {**SECAGG, "weighting": "uniform", "buckets": 3},
            }
        ),
        "buckets",
    )


def test_local_dp_refuses_qffl():
    one(
        problems_of(
            {"privacy": {"mode": "local", "noise_multiplier": 1.0}, "strategy": {"name": "qffl"}}
        ),
        "strategy.name",
    )


def test_odd_neighbour_count_is_refused_not_rounded():
    line = one(
        problems_of({"secure_aggregation": {"protocol": "secagg_plus", "neighbors": 5}}),
        "neighbors",
    )
    assert "4 or 6" in line


def test_bits_past_float64_precision_are_refused():
    one(problems_of({"secure_aggregation": {**SECAGG, "bits": 60, "modulus_bits": 64}}), "bits")


@pytest.mark.parametrize(
    "scenario, path",
    [
        (
            {"privacy": {"mode": "central", "noise_multiplier": 1.0, "clip": float("inf")}},
            "privacy.clip",
        ),
        (
            {"privacy": {"mode": "central", "target_epsilon": float("inf")}},
            "privacy.target_epsilon",
        ),
        ({"secure_aggregation": {**SECAGG, "clip": float("inf")}}, "secure_aggregation.clip"),
    ],
)
def test_infinite_numbers_are_refused(scenario, path):
    assert "finite" in one(problems_of(scenario), path)


def test_plain_secagg_over_huge_buckets_is_refused():
    one(
        problems_of(
            {
                "federation": {"population": 20000, "clients_per_round": 10000},
                "secure_aggregation": SECAGG,
            }
        ),
        "secure_aggregation.protocol",
    )


def test_user_set_k_t_below_the_security_target_are_refused_with_the_safe_threshold():
    scenario = {
        "federation": {"population": 100, "clients_per_round": 30},
        "secure_aggregation": {"protocol": "secagg_plus", "neighbors": 14, "threshold": 6},
    }

    line = one(problems_of(scenario), "secure_aggregation.threshold")

    assert "probability 0.3" in line and "allow_insecure" in line and ">= 11" in line
    scenario["secure_aggregation"]["allow_insecure"] = True
    assert load_scenario(scenario).secure_aggregation.allow_insecure
    scenario["secure_aggregation"].update(allow_insecure=False, threshold=11)
    assert load_scenario(scenario).secure_aggregation.threshold == 11


def test_a_given_degree_alone_is_checked_with_its_default_majority_threshold():
    scenario = {
        "federation": {"population": 100, "clients_per_round": 30},
        "secure_aggregation": {"protocol": "secagg_plus", "neighbors": 4},
    }

    line = one(problems_of(scenario), "secure_aggregation.threshold")

    assert "(k=4, t=3)" in line and ">= 5 (with k = 4)" in line


def test_malicious_threat_model_refuses_a_threshold_at_or_below_half_the_holders():
    scenario = {
        "federation": {"population": 100, "clients_per_round": 30},
        "secure_aggregation": {
            "protocol": "secagg_plus",
            "neighbors": 22,
            "threshold": 11,
            "threat_model": "malicious",
        },
    }

    line = one(problems_of(scenario), "must exceed (k + 1) / 2")

    assert "secure_aggregation.threshold" in line and ">= 12" in line
    scenario["secure_aggregation"]["threshold"] = 12
    assert load_scenario(scenario).secure_aggregation.threat_model == "malicious"


def test_a_server_attack_without_secure_aggregation_is_refused():
    line = one(
        problems_of({"secure_aggregation": {"server_attack": "mitm"}}),
        "secure_aggregation.server_attack",
    )
    assert "which is off" in line


def test_an_unknown_server_attack_lists_the_valid_ones():
    line = one(
        problems_of({"secure_aggregation": {**SECAGG, "server_attack": "bribe"}}),
        "server_attack",
    )
    assert "split_views" in line and "mitm" in line
