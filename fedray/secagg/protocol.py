"""Secure aggregation's protocol in one import: messages, parameters, client and server sessions.

SecAgg (Bonawitz et al., "Practical secure aggregation for privacy-preserving machine
learning", CCS 2017) with a semi-honest server, and SecAgg+ (Bell et al., "Secure
single-server aggregation with (poly)logarithmic overhead", CCS 2020) when
`Params.neighbors` is below the instance's n - 1. The sessions live in `client` and
`server`, the records in `messages`; this module only gathers them.
"""

from fedray.secagg.client import ClientSession
from fedray.secagg.messages import (
    EncryptedShare,
    Params,
    ProtocolViolation,
    PublicKeys,
    SecAggAbort,
    UnmaskResponse,
)
from fedray.secagg.server import ServerSession

__all__ = [
    "ClientSession",
    "EncryptedShare",
    "Params",
    "ProtocolViolation",
    "PublicKeys",
    "SecAggAbort",
    "ServerSession",
    "UnmaskResponse",
]
