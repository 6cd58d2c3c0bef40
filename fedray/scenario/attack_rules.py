"""Cross-field rules of the newer attacks (Neurotoxin, the adaptive hook); `rules` calls `check`."""

from __future__ import annotations

from fedray.attacks.adaptive import signature_problem
from fedray.registry import is_plugin, load_plugin
from fedray.scenario.convert import Problems


def check(s, problems: Problems) -> None:
    """Add the newer attacks' problems to `problems`."""
    a = s.attack
    if is_plugin(a.type):
        try:
            fn = load_plugin(a.type)
        except ValueError:
            return  # the loader already reported it
        wrong = signature_problem(a.type, fn)
        if wrong:
            problems.add(
                "attack.type", wrong, a.type, "a function of (honest, malicious, params, rng)"
            )
    viewed = a.type in ("opt_alie", "opt_ipm", "poisonedfl") or is_plugin(a.type)
    if viewed and s.secure_aggregation.protocol != "none":
        problems.add(
            "attack.type",
            f"{a.type} reads the server's view each round (the defense in place, the model's "
            "history); under secure aggregation the colluders craft their rows before masking "
            "from their own updates only, and nobody hands them that view",
            a.type,
            "alie, ipm, min_max, min_sum, fang or mimic under secure aggregation",
        )
    if a.type != "neurotoxin":
        return
    if s.secure_aggregation.protocol != "none":
        problems.add(
            "attack.type",
            "neurotoxin projects the malicious updates on the server side of the simulation "
            "(it needs the last aggregate), which secure aggregation hides",
            a.type,
            "backdoor, dba or edge_case under secure aggregation",
        )
    if s.compression.type != "none":
        problems.add(
            "attack.type",
            "neurotoxin's projection would reach the server without passing the uplink codec",
            f"{a.type} with compression.type {s.compression.type!r}",
            "compression.type: none, or backdoor / dba / edge_case",
        )
