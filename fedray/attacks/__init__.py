"""Poisoning attacks by name: pure numpy, no Ray.

Model attacks are run by an omniscient, colluding adversary that sees the round's honest
updates: `fn(honest (h, d) float32, malicious (m, d) float32, params, rng) -> (m, d) float32`,
where `malicious` holds the malicious clients' own updates and the result replaces them.

| name | params | paper |
|---|---|---|
| none | - | the malicious clients' own updates, unchanged |
| sign_flip | scale | Li, Xu, Chen, Giannakis and Ling (RSA), AAAI 2019 |
| gaussian | sigma | Blanchard, El Mhamdi, Guerraoui and Stainer, NeurIPS 2017 |
| scaling | gamma | model replacement; Bagdasaryan, Veit, Hua, Estrin and Shmatikov, AISTATS 2020 |
| alie | z (None: the paper's formula) | Baruch, Baruch and Goldberg, NeurIPS 2019 |
| ipm | epsilon | Xie, Koyejo and Gupta, UAI 2019 |
| min_max | direction, gamma_init, tol | Shejwalkar and Houmansadr, NDSS 2021 |
| min_sum | direction, gamma_init, tol | Shejwalkar and Houmansadr, NDSS 2021 |
| fang | knowledge, target, b, threshold, f | Fang, Cao, Jia and Gong, USENIX Security 2020 |
| mimic | - | Karimireddy, He and Jaggi, ICLR 2022 |
| opt_alie | max_factor, grid, iterations | ALIE's z optimised against the defense (as ByzFL) |
| opt_ipm | max_factor, grid, iterations | IPM's epsilon optimised against the defense (as ByzFL) |
| poisonedfl | scale, decay, floor, window | Xie, Fang and Gong, CVPR 2025 |
| module:fn | the user's | the adaptive hook: it may query the defense (`adaptive.py`) |

opt_alie, opt_ipm and poisonedfl also take `view=` (`view.AttackView`: the defense in
place, the global model, the attack's state across rounds); `frontier.py` runs them.

alie, ipm, min_max and min_sum give every colluder the same row; sign_flip and scaling
transform each client's own row; gaussian draws one independent row per client.

Data attacks run inside a malicious client's local training, on its data:

- `label_flip(y, num_classes, params, rng) -> y'`: y -> C - 1 - y (Fang, Cao, Jia and Gong,
  USENIX Security 2020), or targeted source -> target (Tolpegin, Truex, Gursoy and Liu,
  ESORICS 2020); params source, target.
- `neurotoxin` (Zhang et al., ICML 2022), `dba` (Xie et al., ICLR 2020) and `edge_case`
  (Wang et al., NeurIPS 2020): see their modules.
- `backdoor(x, y, params, rng, input_shape) -> (x', y')`: a pixel-pattern trigger and a
  target label on a poisoned fraction of the rows (BadNets: Gu, Dolan-Gavitt and Garg, 2017;
  in FL, Bagdasaryan et al., AISTATS 2020); params target, poison_fraction, size, value,
  pattern, corner.

`apply_trigger(x, input_shape, params)` stamps every row (the triggered test set, for the
backdoor success rate). `malicious_clients(seed, population, fraction_or_count)` is the
run's fixed adversary; `is_active(round_, start_round, every)` its schedule.
"""

from fedray.attacks import (
    alie,
    backdoor,
    dba,
    edge_case,
    fang,
    ipm,
    label_flip,
    mimic,
    min_max,
    neurotoxin,
    optimized,
    poisonedfl,
    simple,
)
from fedray.attacks.adversary import is_active, malicious_clients, malicious_count
from fedray.attacks.alie import alie_z
from fedray.attacks.backdoor import apply_trigger, trigger_mask
from fedray.registry import Entry

MODEL_ATTACKS: dict[str, Entry] = {
    "none": Entry(simple.none),
    "sign_flip": Entry(simple.sign_flip, simple.SignFlipParams),
    "gaussian": Entry(simple.gaussian, simple.GaussianParams),
    "scaling": Entry(simple.scaling, simple.ScalingParams),
    "alie": Entry(alie.alie, alie.AlieParams),
    "ipm": Entry(ipm.ipm, ipm.IpmParams),
    "min_max": Entry(min_max.min_max, min_max.MinMaxParams),
    "min_sum": Entry(min_max.min_sum, min_max.MinSumParams),
    "fang": Entry(fang.fang, fang.FangParams),
    "mimic": Entry(mimic.mimic),
    "opt_alie": Entry(optimized.opt_alie, optimized.OptAlieParams),
    "opt_ipm": Entry(optimized.opt_ipm, optimized.OptIpmParams),
    "poisonedfl": Entry(poisonedfl.poisonedfl, poisonedfl.PoisonedFLParams),
}

DATA_ATTACKS: dict[str, Entry] = {
    "label_flip": Entry(label_flip.label_flip, label_flip.LabelFlipParams),
    "backdoor": Entry(backdoor.backdoor, backdoor.BackdoorParams),
    "neurotoxin": Entry(neurotoxin.neurotoxin, neurotoxin.NeurotoxinParams),
    "dba": Entry(dba.dba, dba.DbaParams),
    "edge_case": Entry(edge_case.edge_case, edge_case.EdgeCaseParams),
}

__all__ = [
    "DATA_ATTACKS",
    "MODEL_ATTACKS",
    "alie_z",
    "apply_trigger",
    "is_active",
    "malicious_clients",
    "malicious_count",
    "trigger_mask",
]
