"""SecAgg / SecAgg+ end to end: the masked sum is the plain sum, through dropouts, until too
few are left; misuse is refused."""

import pickle

import numpy as np
import pytest

from fedray.secagg.client import ClientSession
from fedray.secagg.messages import EncryptedShare, Params, ProtocolViolation, SecAggAbort
from fedray.secagg.server import ServerSession
from fedray.secagg.simulate import STAGES, run

# (n, k, t): any k + 1 - t dropouts leave every neighbourhood t live share holders
SECAGG = (10, 9, 4)
SECAGG_PLUS = (16, 8, 4)


def inputs_for(n, d=40, m=32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        int(u): rng.integers(0, 2**m, d, dtype=np.uint64)
        for u in rng.choice(1000, n, replace=False)
    }


def plain_sum(inputs, m, without=()):
    total = np.zeros(len(next(iter(inputs.values()))), np.uint64)
    for u, x in inputs.items():
        if u not in without:
            total += x
    return total & np.uint64((1 << m) - 1) if m < 64 else total


@pytest.mark.parametrize("n, k, t", [SECAGG, SECAGG_PLUS])
@pytest.mark.parametrize("m", [20, 32, 33, 64])
def test_masked_sum_is_the_plain_sum(n, k, t, m):
    inputs = inputs_for(n, m=m)

    total, stats = run(inputs, Params(t, k, m), rng=np.random.default_rng(1))

    assert total.dtype == np.uint64
    np.testing.assert_array_equal(total, plain_sum(inputs, m))
    assert stats["survivors"] == n and stats["dropped_after_sharing"] == 0


def test_client_ids_in_the_millions_fit_the_share_field():
    # Shares are evaluated at holder positions, not ids: ids past the field's prime work.
    rng = np.random.default_rng(2)
    inputs = {
        5_000_000 + 1_048_573 * i: rng.integers(0, 2**32, 30, dtype=np.uint64) for i in range(8)
    }
    drop = {"masked_input": {5_000_000 + 1_048_573}}

    total, stats = run(inputs, Params(3, 4, 32), rng=np.random.default_rng(3), drop=drop)

    np.testing.assert_array_equal(total, plain_sum(inputs, 32, without=drop["masked_input"]))
    assert stats["dropped_after_sharing"] == 1


@pytest.mark.parametrize("n, k, t", [SECAGG, SECAGG_PLUS])
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])  # of the k + 1 - t that may drop
def test_masked_sum_survives_dropouts_at_every_stage(n, k, t, stage, fraction):
    inputs = inputs_for(n, seed=2)
    count = max(1, round(fraction * (k + 1 - t)))
    gone = set(np.random.default_rng(3).choice(sorted(inputs), count, replace=False).tolist())

    total, stats = run(inputs, Params(t, k, 32), rng=np.random.default_rng(4), drop={stage: gone})

    # a client that drops at unmask already sent its masked input: it is in the sum
    left_out = set() if stage == "unmask" else gone
    np.testing.assert_array_equal(total, plain_sum(inputs, 32, left_out))
    assert stats["survivors"] == n - len(left_out)
    assert stats["dropped_after_sharing"] == (count if stage == "masked_input" else 0)


@pytest.mark.parametrize("n, k, t", [SECAGG, SECAGG_PLUS])
def test_dropouts_spread_over_stages(n, k, t):
    inputs = inputs_for(n, seed=5)
    ids = sorted(inputs)
    drop = {"advertise": {ids[0]}, "share": {ids[3]}, "masked_input": {ids[5]}, "unmask": {ids[7]}}
    assert sum(map(len, drop.values())) <= k + 1 - t

    total, stats = run(inputs, Params(t, k, 32), rng=np.random.default_rng(6), drop=drop)

    np.testing.assert_array_equal(total, plain_sum(inputs, 32, {ids[0], ids[3], ids[5]}))
    assert (stats["dropped_before_sharing"], stats["dropped_after_sharing"]) == (2, 1)


@pytest.mark.parametrize("stage", STAGES)
def test_fewer_than_t_survivors_abort_with_stage_and_counts(stage):
    n, k, t = SECAGG
    inputs = inputs_for(n)
    gone = set(sorted(inputs)[: n - t + 1])

    with pytest.raises(SecAggAbort) as info:
        run(inputs, Params(t, k, 32), rng=np.random.default_rng(0), drop={stage: gone})

    message = str(info.value)
    assert f"'{stage}'" in message and f"{t - 1} clients survived" in message
    assert f"t={t} needed" in message and "nothing" in message and "applied" in message


def test_secagg_plus_aborts_naming_a_client_whose_neighbourhood_dropped():
    n, k, t = SECAGG_PLUS
    inputs = inputs_for(n)
    server = ServerSession(np.array(sorted(inputs)), Params(t, k, 32), np.random.default_rng(7))
    victim = sorted(inputs)[0]
    gone = set(server.graph[victim][: k + 2 - t].tolist())  # one more than its margin

    with pytest.raises(SecAggAbort, match=f"holders of client {victim}'s seed b_u"):
        run(inputs, Params(t, k, 32), rng=np.random.default_rng(7), drop={"masked_input": gone})


def test_a_client_dropping_with_all_its_neighbours_needs_no_recovery():
    inputs = inputs_for(8)
    params = Params(threshold=1, neighbors=2, modulus_bits=32)
    graph = ServerSession(np.array(sorted(inputs)), params, np.random.default_rng(9)).graph
    victim = sorted(inputs)[0]
    gone = {victim, *graph[victim].tolist()}

    total, stats = run(inputs, params, rng=np.random.default_rng(9), drop={"masked_input": gone})

    np.testing.assert_array_equal(total, plain_sum(inputs, 32, gone))
    assert stats["dropped_after_sharing"] == 3


def test_abort_survives_pickling_for_ray():
    error = SecAggAbort("unmask", 3, 5, what="holders of client 9's seed b_u")

    copy = pickle.loads(pickle.dumps(error))

    assert str(copy) == str(error) and (copy.stage, copy.survived, copy.needed) == ("unmask", 3, 5)


def test_same_rng_same_run():
    inputs = inputs_for(12)
    params = Params(4, 6, 32)

    first = run(
        inputs, params, rng=np.random.default_rng(8), drop={"masked_input": {sorted(inputs)[0]}}
    )
    second = run(
        inputs, params, rng=np.random.default_rng(8), drop={"masked_input": {sorted(inputs)[0]}}
    )

    np.testing.assert_array_equal(first[0], second[0])
    assert {k: v for k, v in first[1].items() if "seconds" not in k} == {
        k: v for k, v in second[1].items() if "seconds" not in k
    }


def test_traffic_adds_up_and_matches_the_message_sizes():
    n, k, t = SECAGG
    d = 40
    inputs = inputs_for(n, d=d)

    _, stats = run(inputs, Params(t, k, 32), rng=np.random.default_rng(0))

    assert stats["client_bytes_up_total"] == stats["server_bytes_up"]
    assert stats["client_bytes_down_total"] == stats["server_bytes_down"]
    keys, share = 4 + 2 * 32, 8 + 12 + 16 + 2 * 14 * 4  # ids, nonce, tag, two 14-chunk shares
    masked, unmask = 4 + d * 4, 4 + (k + 1) * (4 + 14 * 4)
    assert stats["client_bytes_up_max"] == keys + k * share + masked + unmask
    assert stats["client_bytes_down_max"] == k * keys + k * share + 4 * n


def run_to_unmask(n=6, k=5, t=3, m=32):
    """Run every client and the server up to the unmasking phase; return both sides."""
    params = Params(t, k, m)
    clients = {u: ClientSession(u, params) for u in range(n)}
    server = ServerSession(np.arange(n), params, np.random.default_rng(0))
    keys = server.collect_keys([c.advertise() for c in clients.values()])
    routed = server.route_shares([s for u, c in clients.items() for s in c.share_keys(keys[u])])
    inputs = {u: np.full(8, u, np.uint64) for u in clients}
    masked = {u: clients[u].masked_input(inputs[u], routed[u]) for u in clients}
    return clients, server, server.collect_masked(masked), routed


def test_a_client_never_reveals_both_secrets_of_one_owner():
    clients, _, survivors, _ = run_to_unmask()
    clients[0].unmask(survivors)

    with pytest.raises(ProtocolViolation, match="both b_u and s_sk"):
        clients[0].unmask([u for u in survivors if u != 1])


def test_the_server_refuses_shares_that_would_unmask_a_survivor():
    clients, server, survivors, _ = run_to_unmask()
    responses = [clients[u].unmask(survivors) for u in survivors]
    responses[0].s_shares[1] = responses[0].b_shares.pop(1)

    with pytest.raises(ProtocolViolation, match="s_sk only for dropped"):
        server.finish(responses)


def test_phases_out_of_order_are_refused():
    client = ClientSession(0, Params(1, 1, 32))

    with pytest.raises(ProtocolViolation, match="share_keys called at stage 'advertise'"):
        client.share_keys([])


def test_a_tampered_share_is_caught_when_it_is_decrypted():
    params = Params(2, 2, 32)
    clients = {u: ClientSession(u, params) for u in range(3)}
    server = ServerSession(np.arange(3), params, np.random.default_rng(0))
    keys = server.collect_keys([c.advertise() for c in clients.values()])
    routed = server.route_shares([s for u, c in clients.items() for s in c.share_keys(keys[u])])
    good = routed[0][0]
    bad = EncryptedShare(
        good.sender, good.receiver, good.ciphertext[:-1] + bytes([good.ciphertext[-1] ^ 1])
    )
    clients[0].masked_input(np.zeros(4, np.uint64), [bad, *routed[0][1:]])

    with pytest.raises(ValueError, match="failed authentication"):
        clients[0].unmask([0, 1, 2])


def test_a_client_below_threshold_holders_aborts_sharing():
    client = ClientSession(0, Params(3, 4, 32))
    client.advertise()

    with pytest.raises(
        SecAggAbort, match="'share': 2 share holders of client 0 survived, threshold t=3"
    ):
        client.share_keys([ClientSession(1, Params(3, 4, 32)).advertise()])


def test_inconsistent_parameters_are_refused_at_once():
    with pytest.raises(ValueError, match="threshold 6 exceeds the 5 share holders.*modulus_bits"):
        Params(threshold=6, neighbors=4, modulus_bits=65)


def test_unknown_drop_stage_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown drop stages \\['train'\\]; valid"):
        run(inputs_for(4), Params(2, 3, 32), rng=np.random.default_rng(), drop={"train": {1}})
