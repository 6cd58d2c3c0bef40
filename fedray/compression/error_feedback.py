"""Error feedback: what a compressor leaves out is kept and added to the next message.

e_{t+1} = (x_t + e_t) - C(x_t + e_t), and the message is C(x_t + e_t) (Seide et al. 2014;
Stich et al., "Sparsified SGD with memory", NeurIPS 2018; Karimireddy et al., "Error
feedback fixes SignSGD", ICML 2019). Summed over rounds, what was sent plus the last
residual is exactly what should have been sent: sum_t C(.) + e_T = sum_t x_t (e_0 = 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def corrected(x: np.ndarray, residual: np.ndarray | None) -> np.ndarray:
    """The vector to compress: x plus the carried residual (x itself without one)."""
    x = np.asarray(x, dtype=np.float32)
    return x if residual is None else (x + np.asarray(residual, np.float32)).astype(np.float32)


def send(
    x: np.ndarray,
    residual: np.ndarray | None,
    encode: Callable[[np.ndarray], bytes],
    decode: Callable[[bytes], np.ndarray],
) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Compress x with its residual; return (payload, what the receiver decodes, new residual).

    The new residual is computed against the decoded payload, so whatever the encoding loses
    (dropped coordinates, rounding, float32 scales) is carried, not only the codec's ideal.
    """
    target = corrected(x, residual)
    payload = encode(target)
    sent = decode(payload)
    return payload, sent, (target - sent).astype(np.float32)
