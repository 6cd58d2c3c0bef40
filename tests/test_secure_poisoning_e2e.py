"""Model poisoning under secure aggregation: colluders craft their rows before masking, from
their own updates only, and the masked sum is the plaintext path's with the same rows."""

from types import SimpleNamespace

import numpy as np
import pytest

import fedray
from fedray.attacks import collusion
from fedray.types import UpdateBatch
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

SECAGG = {"protocol": "secagg", "clip": 1.0, "bits": 20, "modulus_bits": 40, "max_weight": 1000}
ALIE = {"type": "alie", "fraction": 0.3}
FED = {"population": 20, "clients_per_round": 10}


class LocalPool:
    """WorkerPool.call over one in-process Worker (same code as the actor)."""

    def __init__(self, worker):
        self.worker = worker

    def call(self, holders, method, round_, messages=None):
        import ray

        messages = messages if messages is not None else [None] * len(holders)
        method = getattr(self.worker, method)
        return [
            [ray.put(method(round_, *([m] if m is not None else [])))]
            for _, m in zip(holders, messages)
        ]


@pytest.mark.parametrize(
    "compression",
    [{}, {"type": "randomk", "fraction": 0.25, "shared": True}],
    ids=["dense", "randomk"],
)
def test_colluders_see_only_their_own_updates_and_sum_like_plaintext(monkeypatch, compression):
    import ray

    from fedray import seeding
    from fedray.api import prepare
    from fedray.attacks.runtime import adversary, attack_batch
    from fedray.client.colluders import coordinate
    from fedray.client.worker import Worker
    from fedray.compression.clients import shared_indices
    from fedray.scenario import load_scenario
    from fedray.scenario.convert import to_plain
    from fedray.secagg.encoding import quantize
    from fedray.seeding import sample_clients
    from fedray.server.aggregator import Aggregator
    from fedray.server.state import ServerState

    secure = load_scenario(
        tiny(federation=FED, attack=ALIE, secure_aggregation=SECAGG, compression=compression)
    )
    plain = load_scenario(tiny(federation=FED, attack={**ALIE, "knowledge": "colluding"}))
    seen = []

    def spy(scenario, round_, own, honest, *, needs_reference, _original=collusion.craft_by_id):
        seen.append((dict(own), dict(honest)))
        return _original(scenario, round_, own, honest, needs_reference=needs_reference)

    monkeypatch.setattr(collusion, "craft_by_id", spy)
    params = prepare(secure).initial_params
    ids = sample_clients(secure.seed, 1, 20, 10, seeding.SAMPLE).tolist()
    bad = sorted(set(adversary(secure).tolist()) & set(ids))
    worker = Worker(to_plain(secure))
    benign, _ = Worker(to_plain(plain)).train(params, 1, ids)  # model attacks train honestly
    shared = shared_indices(secure, 1, len(params))
    assert (shared is not None) == bool(compression)
    if shared is not None:  # only the round's shared coordinates are masked and summed
        kept = np.zeros_like(benign.deltas)
        kept[:, shared] = benign.deltas[:, shared]
        benign = UpdateBatch(benign.client_ids, kept, benign.num_examples)
        assert len(shared) < len(params) // 3
    else:
        shared = np.arange(len(params))

    keys, records = worker.train(params, 1, ids)
    holders = [(0, [r["client_id"] for r in records if r["status"] == "trained"])]
    malicious_keys, metrics = coordinate(
        SimpleNamespace(scenario=secure, pool=LocalPool(worker)), 1, holders
    )

    # The coordinator got exactly the malicious clients' own benign updates, nothing else.
    ((own, honest),) = seen
    assert len(bad) >= 2 and sorted(own) == bad and honest == {}
    mine = benign.deltas[np.isin(benign.client_ids, bad)][:, shared]
    np.testing.assert_array_equal(np.stack([own[c] for c in bad]), mine)
    stats = collusion.statistics(np.stack([own[c] for c in bad]))
    np.testing.assert_array_equal(stats["mean"], mine.mean(axis=0, dtype=np.float64))
    np.testing.assert_allclose(stats["std"], mine.astype(np.float64).std(axis=0), rtol=1e-12)
    assert metrics["attack_reference_rows"] == len(bad) == metrics["malicious_clients"]
    assert len(keys) == len(holders[0][1]) - len(bad)  # malicious keys come after crafting

    aggregator = Aggregator(to_plain(secure), ServerState(0, params))
    aggregator.secagg_begin(1, np.asarray(ids, np.int64))
    to_share = aggregator.secagg_keys([ids], [ray.put(keys)], *malicious_keys)
    routed = aggregator.secagg_shares([ids], [ray.put(worker.secagg_share(1, to_share))])
    inputs = dict(worker.secure.inputs)
    survivors = aggregator.secagg_masked([ids], [ray.put(worker.secagg_mask(1, routed))])
    done = aggregator.secagg_step(1, [ray.put(worker.secagg_unmask(1, survivors))])

    crafted, _ = attack_batch(plain, benign, adversary(plain), 1)
    cfg = secure.secure_aggregation
    for c in bad:  # each malicious input is the plaintext path's crafted row, encoded
        row = crafted.deltas[int(np.searchsorted(crafted.client_ids, c))][shared]
        n = int(benign.num_examples[int(np.searchsorted(benign.client_ids, c))])
        expected = quantize(
            row,
            units=min(n, cfg.max_weight),
            max_units=cfg.max_weight,
            clip=cfg.clip,
            bits=cfg.bits,
            modulus_bits=cfg.modulus_bits,
            rng=seeding.rng(secure.seed, 1, c, seeding.QUANTIZE),
        )
        np.testing.assert_array_equal(inputs[c], expected)
    reference = Aggregator(to_plain(plain), ServerState(0, params))
    reference.step(1, benign)
    assert done["secagg_survivors"] == len(ids)
    # The same rows, summed masked or in the clear: apart by at most one rounding step per
    # client and coordinate, n / scale in the weighted sum, divided by the total weight.
    units = np.minimum(benign.num_examples, cfg.max_weight).sum()
    step = len(ids) * cfg.max_weight / ((2 ** (cfg.bits - 1) - 1) / cfg.clip * units)
    gap = np.abs(aggregator.state.params - reference.state.params).max()
    assert 0 < gap <= step * 1.001


@pytest.fixture(scope="module")
def by_workers(tmp_path_factory, warm):
    """One colluding ALIE run over median of secure buckets, on 1 and on 2 workers."""
    out = tmp_path_factory.mktemp("secpoison")
    scenario = tiny(
        rounds=2,
        federation={"population": 20, "clients_per_round": 12},
        attack={"type": "alie", "fraction": 0.25},
        defense={"type": "median"},
        secure_aggregation={**SECAGG, "buckets": 4},
        evaluation={"federated_clients": 0},
    )
    return {
        w: fedray.run(
            {**scenario, "resources": {"num_cpus": 1, "num_workers": w}},
            out=out / f"w{w}",
            warm=warm,
        )
        for w in (1, 2)
    }


def test_colluding_runs_are_bitwise_equal_on_one_or_two_workers(by_workers):
    one, two = by_workers[1], by_workers[2]

    np.testing.assert_array_equal(one.params, two.params)
    h1, h2 = one.history.to_pydict(), two.history.to_pydict()
    assert h1["test_accuracy"] == h2["test_accuracy"]
    assert h1["malicious_norm_mean"] == h2["malicious_norm_mean"]
    assert all(m > 0 for m in h1["malicious_clients"])
    assert h1["attack_reference_rows"] == h1["malicious_clients"]  # their own rows, no more
    assert h1["updates_received"] == [4, 4]  # the median ran over four bucket means
