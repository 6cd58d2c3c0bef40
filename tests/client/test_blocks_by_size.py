"""Blocks cut in order of client size: less padding, and still independent of the workers."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fedray.client.pool import balance_blocks
from fedray.client.vectorized import blocks


def padded_steps(cut, size_of):
    return sum(len(b) * max(size_of[int(c)] for c in b) for b in cut)


def test_blocks_group_clients_of_like_size_and_keep_ids_sorted():
    ids = np.array([2, 5, 7, 11, 13, 17])
    sizes = np.array([900, 10, 850, 12, 11, 1000])

    cut = blocks(ids, 3, sizes)

    assert [b.tolist() for b in cut] == [[5, 11, 13], [2, 7, 17]]


def test_ties_in_size_keep_the_id_order():
    ids = np.arange(7)

    cut = blocks(ids, 3, np.full(7, 4))

    assert [b.tolist() for b in cut] == [[0, 1, 2], [3, 4, 5], [6]]


def test_power_law_sizes_pad_far_less_than_blocks_by_id():
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(10**6, 640, replace=False))
    sizes = np.minimum(50 + rng.lognormal(4, 2, 640), 1000).astype(int)
    size_of = dict(zip(ids.tolist(), sizes.tolist()))

    by_id, by_size = (
        padded_steps(blocks(ids, 64), size_of),
        padded_steps(blocks(ids, 64, sizes), size_of),
    )

    assert by_size < 0.5 * by_id
    assert by_size >= sizes.sum()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=40),
    st.integers(1, 6),
    st.integers(1, 4),
)
def test_a_workers_share_cut_again_gives_the_pools_blocks(sizes, block_size, workers):
    ids = np.arange(0, 3 * len(sizes), 3)
    sizes = np.array(sizes)
    size_of = dict(zip(ids.tolist(), sizes.tolist()))
    pool_blocks = {tuple(b.tolist()) for b in blocks(ids, block_size, sizes)}

    for share in balance_blocks(ids, sizes, workers, block_size):
        share = np.array(share, dtype=np.int64)
        again = blocks(share, block_size, np.array([size_of[c] for c in share.tolist()], int))
        assert {tuple(b.tolist()) for b in again} <= pool_blocks
