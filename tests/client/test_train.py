"""Local training: bitwise determinism per generator, FedProx's pull, evaluation edge cases."""

import math

import numpy as np
import pytest
import torch

from fedray import seeding
from fedray.client.train import evaluate, train_client
from fedray.data.federation import ClientData
from fedray.models import MLPParams, build_model, num_params
from fedray.registry import NoParams
from fedray.scenario.schema import Client

CPU = torch.device("cpu")


def client_data(n: int = 48, dim: int = 6, classes: int = 3, seed: int = 0) -> ClientData:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return ClientData(x, y, x[:5], y[:5])


def start(model: torch.nn.Module, seed: int = 1) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(num_params(model))).astype(np.float32)


def train(cfg: Client, *, model=None, round_: int = 1, client_id: int = 4, data=None):
    model = model or build_model("mlp", MLPParams(hidden=(8,)), (6,), 3)
    generator = seeding.torch_generator(0, round_, client_id, seeding.TRAIN)
    return train_client(model, start(model), client_id, data or client_data(), cfg, generator, CPU)


@pytest.mark.parametrize(
    "cfg",
    [
        Client(epochs=2, batch_size=8, lr=0.1),
        Client(epochs=1, batch_size=5, lr=0.05, optimizer="adam", weight_decay=0.01),
        Client(epochs=2, batch_size=16, lr=0.1, momentum=0.9, proximal_mu=0.5),
    ],
)
def test_same_generator_gives_a_bitwise_equal_delta(cfg):
    one = train(cfg)
    two = train(cfg)

    assert one.delta.tobytes() == two.delta.tobytes()
    assert one.metrics["train_loss"] == two.metrics["train_loss"]


def test_reusing_a_model_object_does_not_leak_state_between_clients():
    cfg = Client(epochs=2, batch_size=8, lr=0.1, momentum=0.9)
    shared = build_model("mlp", MLPParams(hidden=(8,)), (6,), 3)
    train(cfg, model=shared, client_id=9, data=client_data(seed=5))  # leaves other weights behind

    again = train(cfg, model=shared)

    assert again.delta.tobytes() == train(cfg).delta.tobytes()


def test_a_different_round_changes_the_batch_order_and_the_delta():
    cfg = Client(epochs=1, batch_size=8, lr=0.1)

    assert train(cfg, round_=1).delta.tobytes() != train(cfg, round_=2).delta.tobytes()


def test_update_reports_its_client_examples_and_norm():
    update = train(Client(epochs=1, batch_size=8, lr=0.1), client_id=7)

    assert update.client_id == 7 and update.num_examples == 48
    assert update.delta.dtype == np.float32
    assert update.delta.shape == (num_params(build_model("mlp", MLPParams(hidden=(8,)), (6,), 3)),)
    assert math.isclose(
        update.metrics["update_norm"], float(np.linalg.norm(update.delta)), rel_tol=1e-6
    )
    assert update.metrics["train_loss"] > 0


@pytest.mark.parametrize("mu", [0.1, 1.0, 5.0])
def test_proximal_term_shrinks_the_update(mu):
    base = Client(epochs=5, batch_size=8, lr=0.1)
    prox = Client(epochs=5, batch_size=8, lr=0.1, proximal_mu=mu)

    free, pulled = train(base), train(prox)

    assert pulled.metrics["update_norm"] < free.metrics["update_norm"]


def test_evaluate_on_an_empty_set_is_nan_nan_zero():
    model = build_model("logreg", NoParams(), (6,), 3)

    acc, loss, n = evaluate(model, np.zeros((0, 6), np.float32), np.zeros(0, np.int64), 4, CPU)

    assert math.isnan(acc) and math.isnan(loss) and n == 0


@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_evaluate_with_zero_weights_closed_form(batch_size):
    # All-zero logits: cross-entropy is log(C) and argmax picks class 0.
    model = build_model("logreg", NoParams(), (6,), 4)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    data = client_data(n=30, classes=4, seed=2)

    acc, loss, n = evaluate(model, data.x_train, data.y_train, batch_size, CPU)

    assert n == 30
    assert acc == np.mean(data.y_train == 0)
    assert math.isclose(loss, math.log(4), rel_tol=1e-6)


def test_evaluate_matches_a_per_sample_reference():
    model = build_model("mlp", MLPParams(hidden=(5,)), (6,), 3)
    data = client_data(n=20, seed=3)
    with torch.no_grad():
        logits = [model(torch.from_numpy(x[None]))[0] for x in data.x_train]
    pairs = list(zip(logits, data.y_train, strict=True))
    ref_acc = sum(int(lg.argmax()) == y for lg, y in pairs) / len(pairs)
    ref_loss = sum(float(torch.logsumexp(lg, 0) - lg[y]) for lg, y in pairs) / len(pairs)

    acc, loss, _ = evaluate(model, data.x_train, data.y_train, 6, CPU)

    assert acc == ref_acc
    assert math.isclose(loss, ref_loss, rel_tol=1e-5)


def dropout_bn_model():
    from torch import nn

    return nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)
    )


def test_dropout_and_batchnorm_train_the_same_bits_whatever_the_global_rng():
    cfg = Client(epochs=2, batch_size=8, lr=0.1)
    torch.manual_seed(1)
    one = train(cfg, model=dropout_bn_model())
    torch.manual_seed(2)  # another worker's global state must not matter
    two = train(cfg, model=dropout_bn_model())

    assert one.delta.tobytes() == two.delta.tobytes()


def test_batchnorm_statistics_travel_with_the_update():
    model = dropout_bn_model()
    params = sum(p.numel() for p in model.parameters())

    update = train(Client(epochs=1, batch_size=8, lr=0.1), model=model)

    assert len(update.delta) == params + 2 * 16  # running mean and variance
    assert np.abs(update.delta[params:]).sum() > 0  # training moved the running statistics
