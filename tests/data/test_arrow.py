"""int64 columns through Arrow buffers equal what `pa.array` and `to_numpy` give."""

import numpy as np
import pyarrow as pa
import pytest

from fedray.data.arrow import int64_array, int64_numpy, int64_rows


def test_int64_array_round_trips_through_numpy():
    values = np.array([5, -1, 0, 2**40], dtype=np.int64)
    array = int64_array(values)
    assert array.equals(pa.array(values, pa.int64()))
    assert np.array_equal(int64_numpy(array), values)
    assert np.array_equal(int64_numpy(array.slice(1, 2)), values[1:3])  # a slice's offset


def test_int64_rows_equals_the_list_array_of_the_rows():
    rows = np.arange(12, dtype=np.int64).reshape(4, 3)
    assert int64_rows(rows).equals(pa.array(rows.tolist(), pa.list_(pa.int64())))
    assert len(int64_rows(np.zeros((0, 3), np.int64))) == 0


def test_int64_numpy_refuses_other_types_and_nulls():
    with pytest.raises(TypeError, match="int64"):
        int64_numpy(pa.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="int64"):
        int64_numpy(pa.array([1, None], pa.int64()))


def test_int64_rows_of_a_wide_table_round_trips():
    rows = np.arange(30, dtype=np.int64).reshape(5, 6)
    array = int64_rows(rows)
    assert array.type == pa.list_(pa.int64())
    assert array.to_pylist() == rows.tolist()
