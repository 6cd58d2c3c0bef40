"""Compression inside a round: downloads onto a copy, the wire batch and its decoding, the
client state store's tables across a checkpoint."""

import numpy as np

from fedray import compression
from fedray.compression import clients
from fedray.scenario import load_scenario
from fedray.server.client_state import ClientStateStore
from fedray.types import ClientUpdate

D = 64


def test_download_sends_the_whole_model_first_then_compressed_deltas_to_the_copy():
    s = load_scenario({"compression": {"downlink": {"type": "topk", "k": 4}}})
    params = np.random.default_rng(0).standard_normal(D).astype(np.float32)

    start, first = clients.download(s, 1, 5, params, None)
    assert start.tobytes() == params.tobytes() and first == 6 + 4 * D

    copy = params - np.eye(D, dtype=np.float32)[3] * 10 - np.eye(D, dtype=np.float32)[9]
    start, later = clients.download(s, 2, 5, params, copy)
    assert later == compression.size("topk", s.compression.downlink.params, D)
    # The largest differences travel, so the copy moves onto them (float32 sums).
    assert np.isclose(start[3], params[3], atol=1e-6) and np.isclose(start[9], params[9])
    assert np.array_equal(np.flatnonzero(start != copy), [3, 9])


def test_wire_batch_carries_payloads_that_the_server_decodes_to_what_was_sent():
    s = load_scenario({"compression": {"type": "qsgd", "bits": 4}})
    rng = np.random.default_rng(2)
    updates, payloads = [], []
    for cid in (9, 2, 5):
        u = ClientUpdate(cid, rng.standard_normal(D).astype(np.float32), 3, {}, {"num_steps": 1})
        payload, sent = clients.upload(s, 1, u, None)
        updates.append(sent)
        payloads.append(payload)

    batch = clients.wire_batch(updates, payloads, D)
    assert batch.deltas.shape == (3, 0) and batch.client_ids.tolist() == [2, 5, 9]
    decoded = clients.decode_batch(batch, D)
    by_id = {u.client_id: u.delta for u in updates}
    assert all(decoded.deltas[i].tobytes() == by_id[c].tobytes() for i, c in enumerate([2, 5, 9]))


def test_a_malformed_payload_becomes_a_rejected_row_not_a_crash():
    s = load_scenario({"compression": {"type": "sign"}})
    u = ClientUpdate(1, np.ones(D, np.float32), 3, {}, {})
    payload, sent = clients.upload(s, 1, u, None)
    batch = clients.wire_batch([sent], [payload[:5]], D)

    assert np.isnan(clients.decode_batch(batch, D).deltas).all()


def test_traffic_totals_and_means():
    rows = [{"bytes_up": 10, "bytes_down": 100}, {"bytes_up": 30, "bytes_down": 100}, {}]
    assert clients.traffic(rows) == {
        "bytes_up_total": 40,
        "bytes_up_mean": 20.0,
        "bytes_down_total": 200,
        "bytes_down_mean": 100.0,
    }


def test_store_tables_survive_a_checkpoint_bitwise(tmp_path):
    rng = np.random.default_rng(4)
    store = ClientStateStore(D, str(tmp_path / "live"), tables=("residual", "copy"))
    store.add(np.array([4, 1]), rng.standard_normal((2, D)))
    store.put("residual", np.array([1, 8, 3]), rng.standard_normal((3, D)))
    store.put("copy", np.array([8]), rng.standard_normal((1, D)))
    saved = store.save(str(tmp_path / "ckpt"))
    store.put("residual", np.array([1]), np.zeros((1, D)))  # after the checkpoint: not in it

    back = ClientStateStore(
        D, str(tmp_path / "again"), checkpoint=saved, tables=("residual", "copy")
    )
    ids = np.array([1, 3, 4, 8, 99])
    got, fresh = (
        back.rows(ids),
        ClientStateStore(D, str(tmp_path / "x"), tables=("residual", "copy")),
    )
    assert got["control"][1].tobytes() == store.rows(ids)["control"][1].tobytes()
    assert got["copy"][1].tobytes() == store.rows(ids)["copy"][1].tobytes()
    assert got["residual_known"].tolist() == [True, True, False, True, False]
    assert got["copy_known"].tolist() == [False, False, False, True, False]
    assert not np.array_equal(got["residual"][1][0], store.rows(ids)["residual"][1][0])
    assert not fresh.rows(ids)["residual_known"].any()


def test_a_model_attackers_crafted_rows_go_through_the_codec_and_honest_rows_do_not():
    s = load_scenario(
        {
            "compression": {"type": "topk", "k": 3},
            "attack": {"type": "sign_flip", "fraction": 0.2},
        }
    )
    rng = np.random.default_rng(3)
    deltas = rng.standard_normal((4, D)).astype(np.float32)
    batch = clients.UpdateBatch(np.arange(4), deltas, np.ones(4, np.int64))
    bad = np.array([False, True, False, True])

    out = clients.recompress(s, 2, batch, bad)

    assert [np.count_nonzero(row) for row in out.deltas] == [D, 3, D, 3]
    assert out.deltas[~bad].tobytes() == deltas[~bad].tobytes()
    # A data attack's update was trained poisoned and compressed on the worker already.
    data = load_scenario(
        {"compression": {"type": "topk", "k": 3}, "attack": {"type": "label_flip", "fraction": 0.2}}
    )
    assert clients.recompress(data, 2, batch, bad).deltas.tobytes() == deltas.tobytes()


def test_tensorboard_charts_bytes_against_accuracy_for_compressed_runs_only():
    from fedray.metrics.dashboard import layout
    from fedray.metrics.tensorboard import tag

    charts = layout(load_scenario({"compression": {"type": "sign"}}))
    chart = charts["communication: bytes against accuracy"]["bytes sent so far (up, down)"]
    assert chart[1] == [
        "^communication/bytes_up_cumulative$",
        "^communication/bytes_down_cumulative$",
    ]
    assert "communication: bytes against accuracy" not in layout(load_scenario({}))
    assert tag("bytes_up_total") == "communication/bytes_up_total"
