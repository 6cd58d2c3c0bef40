"""Named random streams: same name, same bits; any part of the name changed, other bits."""

import numpy as np
import pytest
import torch

from fedray import seeding

NAME = (7, 3, 11, seeding.TRAIN)
PURPOSES = [
    seeding.SAMPLE,
    seeding.TRAIN,
    seeding.PARTITION,
    seeding.DATA,
    seeding.SPLIT,
    seeding.EVAL_SAMPLE,
    seeding.INIT,
    seeding.BASELINE,
    seeding.SIZE,
]


def numpy_draws(name) -> bytes:
    return seeding.rng(*name).random(16).tobytes()


def torch_draws(name) -> bytes:
    return torch.rand(16, generator=seeding.torch_generator(*name)).numpy().tobytes()


def variants():
    """The name with each of its four parts changed in turn."""
    for i in range(4):
        for delta in (1, 1000):
            name = list(NAME)
            name[i] += delta
            yield tuple(name)


@pytest.mark.parametrize("draws", [numpy_draws, torch_draws])
def test_same_name_gives_the_same_stream(draws):
    assert draws(NAME) == draws(NAME)


@pytest.mark.parametrize("draws", [numpy_draws, torch_draws])
@pytest.mark.parametrize("other", list(variants()))
def test_changing_any_part_of_the_name_gives_another_stream(draws, other):
    assert draws(other) != draws(NAME)


def test_purposes_are_distinct_small_integers():
    assert len(set(PURPOSES)) == len(PURPOSES)
    assert all(isinstance(p, int) for p in PURPOSES)


@pytest.mark.parametrize("draws", [numpy_draws, torch_draws])
def test_every_purpose_gets_its_own_stream(draws):
    streams = {draws((NAME[0], NAME[1], NAME[2], p)) for p in PURPOSES}

    assert len(streams) == len(PURPOSES)


def test_name_parts_do_not_collide_when_swapped():
    # (round 3, client 11) and (round 11, client 3) must not share a stream.
    assert numpy_draws((7, 3, 11, 2)) != numpy_draws((7, 11, 3, 2))


def test_defaults_name_a_per_run_stream():
    assert numpy_draws((5,)) == numpy_draws((5, seeding.NO_ROUND, seeding.NO_CLIENT, 0))


def test_streams_leave_the_global_random_state_alone():
    np_before = np.random.get_state()[1].copy()
    torch_before = torch.random.get_rng_state().clone()

    numpy_draws(NAME)
    torch_draws(NAME)

    assert np.array_equal(np.random.get_state()[1], np_before)
    assert torch.equal(torch.random.get_rng_state(), torch_before)


def test_large_seeds_and_client_ids_are_accepted():
    name = (2**40, 10**6, 10**9, seeding.DATA)

    assert numpy_draws(name) == numpy_draws(name)
    assert torch_draws(name) == torch_draws(name)


def test_torch_seed_of_one_client_is_the_vectorised_hash():
    ids = np.concatenate([np.arange(100), np.array([2**40 + 7, 10**12])])

    seeds = (seeding._hashes(7, 3, ids, seeding.DATA, 1)[:, 0] >> np.uint64(1)).astype(np.int64)

    assert [seeding.torch_seed(7, 3, int(c), seeding.DATA) for c in ids] == seeds.tolist()
    assert len(set(seeds.tolist())) == len(ids) and seeds.min() >= 0
    assert seeding.torch_seed(7, 3, 5, seeding.SPLIT) != seeding.torch_seed(7, 3, 5, seeding.DATA)


def test_torch_streams_of_clients_whose_seeds_agree_in_32_bits_differ():
    # torch's manual_seed keeps 32 bits of a seed: these two clients' 64-bit seeds agree
    # there, so manual_seed would give them one stream (and one synthetic data set).
    a, b = 303685, 995972
    low = [seeding.torch_seed(0, 0, c, seeding.DATA) & 0xFFFFFFFF for c in (a, b)]
    assert low[0] == low[1]
    same_seed = [
        torch.Generator().manual_seed(seeding.torch_seed(0, 0, c, seeding.DATA)) for c in (a, b)
    ]
    assert torch.equal(
        torch.randn(8, generator=same_seed[0]), torch.randn(8, generator=same_seed[1])
    )

    draws = [torch.randn(8, generator=seeding.torch_stream(0, 0, c, seeding.DATA)) for c in (a, b)]

    assert not torch.equal(draws[0], draws[1])
    again = torch.randn(8, generator=seeding.torch_stream(0, 0, a, seeding.DATA))
    assert torch.equal(draws[0], again)


def test_torch_stream_takes_numpy_ids():
    g = seeding.torch_stream(0, 0, np.int64(5), seeding.DATA)
    assert torch.equal(
        torch.randn(4, generator=g),
        torch.randn(4, generator=seeding.torch_stream(0, 0, 5, seeding.DATA)),
    )


def test_a_torch_with_another_state_layout_falls_back_to_manual_seed_and_says_so(
    monkeypatch, caplog
):
    monkeypatch.setattr(seeding, "_state_template", lambda: None)
    seeding._warn_layout.cache_clear()

    g = seeding.torch_stream(0, 0, 5, seeding.DATA)

    expected = torch.Generator().manual_seed(seeding.torch_seed(0, 0, 5, seeding.DATA))
    assert torch.equal(torch.randn(4, generator=g), torch.randn(4, generator=expected))
    assert "repeat every 2^32" in caplog.text
    seeding._warn_layout.cache_clear()
