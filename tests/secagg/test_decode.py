"""Checked Shamir reconstruction: extra shares catch, correct and name a wrong share; too
many wrong ones abort instead of yielding a wrong secret."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedray.secagg import shamir
from fedray.secagg.decode import InconsistentShares, evaluate_through, reconstruct_checked
from fedray.secagg.shamir import PRIME


def shared(h: int, t: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    secret = rng.bytes(32)
    xs = np.arange(1, h + 1)
    return secret, xs, shamir.share([secret], xs=xs, t=t, rng=rng)[:, 0]


def test_evaluate_through_matches_the_shares_of_the_same_polynomial():
    _, xs, shares = shared(12, 5)

    np.testing.assert_array_equal(evaluate_through(xs[:5], shares[:5], xs[5:]), shares[5:])


@pytest.mark.parametrize("h, t", [(7, 4), (23, 11), (40, 13)])
def test_every_correctable_error_pattern_is_corrected_and_named(h, t):
    secret, xs, shares = shared(h, t, seed=h)
    rng = np.random.default_rng(t)
    for errors in range(1, (h - t) // 2 + 1):
        bad = np.sort(rng.choice(h, errors, replace=False))
        tampered = shares.copy()
        tampered[bad, rng.integers(0, shares.shape[1])] += 1 + rng.integers(0, PRIME - 1)
        tampered %= PRIME

        got, named = reconstruct_checked(xs, tampered, t=t, length=32)

        assert got == secret and named == bad.tolist()


def test_honest_shares_name_nobody_and_exactly_t_cannot_be_checked():
    secret, xs, shares = shared(9, 5)

    assert reconstruct_checked(xs, shares, t=5, length=32) == (secret, [])
    assert reconstruct_checked(xs[:5], shares[:5], t=5, length=32) == (secret, [])


def test_the_first_t_shares_alone_would_have_given_a_wrong_secret():
    secret, xs, shares = shared(10, 4)
    shares[0, 0] = (shares[0, 0] + 1) % PRIME

    assert shamir.reconstruct(xs, shares, t=4, length=32) != secret  # the unchecked path
    assert reconstruct_checked(xs, shares, t=4, length=32) == (secret, [0])


def test_too_many_wrong_shares_are_refused_not_decoded():
    _, xs, shares = shared(9, 5)
    shares[[0, 3, 6]] = (shares[[0, 3, 6]] + 7) % PRIME  # 3 > (9 - 5) / 2

    with pytest.raises(InconsistentShares, match="do not lie on one polynomial"):
        reconstruct_checked(xs, shares, t=5, length=32)


def run_with_a_lying_holder(liars: set[int], n: int = 10, t: int = 4):
    from fedray.secagg.client import ClientSession
    from fedray.secagg.messages import Params, UnmaskResponse
    from fedray.secagg.server import ServerSession

    rng = np.random.default_rng(5)
    inputs = {u: rng.integers(0, 2**32, 16, dtype=np.uint64) for u in range(n)}
    params = Params(t, n - 1, 32)
    server = ServerSession(np.arange(n), params, rng)
    clients = {u: ClientSession(u, params, entropy=rng.bytes(32)) for u in inputs}
    keys = server.collect_keys([c.advertise() for c in clients.values()])
    routed = server.route_shares([s for u in keys for s in clients[u].share_keys(keys[u])])
    survivors = server.collect_masked(
        {u: clients[u].masked_input(inputs[u], routed[u]) for u in routed}
    )
    responses = []
    for u in survivors:
        r = clients[u].unmask(survivors)
        if u in liars:  # sends garbage for client 0's seed b_0
            b = dict(r.b_shares)
            b[0] = (b[0] + 1) % PRIME
            r = UnmaskResponse(u, b, r.s_shares)
        responses.append(r)
    expected = sum(inputs.values()) & np.uint64(2**32 - 1)
    return server, server.finish(responses), expected


def test_the_server_corrects_a_lying_holder_and_names_it():
    server, total, expected = run_with_a_lying_holder({7})

    np.testing.assert_array_equal(total, expected)
    assert server.stats["inconsistent_shares"] == [(0, 7)]


def test_too_many_liars_abort_the_instance_naming_the_owner():
    from fedray.secagg.messages import SecAggAbort

    with pytest.raises(SecAggAbort, match="client 0's seed b_u are inconsistent"):
        run_with_a_lying_holder({1, 2, 3, 4})  # 4 > (10 - 4) / 2


@settings(max_examples=40, deadline=None)
@given(
    t=st.integers(1, 9),
    extra=st.integers(0, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_correctable_pattern_is_fixed_and_one_more_error_never_decodes_wrongly(t, extra, seed):
    h = t + extra
    secret, xs, shares = shared(h, t, seed=seed)
    rng = np.random.default_rng(seed)
    errors = (h - t) // 2
    bad = np.sort(rng.choice(h, errors + 1, replace=False))
    tampered = shares.copy()
    tampered[bad] = (tampered[bad] + rng.integers(1, PRIME, size=tampered[bad].shape)) % PRIME

    got, named = reconstruct_checked(xs, shares, t=t, length=32)
    assert got == secret and named == []
    fixable = tampered.copy()
    fixable[bad[-1]] = shares[bad[-1]]  # errors wrong shares: always corrected and named
    assert reconstruct_checked(xs, fixable, t=t, length=32) == (secret, bad[:-1].tolist())
    # errors + 1 random wrong shares: refused, or the true secret, not a wrong one (a liar who
    # crafts them onto one polynomial could fool any decoder once 2 (errors + 1) > h - t)
    try:
        assert reconstruct_checked(xs, tampered, t=t, length=32)[0] == secret
    except (InconsistentShares, ValueError):
        pass
