"""The scenario's `compression` section: the uplink codec with its parameters, error
feedback, and the downlink codec (see `fedray.compression` for the codecs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fedray.compression import CODECS


@dataclass(frozen=True)
class Downlink:
    """What the server sends a client that holds a copy of the model: the delta since that
    copy, compressed (`type`: none, topk, randomk, qsgd, sign). The server keeps each client's
    copy, so what one message leaves out the next one carries (server-side error feedback)."""

    __tag__: ClassVar = ("type", CODECS)
    type: str = "none"
    params: Any = None


@dataclass(frozen=True)
class Compression:
    """The uplink codec for each client's update (`type`, its parameters beside it), error
    feedback on the client, and the downlink codec (see fedray/compression/)."""

    __tag__: ClassVar = ("type", CODECS)
    type: str = "none"
    error_feedback: bool = False  # carry what compression left out into the next round
    downlink: Downlink = field(default_factory=Downlink)
    params: Any = None
