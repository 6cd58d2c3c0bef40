"""Cross-field rules of the newer attacks (Neurotoxin under FedBuff, the adaptive hook); `rules` calls `check`."""

from __future__ import annotations

from fedray.attacks.adaptive import signature_problem
from fedray.registry import is_plugin, load_plugin
from fedray.scenario.convert import Problems


def check(s, problems: Problems) -> None:
    """Add the newer attacks' problems to `problems`."""
    a = s.attack
    if a.stop_round is not None and a.type != "none" and a.stop_round < a.start_round:
        problems.add(
            "attack.stop_round",
            f"the attack would stop before it starts (start_round {a.start_round})",
            a.stop_round,
            f"a round >= attack.start_round ({a.start_round}), or unset to attack to the end",
        )
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
    if a.type != "neurotoxin" or s.system.mode != "async":
        return  # elsewhere its clients mask every step, before the codec and the masks
    if s.secure_aggregation.protocol != "none":
        problems.add(
            "attack.type",
            "neurotoxin under FedBuff projects the finished malicious updates on the server side "
            "of the simulation (a stale model's mask is not kept), which secure aggregation hides",
            f"{a.type} with system.mode 'async'",
            "system.mode: none or sync (its clients then mask every step), or backdoor, dba or "
            "edge_case under secure aggregation",
        )
    if s.compression.type != "none":
        problems.add(
            "attack.type",
            "neurotoxin under FedBuff projects the finished malicious updates after the uplink "
            "codec would have run",
            f"{a.type} with system.mode 'async' and compression.type {s.compression.type!r}",
            "system.mode: none or sync, compression.type: none, or backdoor / dba / edge_case",
        )
