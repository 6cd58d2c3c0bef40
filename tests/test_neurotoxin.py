"""Neurotoxin masks every local step (Zhang et al., ICML 2022): the update stays in the mask
through momentum, Adam and weight decay, in the loop, the vectorised block and local DP-SGD;
honest clients of the same block keep their bits; round 1 masks nothing."""

import numpy as np
import pytest
import torch

from fedray import seeding
from fedray.attacks import frontier
from fedray.attacks.neurotoxin import keep_mask, previous_update
from fedray.client.plan import ClientPlan
from fedray.client.train import train_client
from fedray.client.vectorized import train_block
from fedray.data.federation import ClientData
from fedray.models import MLPParams, build_model, num_params
from fedray.scenario import load_scenario
from fedray.scenario.schema import Client

CPU = torch.device("cpu")
SIZES = (19, 12, 7)  # client 1 is the malicious one
MOMENTUM = Client(epochs=2, batch_size=4, lr=0.1, momentum=0.9)
CONFIGS = {
    "momentum": MOMENTUM,
    "momentum-wd": Client(epochs=2, batch_size=4, lr=0.1, momentum=0.9, weight_decay=0.01),
    "adam-wd": Client(epochs=2, batch_size=4, lr=0.01, optimizer="adam", weight_decay=0.01),
    "fedprox": Client(epochs=2, batch_size=4, lr=0.1, momentum=0.5, proximal_mu=0.5),
}
DP = ClientPlan(dp_max_grad_norm=1.0, dp_noise_multiplier=0.5)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model():
    return build_model("mlp", MLPParams(hidden=(8,)), (16,), 3)


def start(m) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal(num_params(m))).astype(np.float32)


def data(n: int, seed: int) -> ClientData:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 16)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int64)
    return ClientData(x, y, x[:0], y[:0])


def gen(cid: int) -> torch.Generator:
    return seeding.torch_generator(0, 2, cid, seeding.TRAIN)


def mask(d: int) -> np.ndarray:
    """Half the coordinates masked, chosen as a previous update would choose them."""
    return keep_mask(np.random.default_rng(7).standard_normal(d), d, 0.5)


def loop(cfg, keep, plan=None, cid=1):
    m = model()
    return train_client(
        m, start(m), cid, data(SIZES[cid], cid), cfg, gen(cid), CPU, plan, keep=keep
    )


def block(cfg, keeps, plan=None):
    m = model()
    ids = list(range(len(SIZES)))
    datas = [data(n, c) for c, n in enumerate(SIZES)]
    gens = [gen(c) for c in ids]
    return train_block(m, start(m), ids, datas, cfg, gens, CPU, plan, keeps=keeps)


def test_keep_mask_drops_only_what_the_previous_update_moved():
    assert keep_mask(None, 4, 0.5).all()  # round 1: no previous update
    assert keep_mask(np.zeros(4), 4, 0.5).all()  # a round that applied nothing
    # ceil(0.5 * 4) = 2 to drop, but only one coordinate moved: only it is dropped.
    assert keep_mask(np.array([0.0, 0.0, -3.0, 0.0]), 4, 0.5).tolist() == [1, 1, 0, 1]
    assert previous_update(np.ones(3, np.float32), None) is None


def test_the_round_message_masks_the_change_between_the_last_two_global_models():
    attack = {"type": "neurotoxin", "count": 2, "top_fraction": 0.5}
    s = load_scenario({"attack": attack})
    w1 = np.array([0.0, 1.0, 2.0, 3.0], np.float32)
    w2 = w1 + np.array([5.0, 0.0, -4.0, 0.1], np.float32)

    assert frontier.client_message(s, {}, w1) == {}  # round 1: no w_0, nothing masked
    memory = frontier.observe(s, {}, w1, 1)  # round 1's step remembers w_1
    message = frontier.client_message(s, memory, w2)

    assert message[frontier.KEEP].tolist() == [False, True, False, True]
    fedbuff = load_scenario({"attack": attack, "system": {"mode": "async"}})
    assert frontier.client_message(fedbuff, memory, w2) == {}


@pytest.mark.parametrize("name", CONFIGS)
def test_a_masked_update_is_exactly_zero_off_the_mask(name):
    cfg = CONFIGS[name]
    d = num_params(model())
    keep = mask(d)

    masked = loop(cfg, keep).delta
    free = loop(cfg, None).delta

    assert not masked[~keep].any()  # every step, momentum and weight decay included
    assert np.count_nonzero(masked[keep]) > 0.9 * keep.sum()
    assert np.count_nonzero(free[~keep]) > 0.9 * (~keep).sum()  # the mask did the zeroing


def test_local_dp_sgd_masks_the_privatised_step_in_the_loop_and_the_block():
    cfg = CONFIGS["momentum-wd"]
    keep = mask(num_params(model()))

    looped = loop(cfg, keep, DP).delta
    blocked = block(cfg, [None, keep, None], DP)

    assert not looped[~keep].any() and not blocked[1].delta[~keep].any()
    assert np.count_nonzero(looped[keep]) > 0.9 * keep.sum()


@pytest.mark.parametrize("name, plan", [(n, None) for n in CONFIGS] + [("momentum-wd", DP)])
def test_the_block_equals_the_loop_for_a_masked_client(name, plan):
    cfg = CONFIGS[name]
    keep = mask(num_params(model()))

    looped = [loop(cfg, keep if c == 1 else None, plan, cid=c) for c in range(len(SIZES))]
    blocked = block(cfg, [None, keep, None], plan)

    assert not blocked[1].delta[~keep].any()
    for a, b in zip(looped, blocked, strict=True):
        scale = max(1.0, float(np.abs(a.delta).max()))
        np.testing.assert_allclose(b.delta, a.delta, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("plan", [None, DP], ids=["sgd", "dp-sgd"])
def test_honest_clients_of_the_block_keep_their_bits(plan):
    cfg = CONFIGS["momentum-wd"]
    keep = mask(num_params(model()))

    plain = block(cfg, None, plan)
    mixed = block(cfg, [None, keep, None], plan)

    for i in (0, 2):
        assert mixed[i].delta.tobytes() == plain[i].delta.tobytes()
    assert mixed[1].delta.tobytes() != plain[1].delta.tobytes()


def test_an_all_ones_mask_trains_exactly_as_no_mask():
    cfg = CONFIGS["momentum"]  # no weight decay: the masked path then adds nothing
    ones = np.ones(num_params(model()), bool)

    assert loop(cfg, ones).delta.tobytes() == loop(cfg, None).delta.tobytes()


# End to end: the mask travels with the round's message, is remembered across a resume, and
# composes with uplink compression and secure aggregation. One module-scoped set of runs.

ATTACK = {"type": "neurotoxin", "count": 6, "top_fraction": 0.5, "target": 0}


def run_tiny(out, warm, **overrides):
    import fedray
    from tests.factories import tiny

    base = {"attack": ATTACK, "evaluation": {"federated_clients": 0}}
    return fedray.run(tiny(**{**base, **overrides}), out=out, warm=warm)


@pytest.fixture(scope="module")
def runs(ray_cluster, tmp_path_factory):
    """Two workers stopped after round 2 and resumed, and one worker straight through; every
    client malicious through top-k and through SecAgg (so each round's aggregate is theirs).
    The runs of one pool shape share their actors (start-up is most of a tiny run's time)."""
    import fedray
    from fedray.actors import WarmActors

    root, warm = tmp_path_factory.mktemp("neurotoxin"), WarmActors()
    everyone = {**ATTACK, "count": 20}
    try:
        out = {
            "part": run_tiny(root / "part", warm, rounds=2, output__checkpoint_every=1),
            "resumed": fedray.run(None, ["rounds=3"], resume=root / "part", warm=warm),
            "topk": run_tiny(
                root / "topk",
                warm,
                attack=everyone,
                compression={"type": "topk", "fraction": 0.3},
                output__checkpoint_every=1,
            ),
            "secagg": run_tiny(
                root / "secagg",
                warm,
                attack=everyone,
                secure_aggregation={"protocol": "secagg"},
                output__checkpoint_every=1,
            ),
            "one": run_tiny(root / "one", warm, resources__num_workers=1),
        }
    finally:
        warm.close()
    return {**out, "root": root}


def checkpoint_params(folder, round_: int) -> np.ndarray:
    with np.load(folder / "checkpoints" / f"round_{round_:07d}.npz") as z:
        return z["params"]


@pytest.mark.slow
def test_neurotoxin_on_two_workers_after_a_resume_matches_one_worker_bit_for_bit(runs):
    one, resumed = runs["one"], runs["resumed"]

    assert resumed.params.tobytes() == one.params.tobytes()
    assert (
        resumed.history.column("backdoor_success").to_pylist()
        == one.history.column("backdoor_success").to_pylist()
    )
    # After round 2 the memory is the model round 2 started from (round 1's result), so a
    # resumed round 3 masks by w_3 - w_2 as the straight run does.
    with np.load(runs["root"] / "part" / "checkpoints" / "round_0000002.npz") as z:
        remembered = z[f"attack/{frontier.BEFORE}"]
    assert remembered.tobytes() == checkpoint_params(runs["root"] / "part", 1).tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["topk", "secagg"])
def test_every_client_masked_leaves_the_masked_coordinates_of_the_model_still(runs, name):
    folder = runs["root"] / name
    w = [checkpoint_params(folder, r) for r in (1, 2)] + [runs[name].params]
    for before, now, after in zip(w, w[1:], w[2:]):
        keep = keep_mask(now.astype(np.float64) - before, len(now), 0.5)
        assert (~keep).sum() > 0.3 * len(now)
        assert np.array_equal(after[~keep], now[~keep])  # every row was zero there
        assert (after[keep] != now[keep]).mean() > 0.3
    assert np.isfinite(runs[name].history.column("backdoor_success").to_pylist()).all()
