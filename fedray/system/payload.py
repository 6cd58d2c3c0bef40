"""How many bytes a round moves per client, for the virtual clock's transfer times.

MERGE NOTE: branch `compress` provides `fedray.compression.payload_bytes(compression,
d, direction) -> int`, the size after compression. Until it lands this is the
uncompressed size of a float32 vector; the merge switches `payload_bytes` over to it,
here and nowhere else.
"""

from __future__ import annotations

FLOAT32_BYTES = 4


def payload_bytes(compression, dim: int, direction: str) -> int:
    """Bytes of one client's message: `direction` "down" (the global model) or "up" (its
    delta); today d float32 values either way (see the merge note above)."""
    if direction not in ("down", "up"):
        raise ValueError(f"direction must be 'down' or 'up'; got {direction!r}")
    del compression  # used once compression lands
    return FLOAT32_BYTES * int(dim)
