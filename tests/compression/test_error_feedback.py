"""Error feedback carries the residual: what was sent plus the last residual is the sum of
the true updates, whatever the codec."""

import numpy as np
import pytest

from fedray import compression
from fedray.compression import error_feedback, qsgd, sparse
from fedray.compression.clients import upload
from fedray.scenario import load_scenario
from fedray.types import ClientUpdate

D = 500


@pytest.mark.parametrize(
    "name, params",
    [
        ("topk", sparse.TopKParams(k=5)),
        ("randomk", sparse.RandomKParams(k=25)),
        ("qsgd", qsgd.QSGDParams(bits=4)),
        ("sign", None),
    ],
)
def test_sent_plus_residual_sums_to_the_true_updates(name, params):
    rng = np.random.default_rng(0)
    residual, sent_total, true_total = None, np.zeros(D), np.zeros(D)
    for _ in range(30):
        x = rng.standard_normal(D).astype(np.float32)
        payload, sent, residual = error_feedback.send(
            x,
            residual,
            lambda v: compression.encode(v, name, params, rng),
            lambda p: compression.decode(p, D),
        )
        assert sent.tobytes() == compression.decode(payload, D).tobytes()
        sent_total += sent
        true_total += x

    assert np.allclose(sent_total + residual, true_total, atol=1e-3)


def test_without_error_feedback_top_k_loses_what_it_drops():
    x = np.arange(1, D + 1, dtype=np.float32)
    _, sent, residual = error_feedback.send(
        x,
        None,
        lambda v: compression.encode(v, "topk", sparse.TopKParams(k=5)),
        lambda p: compression.decode(p, D),
    )
    assert np.count_nonzero(sent) == 5 and np.allclose(sent + residual, x)


def test_upload_keeps_the_residual_only_with_error_feedback():
    x = np.random.default_rng(1).standard_normal(D).astype(np.float32)
    update = ClientUpdate(7, x, 10, {"train_loss": 0.5}, {"num_steps": 1})
    for ef in (True, False):
        s = load_scenario({"compression": {"type": "topk", "k": 10, "error_feedback": ef}})
        payload, out = upload(s, 3, update, np.ones(D, np.float32))

        assert (
            out.metrics["bytes_up"]
            == len(payload)
            == compression.size("topk", sparse.TopKParams(k=10), D)
        )
        assert ("residual" in out.extras) == ef
        assert np.count_nonzero(out.delta) == 10
        if ef:  # the stored residual (ones) was added before compressing, and what is left kept
            assert np.allclose(out.delta + out.extras["residual"], x + 1)
        else:
            assert np.allclose(out.delta[out.delta != 0], x[out.delta != 0])
