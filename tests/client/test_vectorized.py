"""Vectorised cohorts: a block trained by train_block equals each client trained by the loop."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedray import seeding
from fedray.attacks import DATA_ATTACKS
from fedray.attacks.backdoor import BackdoorParams
from fedray.attacks.label_flip import LabelFlipParams
from fedray.client.plan import ClientPlan
from fedray.client.train import train_client
from fedray.client.vectorized import block_size_for, blocks, can_vectorize, choose, train_block
from fedray.client.vectorized_dp import clip_factors
from fedray.data.federation import ClientData
from fedray.models import CNN1DParams, CNNParams, MLPParams, build_model, num_params
from fedray.privacy.local import client_epsilon
from fedray.registry import NoParams
from fedray.scenario.schema import Client

CPU = torch.device("cpu")
SIZES = (23, 1, 0, 9, 16)  # ragged: one example, no example, short last batches


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, as a worker with one CPU runs: tiny ops on a busy machine are
    otherwise dominated by the thread pool's hand-offs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def client_data(n: int, seed: int, dim: int = 16, classes: int = 3) -> ClientData:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return ClientData(x, y, x[:0], y[:0])


def model_named(name: str) -> nn.Module:
    params = {
        "logreg": NoParams(),
        "mlp": MLPParams(hidden=(8,)),
        "cnn": CNNParams((2, 4), 8),
        "cnn1d": CNN1DParams((3, 4), (5, 3)),
    }
    return build_model(name, params[name], (16,), 3)


def start(model: nn.Module) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (0.1 * rng.standard_normal(num_params(model))).astype(np.float32)


def generators(ids, round_: int = 1) -> list[torch.Generator]:
    return [seeding.torch_generator(0, round_, c, seeding.TRAIN) for c in ids]


def both(cfg, *, model="mlp", sizes=SIZES, plan=None, controls=None, datas=None):
    """(loop updates, block updates) for clients 0..k-1 of the given sizes."""
    model = model_named(model)
    params, ids = start(model), list(range(len(sizes)))
    datas = datas or [client_data(n, seed=c) for c, n in zip(ids, sizes, strict=True)]
    loop = [
        train_client(model, params, c, d, cfg, g, CPU, plan, None if controls is None else ctl)
        for c, d, g, ctl in zip(ids, datas, generators(ids), controls or ids, strict=True)
    ]
    block = train_block(model, params, ids, datas, cfg, generators(ids), CPU, plan, controls)
    return loop, block


def assert_same(loop, block):
    for a, b in zip(loop, block, strict=True):
        scale = max(1.0, float(np.abs(a.delta).max()))
        assert a.client_id == b.client_id and a.num_examples == b.num_examples
        np.testing.assert_allclose(b.delta, a.delta, rtol=0, atol=1e-5 * scale)
        assert math.isclose(b.metrics["train_loss"], a.metrics["train_loss"], rel_tol=1e-5)
        assert math.isclose(
            b.metrics["update_norm"], a.metrics["update_norm"], rel_tol=1e-4, abs_tol=1e-7
        )
        assert b.extras.keys() == a.extras.keys()
        assert b.extras["num_steps"] == a.extras["num_steps"]
        for key in ("initial_loss", "control_delta"):
            if key in a.extras:
                np.testing.assert_allclose(b.extras[key], a.extras[key], rtol=1e-5, atol=1e-5)
        dp = {k: v for k, v in a.metrics.items() if k.startswith("dp_")}
        assert dp == {k: v for k, v in b.metrics.items() if k.startswith("dp_")}


@pytest.mark.parametrize(
    "cfg",
    [
        Client(epochs=1, batch_size=4, lr=0.1),
        Client(epochs=3, batch_size=4, lr=0.1),
        Client(epochs=2, batch_size=5, lr=0.1, momentum=0.9, weight_decay=0.01),
        Client(epochs=2, batch_size=5, lr=0.01, optimizer="adam", weight_decay=0.01),
        Client(epochs=2, batch_size=4, lr=0.1, momentum=0.5, proximal_mu=0.5),
        Client(epochs=1, batch_size=64, lr=0.1),  # one full batch each
    ],
    ids=["sgd", "multi-epoch", "momentum-wd", "adam", "fedprox", "full-batch"],
)
def test_block_equals_the_loop(cfg):
    assert_same(*both(cfg))


@pytest.mark.parametrize("model", ["logreg", "cnn", "cnn1d"])
def test_block_equals_the_loop_for_every_builtin_model(model):
    assert_same(*both(Client(epochs=2, batch_size=4, lr=0.1, momentum=0.9), model=model))


def test_scaffold_correction_and_control_delta_equal_the_loop():
    d = num_params(model_named("mlp"))
    rng = np.random.default_rng(3)
    c = (0.1 * rng.standard_normal(d)).astype(np.float32)
    controls = [(c, (0.1 * rng.standard_normal(d)).astype(np.float32)) for _ in SIZES]
    plan = ClientPlan(control_variates=True)

    loop, block = both(Client(epochs=2, batch_size=4, lr=0.1), plan=plan, controls=controls)

    assert_same(loop, block)
    assert all("control_delta" in u.extras for u in block)


def test_initial_loss_equals_the_loop():
    loop, block = both(Client(epochs=1, batch_size=4, lr=0.1), plan=ClientPlan(initial_loss=True))

    assert_same(loop, block)


def test_empty_client_is_a_zero_update_as_in_the_loop():
    _, block = both(Client(epochs=2, batch_size=4, lr=0.1))
    empty = block[SIZES.index(0)]

    assert not empty.delta.any() and empty.num_examples == 0
    assert empty.extras["num_steps"] == 0 and empty.metrics["train_loss"] == 0.0


@pytest.mark.parametrize("attack", ["label_flip", "backdoor"])
def test_a_poisoned_client_in_the_block_equals_the_loop_on_the_same_poisoned_data(attack):
    datas = [client_data(n, seed=c) for c, n in enumerate(SIZES)]
    bad = datas[0]
    rng = np.random.default_rng(7)
    if attack == "label_flip":
        y = DATA_ATTACKS[attack].fn(bad.y_train, 3, LabelFlipParams(), rng)
        datas[0] = ClientData(bad.x_train, y, bad.x_test, bad.y_test)
    else:
        params = BackdoorParams(target=2, poison_fraction=0.5)
        x, y = DATA_ATTACKS[attack].fn(bad.x_train, bad.y_train, params, rng, (16,), num_classes=3)
        datas[0] = ClientData(x, y, bad.x_test, bad.y_test)
    cfg = Client(epochs=2, batch_size=4, lr=0.1)

    loop, block = both(cfg, datas=datas)
    _, clean = both(cfg)

    assert_same(loop, block)
    assert not np.allclose(block[0].delta, clean[0].delta)  # the poison did change client 0
    np.testing.assert_array_equal(block[3].delta, clean[3].delta)  # and nobody else


# Local DP-SGD: the block draws what Opacus draws, so it even matches the loop numerically.


@pytest.mark.parametrize(
    "cfg",
    [Client(epochs=2, batch_size=3, lr=0.1), Client(epochs=1, batch_size=1, lr=0.05)],
    ids=["batch-3", "batch-1-empty-batches"],
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_dp_block_equals_the_opacus_loop(cfg, optimizer):
    cfg = Client(**{**cfg.__dict__, "optimizer": optimizer, "weight_decay": 0.01})
    plan = ClientPlan(dp_max_grad_norm=0.5, dp_noise_multiplier=1.1)

    loop, block = both(cfg, plan=plan, sizes=(23, 1, 0, 5))

    assert_same(loop, block)


def test_dp_without_noise_or_clipping_is_full_batch_sgd_when_q_is_one():
    # n <= batch_size: q = 1, every step samples every example and divides by qn = n.
    cfg = Client(epochs=3, batch_size=32, lr=0.1)
    dp = ClientPlan(dp_max_grad_norm=1e9, dp_noise_multiplier=0.0)
    model, ids = model_named("mlp"), [0, 1, 2]
    datas = [client_data(n, seed=c) for c, n in zip(ids, (20, 7, 32), strict=True)]

    private = train_block(model, start(model), ids, datas, cfg, generators(ids), CPU, dp)
    plain = train_block(model, start(model), ids, datas, cfg, generators(ids), CPU, ClientPlan())

    for a, b in zip(private, plain, strict=True):
        np.testing.assert_allclose(a.delta, b.delta, rtol=0, atol=1e-6)
        assert a.extras["num_steps"] == b.extras["num_steps"] == 3


def test_clip_factors_bound_every_example_norm():
    rng = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 5, 4, 2, generator=rng) * 10, torch.randn(3, 5, 7, generator=rng)]
    grads[0][0, 0] *= 1e-4
    grads[1][0, 0] *= 1e-4

    factor = clip_factors(grads, 1.5)

    clipped = [
        f.reshape(3, 5, -1) for f in (g * factor.view(3, 5, *[1] * (g.dim() - 2)) for g in grads)
    ]
    norms = torch.cat(clipped, dim=-1).norm(dim=-1)
    assert (norms <= 1.5 * (1 + 1e-6)).all()
    assert factor[0, 0] == 1.0  # small examples are left alone
    assert torch.allclose(norms[factor < 1], torch.tensor(1.5), rtol=1e-5)


def test_dp_noise_std_is_z_c_over_qn():
    # One step (q = 1, n = 4), z large: the delta is -lr (clipped sum + noise) / n, and the
    # clipped sum is at most n C, so the noise dominates with std lr z C / n per coordinate.
    z, c, lr, n = 1000.0, 1.0, 0.1, 4
    cfg = Client(epochs=1, batch_size=8, lr=lr)
    model = build_model("mlp", MLPParams(hidden=(32,)), (16,), 3)
    ids = list(range(16))
    datas = [client_data(n, seed=i) for i in ids]
    plan = ClientPlan(dp_max_grad_norm=c, dp_noise_multiplier=z)

    updates = train_block(model, start(model), ids, datas, cfg, generators(ids), CPU, plan)

    deltas = np.concatenate([u.delta for u in updates])
    assert abs(deltas.std() / (lr * z * c / n) - 1) < 0.02
    assert abs(deltas.mean()) < 0.02 * lr * z * c / n


def test_dp_accounting_inputs_give_the_loops_epsilon():
    cfg = Client(epochs=2, batch_size=3, lr=0.1)
    plan = ClientPlan(dp_max_grad_norm=0.5, dp_noise_multiplier=1.1)

    loop, block = both(cfg, plan=plan, sizes=(23, 5))

    for a, b in zip(loop, block, strict=True):
        eps = [
            client_epsilon(
                u.metrics["dp_steps"],
                noise_multiplier=u.metrics["dp_noise_multiplier"],
                sample_rate=u.metrics["dp_sample_rate"],
                delta=1e-5,
            )
            for u in (a, b)
        ]
        assert eps[0] == eps[1]


# Determinism and blocks.


@pytest.mark.parametrize(
    "plan", [ClientPlan(), ClientPlan(0.0, dp_max_grad_norm=1.0, dp_noise_multiplier=1.0)]
)
def test_same_block_twice_gives_the_same_bits(plan):
    cfg = Client(epochs=2, batch_size=4, lr=0.1, momentum=0.9)

    _, one = both(cfg, plan=plan)
    _, two = both(cfg, plan=plan)

    for a, b in zip(one, two, strict=True):
        assert a.delta.tobytes() == b.delta.tobytes()
        assert a.metrics["train_loss"] == b.metrics["train_loss"]


def test_a_clients_result_does_not_depend_on_its_block_mates():
    cfg = Client(epochs=2, batch_size=4, lr=0.1, momentum=0.9)
    model = model_named("mlp")
    datas = [client_data(n, seed=c) for c, n in enumerate(SIZES)]
    ids = list(range(len(SIZES)))
    whole = train_block(model, start(model), ids, datas, cfg, generators(ids), CPU)

    for c in ids:
        alone = train_block(model, start(model), [c], [datas[c]], cfg, generators([c]), CPU)[0]
        np.testing.assert_allclose(alone.delta, whole[c].delta, rtol=0, atol=1e-6)


def test_blocks_are_cut_from_the_sorted_cohort_whatever_the_workers():
    cohort = np.array([3, 8, 9, 20, 41, 42, 77])

    cut = blocks(cohort, 3)

    assert [b.tolist() for b in cut] == [[3, 8, 9], [20, 41, 42], [77]]
    with pytest.raises(ValueError, match="sorted"):
        blocks(cohort[::-1], 3)


# What falls back to the loop, and why.


class ItemModel(nn.Module):
    """Data-dependent control flow: torch.func cannot trace `.item()`."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(x) if x.sum().item() > 0 else -self.fc(x)


@pytest.mark.parametrize(
    "model, reason",
    [
        (nn.Sequential(nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 3)), "draws random"),
        (nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)), "buffers"),
        (ItemModel(), "one vectorised step on zeros fails"),
    ],
    ids=["dropout", "batchnorm", "item"],
)
def test_can_vectorize_names_what_it_cannot_do(model, reason):
    ok, why = can_vectorize(model, ClientPlan(), (16,))

    assert not ok and reason in why
    with pytest.raises(ValueError, match=reason):
        choose("on", model, ClientPlan(), (16,))
    assert choose("auto", model, ClientPlan(), (16,)) == (False, why)


def test_frozen_parameters_fall_back():
    model = model_named("mlp")
    model[1].weight.requires_grad_(False)

    ok, why = can_vectorize(model)

    assert not ok and "frozen" in why


@pytest.mark.parametrize("name", ["logreg", "mlp", "cnn", "cnn1d"])
def test_builtin_models_vectorize_and_the_trial_leaves_them_unchanged(name):
    model = model_named(name)
    before = [p.detach().clone() for p in model.parameters()]

    assert can_vectorize(model, ClientPlan(dp_max_grad_norm=1.0), (16,)) == (True, "")
    assert choose("off", model, ClientPlan(), (16,)) == (False, "client.vectorize is off")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_block_on_cuda_equals_the_loop_on_cuda():
    cfg = Client(epochs=2, batch_size=4, lr=0.1, momentum=0.9)
    cuda = torch.device("cuda")
    model = model_named("mlp").to(cuda)
    ids = list(range(len(SIZES)))
    datas = [client_data(n, seed=c) for c, n in enumerate(SIZES)]
    loop = [
        train_client(model, start(model), c, d, cfg, g, cuda)
        for c, d, g in zip(ids, datas, generators(ids), strict=True)
    ]

    assert_same(loop, train_block(model, start(model), ids, datas, cfg, generators(ids), cuda))


def dropout_mlp(input_shape, num_classes):
    """A user model (`tests.client.test_vectorized:dropout_mlp`) that only the loop can train."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), 8),
        nn.Dropout(0.2),
        nn.Linear(8, num_classes),
    )


def test_vectorize_on_with_a_model_that_cannot_is_a_scenario_error():
    from fedray.api import prepare
    from fedray.scenario import ScenarioError, load_scenario

    scenario = load_scenario(
        {
            "rounds": 1,
            "federation": {"population": 4, "clients_per_round": 2},
            "evaluation": {"federated_clients": 2},
            "data": {"dataset": "digits", "partition": {"type": "iid"}},
            "model": {"type": "tests.client.test_vectorized:dropout_mlp"},
            "client": {"vectorize": "on", "block_size": 2},
        }
    )

    with pytest.raises(ScenarioError, match="client.vectorize: layer '2' \\(Dropout\\)"):
        prepare(scenario)


def test_an_empty_block_is_no_updates():
    model = model_named("mlp")

    assert train_block(model, start(model), [], [], Client(), [], CPU) == []


def test_a_share_of_whole_blocks_cut_again_gives_the_same_blocks():
    cohort = np.arange(0, 50, 3)  # 17 ids: blocks of 4, 4, 4, 4, 1
    cut = blocks(cohort, 4)

    share = np.sort(np.concatenate([cut[4], cut[1], cut[3]]))  # what one worker got

    assert [b.tolist() for b in blocks(share, 4)] == [b.tolist() for b in (cut[1], cut[3], cut[4])]


def test_dp_block_equals_the_opacus_loop_for_a_cnn():
    cfg = Client(epochs=2, batch_size=3, lr=0.1, momentum=0.9)
    plan = ClientPlan(dp_max_grad_norm=0.5, dp_noise_multiplier=1.1)

    assert_same(*both(cfg, model="cnn", plan=plan, sizes=(23, 1, 0, 5)))


@pytest.mark.parametrize(
    "setting, per_round, expected",
    [("auto", 6, 1), ("auto", 100, 7), ("auto", 1000, 63), ("auto", 10_000, 64), (5, 6, 5)],
)
def test_auto_block_size_leaves_sixteen_blocks_for_the_workers(setting, per_round, expected):
    assert block_size_for(setting, per_round) == expected


def test_whole_blocks_spread_over_the_workers():
    from fedray.client.pool import balance_blocks

    ids = np.arange(0, 24, 2)
    shares = balance_blocks(ids, np.full(12, 10), 3, block_size_for("auto", 12))
    assert sorted(c for s in shares for c in s) == ids.tolist() and all(len(s) == 4 for s in shares)
    shares = balance_blocks(ids, np.full(12, 10), 3, 4)  # three whole blocks, one per worker
    assert sorted(map(tuple, shares)) == [tuple(ids[i : i + 4]) for i in (0, 4, 8)]
