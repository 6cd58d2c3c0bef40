"""Cross-field rules of integer-domain distributed DP and of adaptive clipping under secure
aggregation. `fedray.scenario.rules` calls `check`; the wrap-around bound, which needs the
model's size, is checked when the model is built (`fedray.server.secure_dp.model_problems`)."""

from __future__ import annotations

from fedray.scenario.convert import Problems
from fedray.scenario.schema import Scenario


def check(s: Scenario, problems: Problems) -> None:
    """What `privacy.mechanism` and `privacy.discrete` need from the rest of the scenario."""
    p, secure = s.privacy, s.secure_aggregation
    if p.mechanism != "gaussian" and p.mode != "distributed":
        problems.add(
            "privacy.mechanism",
            "integer noise is added by the clients before masking: it is distributed DP's",
            p.mechanism,
            "'gaussian', or privacy.mode: distributed",
        )
    if p.mechanism == "gaussian" and p.discrete.granularity is not None:
        problems.add(
            "privacy.discrete.granularity",
            "set, but privacy.mechanism is gaussian (continuous noise, no granularity)",
            p.discrete.granularity,
            "privacy.mechanism: discrete_gaussian or skellam, or remove it",
        )
    integer = p.mode == "distributed" and p.mechanism != "gaussian"
    if integer and p.target_epsilon is not None:
        problems.add(
            "privacy.target_epsilon",
            "calibration uses the continuous Gaussian's accountant; the integer mechanism's "
            "own ledger (rounding, tau) would overshoot the target",
            p.target_epsilon,
            "privacy.noise_multiplier (see the README's epsilon table for a starting value)",
        )
    in_sum = integer or (p.adaptive_clipping.enabled and secure.protocol != "none")
    if in_sum and s.compression.type != "none":
        problems.add(
            "compression.type",
            "integer noise and adaptive clipping's bit are laid out over the whole update, "
            "and uplink compression sums only some coordinates",
            s.compression.type,
            "'none' with an integer privacy.mechanism or adaptive clipping under secure "
            "aggregation",
        )
    if integer and p.adaptive_clipping.enabled and p.discrete.granularity is not None:
        problems.add(
            "privacy.discrete.granularity",
            "adaptive clipping moves S every round, and a fixed granularity may then wrap "
            "the modular sum",
            p.discrete.granularity,
            "leave it unset: the finest safe granularity is chosen for each round's S",
        )
