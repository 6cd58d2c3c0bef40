"""FedScale-style traces read from CSV and Parquet; the shipped example trace."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fedray.system.availability import online
from fedray.system.config import Availability, Devices, System
from fedray.system.devices import profiles
from fedray.system.trace import availability_trace, device_trace

SHIPPED = Path(__file__).parents[2] / "scenarios" / "traces"


def test_device_trace_converts_fedscale_units(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("client_id,computation,communication\n1,50,8000\n0,10,800\n")
    system = System(mode="sync", devices=Devices(source="trace", trace=str(path)))

    p = profiles(system, 0, np.array([0, 1, 2, 3]))

    # Sorted by id; client c takes row c mod 2. 10 ms/sample = 100 samples/s; 800 kbit/s
    # = 100,000 B/s.
    np.testing.assert_allclose(p.speed, [100.0, 20.0, 100.0, 20.0])
    np.testing.assert_allclose(p.upload, [1e5, 1e6, 1e5, 1e6])
    np.testing.assert_allclose(p.download, p.upload)


def test_availability_trace_in_rows_or_lists_repeats_every_finish_time(tmp_path):
    rows = tmp_path / "a.csv"
    rows.write_text(
        "client_id,active,inactive,finish_time\n0,10,20,100\n0,50,60,100\n1,0,100,100\n"
    )
    lists = tmp_path / "a.parquet"
    pq.write_table(
        pa.table(
            {
                "client_id": [0, 1],
                "active": [[10, 50], [0]],
                "inactive": [[20, 60], [100]],
                "finish_time": [100, 100],
            }
        ),
        lists,
    )
    for path in (rows, lists):
        cfg = Availability(type="trace", trace=str(path))
        got = [online(cfg, 0, 1, [0, 1], t).tolist() for t in (5, 15, 55, 115, 160)]

        assert got == [[False, True], [True, True], [True, True], [True, True], [False, True]]


def test_shipped_example_traces_read_and_are_diurnal():
    devices = device_trace(str(SHIPPED / "devices.csv"))
    trace = availability_trace(str(SHIPPED / "availability.csv"))

    night = trace.online(np.arange(200), 2 * 3600.0).mean()
    day = trace.online(np.arange(200), 15 * 3600.0).mean()
    assert len(devices.speed) == 200 and (devices.speed > 0).all()
    assert night > 0.4 and day < 0.1


def test_a_bad_trace_row_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("client_id,computation,communication\n0,0,100\n")

    with pytest.raises(ValueError, match="must be positive"):
        device_trace(str(path))
