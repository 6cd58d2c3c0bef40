"""Every random draw in fedray comes from here.

A draw is named by `(seed, round, client_id, purpose)`; the same name always gives the same
stream, whichever worker computes it and however many workers there are. Nothing in fedray
touches the global `np.random` or `torch` random state.
"""

from __future__ import annotations

import functools
import logging
import operator

import numpy as np
import torch

# Purposes: fixed small integers, so a stream's name never depends on Python's hash seed.
SAMPLE = 1  # cohort sampling, per round
TRAIN = 2  # batch order during local training, per round and client
PARTITION = 3  # splitting a dataset across clients, once per run
DATA = 4  # generating a synthetic client's data, once per client
SPLIT = 5  # train / test splits, once per run or per client
EVAL_SAMPLE = 6  # clients drawn for federated evaluation, per round
INIT = 7  # initial global model, once per run
BASELINE = 8  # centralized baseline training
SIZE = 9  # a synthetic client's number of examples
DEFENSE = 10  # randomness inside the aggregation rule (bucketing), per round
ROOT = 11  # the server's clean root set (FLTrust): its sample once, its batch order per round
ATTACK = 12  # the adversary: its fixed set of malicious clients once per run, its draws per round
SECAGG = 13  # secure aggregation's buckets and neighbour graph, per round
QUANTIZE = 14  # a client's stochastic rounding before masking, per round and client
DROPOUT = 15  # the stage at which a client goes silent in the protocol, per round and client
PRIVACY = 16  # differential privacy's noise: the server's per round, a client's per round
DEVICE = 17  # a client's device profile (speed, bandwidths, tier), once per run
AVAILABILITY = 18  # online or not: per round and client (bernoulli); diurnal phase once per run
SYSTEM_DROPOUT = 19  # whether and when a client drops out of a round, per round and client
COMPRESS = 20  # a client's uplink compression (random-k's coordinates, QSGD's coins), per round
COMPRESS_DOWN = 21  # the server's downlink compression to one client, per round and client
ROTATION = 40  # distributed DP's shared random rotation (its signs), per round

NO_ROUND = 0  # rounds count from 1, so 0 names per-run streams
NO_CLIENT = 0


def rng(seed: int, round_: int = NO_ROUND, client_id: int = NO_CLIENT, purpose: int = 0):
    """Return the numpy Generator named by `(seed, round, client_id, purpose)`."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, round_, client_id, purpose]))
    )


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over a uint64 array (wraps on overflow, as intended)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hashes(seed: int, round_: int, client_ids, purpose: int, count: int) -> np.ndarray:
    """(n, count) uint64: a counter-based SplitMix64 hash of (key, client id, column), the key
    from `SeedSequence([seed, round, 0, purpose])`."""
    key = _key(seed, round_, purpose)
    ids = np.asarray(client_ids, dtype=np.int64).astype(np.uint64).reshape(-1, 1)
    cols = np.arange(count, dtype=np.uint64).reshape(1, -1)
    with np.errstate(over="ignore"):
        z = _mix(key[0] ^ (ids * _GOLDEN + np.uint64(1)))
        return _mix(z ^ key[1] ^ ((cols + np.uint64(1)) * _GOLDEN))


@functools.lru_cache(maxsize=256)
def _key(seed: int, round_: int, purpose: int) -> np.ndarray:
    key = np.random.SeedSequence([seed, round_, 0, purpose]).generate_state(2, np.uint64)
    key.flags.writeable = False
    return key


def uniforms(seed: int, round_: int, client_ids, purpose: int, count: int = 1) -> np.ndarray:
    """Return (n, count) float64 uniforms in [0, 1), row i named by (seed, round,
    client_ids[i], purpose): a client's values never depend on who else is in the array.

    Vectorised over clients (no Generator per client), for per-client draws over cohorts of
    any size (`_hashes`).
    """
    z = _hashes(seed, round_, client_ids, purpose, count)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


_MASK64 = (1 << 64) - 1


def _mix_int(z: int) -> int:
    """`_mix` on one Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def torch_seed(seed: int, round_: int, client_id: int, purpose: int) -> int:
    """A 63-bit seed named like `uniforms`: column 0 of `_hashes`, shifted right by one, in
    Python integers (numpy on one element costs ten times more), for streams drawn once per
    client in the hot path (a generated client's data)."""
    k0, k1 = (int(k) for k in _key(seed, round_, purpose))
    golden = int(_GOLDEN)
    z = _mix_int(k0 ^ ((operator.index(client_id) * golden + 1) & _MASK64))
    return _mix_int(z ^ k1 ^ golden) >> 1


# torch's CPU generator is an mt19937 that `manual_seed` fills from 32 bits of the seed: a
# million clients seeded that way would share about a hundred streams (birthday bound).
# `torch_stream` writes all 624 words of its state from the 64-bit seed instead, through
# `get_state`'s layout: an 8-byte seed, two int32 flags, an 8-byte position, then the 624
# words as uint64. `_state_template` checks that layout on this torch before using it.
_WORDS, _HEADER = 624, 24


@functools.cache
def _state_template() -> np.ndarray | None:
    """A freshly seeded generator's state bytes, if this torch lays them out as expected."""
    probe = 0x0123456789ABCDEF
    state = torch.Generator().manual_seed(probe).get_state().numpy().copy()
    head = state[:_HEADER].tobytes()
    words = np.frombuffer(state[_HEADER : _HEADER + 8 * _WORDS].tobytes(), np.uint64)
    expected = (
        np.frombuffer(head[:8], np.uint64)[0] == probe
        and np.frombuffer(head[8:16], np.int32).tolist() == [1, 1]
        and np.frombuffer(head[16:24], np.uint64)[0] == 0
        and words[0] == probe & 0xFFFFFFFF
        and int(words.max()) < 2**32
    )
    if expected:  # writing a state back must give the stream manual_seed gives
        again = torch.Generator()
        again.set_state(torch.from_numpy(state.copy()))
        reference = torch.Generator().manual_seed(probe)
        expected = torch.equal(
            torch.randn(64, generator=again), torch.randn(64, generator=reference)
        )
    return state if expected else None


def torch_stream(seed: int, round_: int, client_id: int, purpose: int) -> torch.Generator:
    """A CPU `torch.Generator` named like `torch_seed`, its whole mt19937 state drawn from
    the 64-bit seed (SplitMix64 over the word index), so that distinct clients never share
    a stream. On a torch whose state layout is not the one checked, `manual_seed` (and a
    warning that streams may repeat every 2^32 seeds)."""
    value = torch_seed(seed, round_, client_id, purpose)
    template = _state_template()
    if template is None:
        _warn_layout()
        return torch.Generator().manual_seed(value)
    with np.errstate(over="ignore"):
        index = np.arange(1, _WORDS // 2 + 1, dtype=np.uint64)
        z = _mix(np.uint64(value) ^ (index * _GOLDEN))
    words = np.stack([z & np.uint64(0xFFFFFFFF), z >> np.uint64(32)], 1).reshape(-1)
    state = template.copy()
    state[:8] = np.frombuffer(np.uint64(value).tobytes(), np.uint8)
    state[_HEADER : _HEADER + 8 * _WORDS] = np.frombuffer(words.tobytes(), np.uint8)
    generator = torch.Generator()
    generator.set_state(torch.from_numpy(state))
    return generator


@functools.cache
def _warn_layout() -> None:
    logging.getLogger(__name__).warning(
        "this torch's CPU generator state is not laid out as fedray expects: generated "
        "clients are seeded with manual_seed, whose streams repeat every 2^32 seeds"
    )


def torch_generator(
    seed: int, round_: int = NO_ROUND, client_id: int = NO_CLIENT, purpose: int = 0
):
    """Return a CPU `torch.Generator` named like `rng`."""
    state = np.random.SeedSequence([seed, round_, client_id, purpose]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state[0]) & 0x7FFF_FFFF_FFFF_FFFF)


def sample_clients(seed: int, round_: int, population: int, count: int, purpose: int) -> np.ndarray:
    """Return `count` distinct client ids drawn uniformly, ascending (int64)."""
    generator = rng(seed, round_, 0, purpose)
    return np.sort(generator.choice(population, size=count, replace=False)).astype(np.int64)
