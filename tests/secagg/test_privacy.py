"""What the server sees: masked vectors look uniform and unrelated to the inputs, even after
removing every mask the server can rebuild, and no client's two secrets are ever both out."""

import numpy as np
import pytest
from scipy.stats import chisquare, pearsonr

from fedray.secagg import prg, shamir, simulate
from fedray.secagg.client import ClientSession
from fedray.secagg.messages import Params

M = 32
D = 20_000


def looks_uniform(words, m=M):
    """Chi-square p-value of the top 4 bits of words in [0, 2^m)."""
    counts = np.bincount((words >> np.uint64(m - 4)).astype(np.int64), minlength=16)
    return chisquare(counts).pvalue


def correlation(a, b):
    return abs(pearsonr(a.astype(np.float64), b.astype(np.float64)).statistic)


STRUCTURED = {
    "zeros": np.zeros(D, np.uint64),
    "ramp": np.arange(D, dtype=np.uint64) * 1000,
    "two values": np.where(np.arange(D) % 2, 2**M - 1, 0).astype(np.uint64),
}


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_a_single_masked_vector_looks_uniform_and_unrelated_to_its_input(name):
    x = STRUCTURED[name]
    client = ClientSession(3, Params(1, 1, M), entropy=b"\x01" * 32)
    client.advertise()
    client.share_keys([])

    y = client.masked_input(x, [])

    assert looks_uniform(y) > 1e-3
    assert name == "zeros" or correlation(x, y) < 5 / np.sqrt(D)


class Recorder(simulate.ServerSession):
    """A server session that keeps a copy of every message it receives."""

    seen: list = []

    def collect_keys(self, adverts):
        Recorder.seen.append(self)
        self.adverts = adverts
        return super().collect_keys(adverts)

    def route_shares(self, shares):
        self.shares = shares
        return super().route_shares(shares)

    def collect_masked(self, masked):
        self.masked = dict(masked)
        return super().collect_masked(masked)

    def finish(self, responses):
        self.responses = responses
        return super().finish(responses)


@pytest.mark.parametrize("k", [6, 11])  # SecAgg+ and SecAgg on 12 clients
def test_nothing_the_server_receives_reveals_an_input(monkeypatch, k):
    monkeypatch.setattr(simulate, "ServerSession", Recorder)
    rng = np.random.default_rng(0)
    inputs = {u: (np.arange(D, dtype=np.uint64) * (u + 1)) % np.uint64(2**M) for u in range(12)}
    drop = {"masked_input": {4}, "unmask": {7}}

    simulate.run(inputs, Params(3, k, M), rng=rng, drop=drop)

    server = Recorder.seen[-1]
    b_seeds = rebuilt_b_seeds(server)
    level = 1e-3 / len(server.masked)  # Bonferroni: one test per client
    for u, y in server.masked.items():
        x = inputs[u]
        assert np.mean(y == x) < 1e-3
        assert looks_uniform((y - x) & np.uint64(2**M - 1)) > level
        assert correlation(x, y) < 5 / np.sqrt(D)
        # even without PRG(b_u), which the server learns, pairwise masks still hide x_u
        rest = (y - prg.expand(b_seeds[u], D, M)) & np.uint64(2**M - 1)
        assert looks_uniform((rest - x) & np.uint64(2**M - 1)) > level
    for message in [*server.adverts, *server.shares]:
        assert all(len(b) <= 160 for b in vars(message).values() if isinstance(b, bytes))


def rebuilt_b_seeds(server):
    """The seeds b_u the server can rebuild from its unmasking shares, and a check that it
    gets seed shares only of survivors and masking-key shares only of the dropped."""
    b_rows, s_owners = {}, set()
    for r in server.responses:
        for owner, share in r.b_shares.items():
            b_rows.setdefault(owner, []).append((server._points[owner][r.client_id], share))
        s_owners |= set(r.s_shares)
    assert set(b_rows) == set(server.masked)
    assert s_owners == set(server.sharers) - set(server.masked)
    t = server.params.threshold
    return {
        u: shamir.reconstruct(
            np.array([x for x, _ in rows]), np.stack([s for _, s in rows]), t=t, length=32
        )
        for u, rows in b_rows.items()
    }
