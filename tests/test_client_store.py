"""The on-disk client store against a dict of vectors, its checkpoints and its memory."""

import tracemalloc

import numpy as np
import pytest

from fedray.client_store import ClientStore


def _random_ops(store: ClientStore, rng, reference: dict, rounds: int, population: int):
    for _ in range(rounds):
        ids = rng.choice(population, size=rng.integers(1, 12), replace=False)
        deltas = rng.normal(size=(len(ids), store.dim)).astype(np.float32)
        store.add(ids, deltas)
        for cid, d in zip(ids, deltas):
            reference[int(cid)] = reference.get(int(cid), np.zeros(store.dim, np.float32)) + d


def test_unknown_clients_read_as_zeros(tmp_path):
    store = ClientStore(tmp_path, 3)
    ids, values = store.get([5, 2])
    assert ids.tolist() == [2, 5] and not values.any() and values.dtype == np.float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_add_matches_a_dict_of_vectors(tmp_path, seed):
    rng = np.random.default_rng(seed)
    store, reference = ClientStore(tmp_path, 4), {}
    _random_ops(store, rng, reference, rounds=60, population=30)
    ids, values = store.get(np.arange(30))
    for cid, row in zip(ids, values):
        expected = reference.get(int(cid), np.zeros(4, np.float32))
        assert np.array_equal(row, expected), cid
    assert len(store) == len(reference)


def test_disk_holds_at_most_about_twice_the_live_rows(tmp_path):
    rng = np.random.default_rng(0)
    store = ClientStore(tmp_path, 2)
    for _ in range(200):  # the same 10 clients again and again: nearly every row goes dead
        store.add(rng.choice(10, size=5, replace=False), np.ones((5, 2), np.float32))
        rows = sum(np.load(p, mmap_mode="r").shape[0] for p in tmp_path.glob("seg_*.npy"))
        assert rows <= 2 * len(store) + 5
    assert store.dead_rows() <= len(store)


def test_checkpoint_is_frozen_and_resumes_bitwise(tmp_path):
    rng = np.random.default_rng(3)
    store, reference = ClientStore(tmp_path / "live", 5), {}
    _random_ops(store, rng, reference, rounds=20, population=50)
    store.save(tmp_path / "ckpt")
    saved = store.get(np.arange(50))[1]
    _random_ops(store, rng, reference, rounds=40, population=50)  # writes and compacts on

    resumed = ClientStore.load(tmp_path / "ckpt", tmp_path / "resumed")
    assert np.array_equal(resumed.get(np.arange(50))[1], saved)
    resumed.add([7], np.ones((1, 5), np.float32))  # the resumed store writes on
    assert np.array_equal(
        ClientStore.load(tmp_path / "ckpt", tmp_path / "again").get([7])[1][0], saved[7]
    )


def test_broken_checkpoints_are_named(tmp_path):
    store = ClientStore(tmp_path / "live", 2)
    store.add([1, 2], np.ones((2, 2), np.float32))
    store.save(tmp_path / "ckpt")
    for seg in (tmp_path / "ckpt").glob("seg_*.npy"):
        seg.unlink()
    with pytest.raises(ValueError, match="lacks its segment seg_"):
        ClientStore.load(tmp_path / "ckpt", tmp_path / "r")
    (tmp_path / "ckpt" / "index.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="ckpt is unreadable"):
        ClientStore.load(tmp_path / "ckpt", tmp_path / "r")


def test_bad_writes_are_refused(tmp_path):
    store = ClientStore(tmp_path, 3)
    with pytest.raises(ValueError, match=r"shape \(2, 2\) for 2 clients; expected \(2, 3\)"):
        store.put([1, 2], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="appears twice"):
        store.add([1, 1], np.zeros((2, 3)))


def test_memory_follows_the_round_not_the_participants(tmp_path):
    """100,000 participants of 1,000 floats (400 MB on disk) in rounds of 10,000 clients:
    reading, writing, compacting and checkpointing never hold more than a few rounds' rows."""
    dim, per_round, participants = 1_000, 10_000, 100_000
    block = per_round * dim * 4
    store = ClientStore(tmp_path / "live", dim)
    tracemalloc.start()
    for start in range(0, participants, per_round):
        ids = np.arange(start, start + per_round)
        store.add(ids, np.full((per_round, dim), start, np.float32))
    store.add(np.arange(0, participants, 10), np.ones((participants // 10, dim), np.float32))
    store.compact()
    store.save(tmp_path / "ckpt")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The test's own deltas, the rows read, and the deltas reordered: three rounds' worth.
    assert peak < 3.5 * block, f"peak {peak / 1e6:.0f} MB for rounds of {block / 1e6:.0f} MB"
    ids, values = store.get([0, 10, 15, 10_015, 99_990, 99_999])
    assert values[:, 0].tolist() == [1.0, 1.0, 0.0, 10_000.0, 90_001.0, 90_000.0]
