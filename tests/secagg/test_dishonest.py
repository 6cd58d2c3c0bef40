"""A server that lies, for real: each deviation leaks inputs from semi-honest clients, and
the malicious-model clients catch it and abort. Plus the malicious protocol's own checks."""

import numpy as np
import pytest

from fedray.secagg import pki
from fedray.secagg.messages import DeviationCaught, Params, SecAggAbort
from fedray.secagg.simulate import STAGES, run

ATTACKS = ["split_views", "drop_honest", "mitm", "replay_keys"]
N = 12


def inputs_for(seed=0, d=20):
    rng = np.random.default_rng(seed)
    return {
        int(u): rng.integers(0, 2**32, d, dtype=np.uint64)
        for u in rng.choice(100, N, replace=False)
    }


def attacked(attack, params, corrupt=3, **kw):
    inputs = inputs_for()
    colluders = set(sorted(inputs)[:corrupt])
    total, stats = run(
        inputs, params, rng=np.random.default_rng(1), attack=attack, corrupt=colluders, **kw
    )
    return inputs, total, stats


# SecAgg+ on 12 clients with k = 6: the semi-honest majority t = 3 has 2t <= k + 1
SEMI_HONEST = Params(3, 6, 32)
MALICIOUS = Params(4, 6, 32, malicious=True)


@pytest.mark.parametrize("attack", ATTACKS)
def test_under_semi_honest_each_deviation_recovers_individual_inputs(attack):
    inputs, _, stats = attacked(attack, SEMI_HONEST, corrupt=2)

    assert stats["leaked"], attack
    for u, x in stats["leaked"].items():
        np.testing.assert_array_equal(x, inputs[u])  # the real input, bit for bit


@pytest.mark.parametrize(
    "attack, reason",
    [
        ("split_views", "signed a different survivor set"),
        ("drop_honest", "fewer than t=4"),
        ("mitm", "not signed by that client's registered identity key"),
        ("replay_keys", "replayed from another instance"),
    ],
)
def test_under_malicious_each_deviation_is_caught_with_its_reason(attack, reason):
    with pytest.raises(DeviationCaught, match=reason):
        attacked(attack, MALICIOUS, corrupt=2)


def test_drop_honest_leaks_even_under_malicious_once_t_minus_one_collude():
    # The malicious model guarantees sums of at least t inputs; with t - 1 colluders in the
    # claimed survivor set (SecAgg, t = 7 of 12), the one honest input in it is exposed.
    inputs, _, stats = attacked("drop_honest", Params(7, 11, 32, malicious=True), corrupt=6)

    (victim,) = stats["leaked"]
    np.testing.assert_array_equal(stats["leaked"][victim], inputs[victim])


@pytest.mark.parametrize("stage", STAGES)
def test_the_malicious_protocol_still_sums_exactly_through_dropouts(stage):
    inputs = inputs_for(seed=3)
    gone = set(sorted(inputs)[2:4])

    total, stats = run(inputs, MALICIOUS, rng=np.random.default_rng(2), drop={stage: gone})

    left_out = set() if stage == "unmask" else gone
    expected = sum(x for u, x in inputs.items() if u not in left_out) & np.uint64(2**32 - 1)
    np.testing.assert_array_equal(total, expected)
    assert stats["leaked"] == {}


def test_malicious_parameters_need_t_above_half_the_holders():
    with pytest.raises(ValueError, match=r"t must exceed \(k \+ 1\) / 2.*raise threshold to 4"):
        Params(3, 6, 32, malicious=True)


def test_a_signature_names_its_round_so_an_old_one_does_not_verify():
    registry, key = pki.Pki(), pki.identity_key(b"\1" * 32)
    registry.register(7, key.public_key())
    old = key.sign(pki.advert_message((3, 0), 7, b"c" * 32, b"s" * 32))

    assert registry.verify(7, pki.advert_message((3, 0), 7, b"c" * 32, b"s" * 32), old)
    assert not registry.verify(7, pki.advert_message((4, 0), 7, b"c" * 32, b"s" * 32), old)
    assert not registry.verify(8, pki.advert_message((3, 0), 7, b"c" * 32, b"s" * 32), old)
    with pytest.raises(ValueError, match="different identity key"):
        registry.register(7, pki.identity_key(b"\2" * 32).public_key())


def test_a_malicious_client_answers_one_unmask_request_only():
    from fedray.secagg.client import ClientSession

    registry, identity = pki.Pki(), pki.identity_key(b"\3" * 32)
    registry.register(5, identity.public_key())
    client = ClientSession(
        5,
        Params(2, 1, 32, malicious=True),
        entropy=b"\0" * 32,
        identity=identity,
        registry=registry,
    )
    client._stage = "done"  # as after its one answer

    with pytest.raises(DeviationCaught, match="second unmask request"):
        client.unmask([5])
    assert isinstance(DeviationCaught("unmask", 5, "x"), SecAggAbort)


def test_a_caught_deviation_survives_pickling_for_ray():
    import pickle

    exc = pickle.loads(pickle.dumps(DeviationCaught("share", 3, "forged keys")))

    assert isinstance(exc, DeviationCaught) and exc.client_id == 3
    assert "client 3 caught the server: forged keys" in str(exc)
