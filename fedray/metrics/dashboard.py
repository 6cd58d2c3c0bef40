"""What TensorBoard shows of a run: the feature groups a scenario turns on, and the charts
of the Custom Scalars tab.

A group that belongs to a feature (attack/, privacy/, ...) is written only when the
scenario turns the feature on, decided from the scenario and never from the values: a plain
run's sidebar holds no group of zeros, and an attack that moves nothing still shows its zeros.
"""

from __future__ import annotations

import re

from fedray.metrics.tensorboard import tag

FEATURE_GROUPS = ("attack", "secure_aggregation", "privacy", "audit", "federated_eval")


def groups_on(scenario) -> frozenset[str]:
    """The feature groups `scenario` turns on."""
    audit = scenario.privacy.audit
    on = {
        "attack": scenario.attack.type != "none",
        "secure_aggregation": scenario.secure_aggregation.protocol != "none",
        "privacy": scenario.privacy.mode != "none",
        "audit": audit.membership or audit.inversion,
        "federated_eval": scenario.evaluation.federated_clients > 0,
    }
    return frozenset(group for group, yes in on.items() if yes)


def hidden_groups(scenario) -> frozenset[str]:
    """The feature groups `scenario` leaves off: their tags are not written."""
    return frozenset(FEATURE_GROUPS) - groups_on(scenario)


def layout(scenario) -> dict:
    """The Custom Scalars layout, {category: {chart title: ["Multiline", [tag regex, ...]]}}.

    A chart's regexes match tags in every run of the log directory, so `test/accuracy` draws
    the federated run and its sibling `baseline` run on one chart.
    """
    on = groups_on(scenario)
    charts = {"accuracy": _accuracy(scenario, on), "update norms": _norms(on)}
    # Label flipping measures the targeted class's accuracy only when it names a source.
    targeted = getattr(scenario.attack.params, "source", None) is not None
    success = _ATTACK_SUCCESS.get(scenario.attack.type)
    if success == "backdoor_success" or (success == "target_accuracy" and targeted):
        charts["attack"] = {"attack success": _lines([success, "test_accuracy"])}
    if scenario.system.mode != "none":  # drawn by the sibling run tensorboard/virtual_clock
        charts["virtual clock"] = {
            "test accuracy against virtual seconds": [
                "Multiline",
                ["^virtual_clock/test_accuracy$"],
            ],
            "virtual seconds per round": _lines(["virtual_seconds", "round_virtual_seconds"]),
        }
    if "privacy" in on:
        local = ["privacy_epsilon_median"] if scenario.privacy.mode == "local" else []
        charts["privacy: epsilon against accuracy"] = {
            "epsilon spent": _lines(["privacy_epsilon", *local]),
            "test accuracy": _lines(["test_accuracy"]),
        }
    c = scenario.compression
    if c.type != "none" or c.downlink.type != "none":
        charts["communication: bytes against accuracy"] = {
            "bytes sent so far (up, down)": _lines(
                ["bytes_up_cumulative", "bytes_down_cumulative"]
            ),
            "test accuracy": _lines(["test_accuracy"]),
        }
    return charts


_ATTACK_SUCCESS = {"backdoor": "backdoor_success", "label_flip": "target_accuracy"}


def _accuracy(scenario, on: frozenset) -> dict:
    title = "test accuracy"
    if scenario.evaluation.centralized_baseline:
        title += ", federated and centralized baseline"
    if "federated_eval" not in on:
        return {title: _lines(["test_accuracy"])}
    return {f"{title}; worst-10% client accuracy": _lines(["test_accuracy", "fed_accuracy_p10"])}


def _norms(on: frozenset) -> dict:
    # The Aggregator measures honest and malicious norms on plaintext rows only: under
    # secure aggregation it never sees them (and only data attacks are allowed there).
    if "attack" in on and "secure_aggregation" not in on:
        norms = ["honest_norm_mean", "malicious_norm_mean"]
        return {"update norm, honest against malicious (mean)": _lines(norms)}
    return {"client update norm (mean, max)": _lines(["update_norm_mean", "update_norm_max"])}


def _lines(metrics: list[str]) -> list:
    return ["Multiline", [f"^{re.escape(tag(m))}$" for m in metrics]]
