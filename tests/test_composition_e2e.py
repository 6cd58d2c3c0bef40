"""Capabilities built apart, run together: compression on the virtual clock and inside
FedBuff's buffers, error feedback included."""

import numpy as np
import pyarrow.parquet as pq
import pytest

import fedray
from fedray import compression
from fedray.actors import WarmActors
from fedray.scenario import load_scenario
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

TOPK_EF = {"type": "topk", "fraction": 0.1, "error_feedback": True}
ASYNC = {
    "mode": "async",
    "devices": {"speed": {"median": 20.0, "sigma": 0.8}},
    "fedbuff": {"concurrency": 6, "buffer": 3},
}
# Slow uplinks: a round's time on the clock is mostly the upload.
SLOW_UP = {
    "mode": "sync",
    "devices": {
        "speed": {"median": 1000.0, "sigma": 0.0},
        "upload": {"median": 500.0, "sigma": 0.0},
    },
}


@pytest.fixture(scope="module")
def warm():
    actors = WarmActors()
    yield actors
    actors.close()


def test_fedbuff_with_compressed_updates_and_error_feedback_is_bitwise_with_1_or_2_workers(
    tmp_path, warm
):
    base = tiny(rounds=4, system=ASYNC, compression=TOPK_EF)
    two = fedray.run(base, out=tmp_path / "two", warm=warm)
    one = fedray.run(
        {**base, "resources": {"num_workers": 1, "num_cpus": 1}}, out=tmp_path / "one", warm=warm
    )

    assert one.params.tobytes() == two.params.tobytes()
    rows = pq.read_table(two.out_dir / "clients.parquet").to_pylist()
    sent = [r for r in rows if r["status"] == "trained"]
    d = two.params.size
    section = load_scenario(base).compression
    assert sent and {r["bytes_up"] for r in sent} == {compression.payload_bytes(section, d, "up")}
    assert np.isfinite(two.history.column("test_accuracy").to_pylist()[-1])


def test_the_clock_charges_the_compressed_upload(tmp_path, warm):
    plain = fedray.run(tiny(rounds=1, system=SLOW_UP), out=tmp_path / "plain", warm=warm)
    signed = fedray.run(
        tiny(rounds=1, system=SLOW_UP, compression={"type": "sign"}),
        out=tmp_path / "sign",
        warm=warm,
    )

    def upload_time(result):
        return result.history.column("round_virtual_seconds").to_pylist()[0]

    d = plain.params.size
    sign = load_scenario(tiny(compression={"type": "sign"})).compression
    full, small = compression.payload_bytes(None, d, "up"), compression.payload_bytes(sign, d, "up")
    # Same speeds and download: the difference is exactly the upload's bytes over 500 B/s.
    assert upload_time(plain) - upload_time(signed) == pytest.approx((full - small) / 500.0)
