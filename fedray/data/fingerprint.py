"""A run's data in a few bytes: a resumed run checks that the clients it goes on with hold
what they held when it began.

Two things change a client's data under a run without any change to its scenario: a fedray
release that generates synthetic data differently, and a dataset file edited on disk. A
resume across either would splice two experiments together, with nothing in the outputs to
show it. The fingerprint covers the sizes of the first clients, their training and local
test examples, and the central test set: a change to the generator or the file shows in
those, at the cost of building a few clients.
"""

from __future__ import annotations

import hashlib

import numpy as np

CLIENTS = 16  # the first clients, by id, whose examples go into the fingerprint
VERSION = "v1"  # of what goes in: a fingerprint of another version cannot be compared


def fingerprint(federation) -> str:
    """`VERSION` and a SHA-256 (hex) over the first `CLIENTS` clients' sizes and examples and
    the central test set of `federation` (a `PartitionedFederation` or `SyntheticFederation`)."""
    digest = hashlib.sha256()
    ids = np.arange(min(CLIENTS, federation.num_clients), dtype=np.int64)
    _add(digest, np.asarray(federation.sizes(ids)))
    for cid in ids.tolist():
        data = federation.client(cid)
        for part in (data.x_train, data.y_train, data.x_test, data.y_test):
            _add(digest, np.asarray(part))
    for part in federation.central_test():
        _add(digest, np.asarray(part))
    return f"{VERSION} {digest.hexdigest()}"


def _add(digest, array: np.ndarray) -> None:
    """An array's dtype, shape and bytes: equal bytes of another shape differ."""
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).data)  # its buffer, not a copy
