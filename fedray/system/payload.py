"""How many bytes a round moves per client, for the virtual clock's transfer times.

The sizes are the real encoded lengths `fedray.compression.payload_bytes` gives, header
included: the global model down (or, with downlink compression, the server's compressed
delta to the client's copy), and the client's compressed update up.
"""

from __future__ import annotations

from fedray import compression


def payload_bytes(section, dim: int, direction: str) -> int:
    """Bytes of one client's message under `section` (scenario.compression, or None):
    `direction` "down" or "up".

    With downlink compression a client the run has never seen downloads the whole model,
    which is larger; the clock charges every download the delta's size (a lower bound for
    first-time clients). SCAFFOLD's variates, sent beside the model, are not charged.
    """
    return compression.payload_bytes(section, int(dim), direction)
