"""Every bad parameter or impossible case raises ValueError naming what to change."""

import numpy as np
import pytest

from fedray.attacks import DATA_ATTACKS, MODEL_ATTACKS, is_active, malicious_clients
from fedray.attacks.alie import AlieParams, alie, alie_z
from fedray.attacks.backdoor import BackdoorParams, apply_trigger, backdoor
from fedray.attacks.label_flip import LabelFlipParams, label_flip
from fedray.attacks.min_max import MinMaxParams, min_max
from fedray.attacks.simple import GaussianParams, SignFlipParams, sign_flip
from fedray.registry import lookup

H, M = np.zeros((4, 3), np.float32), np.zeros((2, 3), np.float32)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sign_flip(H, M, SignFlipParams(scale=-1.0), None), "attack.scale must be > 0"),
        (lambda: sign_flip(H, M, {"scale": 1.0}, None), r"SignFlipParams\(\*\*params\)"),
        (lambda: sign_flip(H, M, GaussianParams(), None), "needs SignFlipParams"),
        (lambda: sign_flip(H, np.zeros((2, 4), np.float32), SignFlipParams(), None), "same model"),
        (lambda: sign_flip(H, np.zeros(3, np.float32), SignFlipParams(), None), "2-D float"),
        (lambda: alie(H[:0], M, AlieParams(), None), "lower attack.fraction"),
        (lambda: alie(H, M, AlieParams(z=float("nan")), None), "attack.z must be finite"),
        (lambda: alie_z(10, 6), "s = floor.*lower attack.fraction below half.*or set attack.z"),
        (lambda: alie_z(10, 0), "1 <= m <= n"),
        (lambda: min_max(H, M, MinMaxParams(direction="left"), None), "attack.direction"),
        (lambda: min_max(H, M, MinMaxParams(tol=0.0, gamma_init=-1), None), "gamma_init.*tol"),
    ],
)
def test_model_attack_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


Y = np.array([0, 1, 2])
X = np.zeros((3, 64), np.float32)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: label_flip(Y, 10, LabelFlipParams(source=1), None), "set both attack.source"),
        (lambda: label_flip(Y, 10, LabelFlipParams(source=1, target=1), None), "two different"),
        (lambda: label_flip(Y, 10, LabelFlipParams(source=1, target=10), None), r"\[0, 10\)"),
        (lambda: label_flip(Y, 2, LabelFlipParams(), None), "pass the dataset's num_classes"),
        (lambda: label_flip(Y.astype(float), 10, LabelFlipParams(), None), "integer label"),
        (lambda: backdoor(X, Y, BackdoorParams(size=9), None, (64,)), "lower attack.size"),
        (lambda: backdoor(X, Y, BackdoorParams(size=2, pattern="plus"), None, (64,)), "odd size"),
        (lambda: backdoor(X, Y, BackdoorParams(), None, (10,)), "use label_flip"),
        (lambda: backdoor(X, Y, BackdoorParams(), None, (4, 4)), "pass the dataset's input_shape"),
        (lambda: backdoor(X, Y[:2], BackdoorParams(), None, (64,)), "one label per row"),
        (lambda: backdoor(X, Y, BackdoorParams(target=10), None, (64,), num_classes=10), "target"),
        (lambda: backdoor(X, Y, BackdoorParams(poison_fraction=2.0), None, (64,)), "<= 1"),
        (lambda: apply_trigger(X, (64,), BackdoorParams(corner="middle")), "attack.corner"),
    ],
)
def test_data_attack_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: malicious_clients(0, 10, 1.5), "pass an integer for a count"),
        (lambda: malicious_clients(0, 10, 11), "raise federation.population"),
        (lambda: malicious_clients(0, 0, 0.1), "raise federation.population"),
        (lambda: malicious_clients(0, 10, "0.1"), "set a share"),
        (lambda: is_active(1, 0, 1), "attack.start_round"),
        (lambda: is_active(0, 1, 1), "1-based round"),
    ],
)
def test_adversary_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_attack_names_list_the_valid_ones():
    with pytest.raises(
        KeyError, match="alie, fang, gaussian, ipm, mimic, min_max, min_sum, none, opt_alie"
    ):
        lookup(MODEL_ATTACKS, "alei")
    with pytest.raises(KeyError, match="backdoor, dba, edge_case, label_flip, neurotoxin"):
        lookup(DATA_ATTACKS, "flip")
