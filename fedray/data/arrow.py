"""int64 columns between numpy and Arrow, through their buffers.

Not `pa.array` or `Array.to_numpy`: with pandas installed, pyarrow imports it on the first
such call (0.4 s of CPU), and every actor that builds a federation would pay for it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def int64_array(values: np.ndarray) -> pa.Array:
    """An Arrow int64 array over (a contiguous int64 copy of) `values`."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def int64_rows(rows: np.ndarray) -> pa.ListArray:
    """A list<int64> array, one list per row of the 2-d `rows` (Arrow's cast refuses more
    than 2^31 values in all, which int32 offsets cannot address)."""
    n, k = rows.shape
    offsets = np.arange(n + 1, dtype=np.int64) * k
    return pa.LargeListArray.from_arrays(int64_array(offsets), int64_array(rows.reshape(-1))).cast(
        pa.list_(pa.int64())
    )


def int64_numpy(array: pa.Array) -> np.ndarray:
    """A read-only numpy view of an int64 Arrow array without nulls."""
    if array.type != pa.int64() or array.null_count:
        raise TypeError(f"expected int64 values without nulls, got {array.type}")
    data = np.frombuffer(array.buffers()[1], dtype=np.int64)
    return data[array.offset : array.offset + len(array)]
