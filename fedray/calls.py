"""Waiting on actors with a deadline: no call of a run waits forever on a hung process."""

from __future__ import annotations

from ray.exceptions import GetTimeoutError

from fedray import backend
from fedray.failures import NoAnswer


def get(ref, timeout: float, what: str):
    """`ray.get(ref)`, or NoAnswer naming `what` after `timeout` seconds (a local actor's
    call has already answered: `fedray.backend`)."""
    try:
        return backend.get(ref, timeout=timeout)
    except GetTimeoutError:
        raise NoAnswer(
            f"{what} did not answer within {timeout:g} s (resources.call_timeout); the run stops "
            "here: continue it from its last checkpoint with fedray run --resume <output dir> "
            "(raise resources.call_timeout if the call is only slow)"
        ) from None


def split_ready(refs: list, timeout: float) -> tuple[set, set]:
    """Wait up to `timeout` seconds in all for `refs`; return (indices ready, indices not)."""
    if not refs:
        return set(), set()
    ready = backend.wait(refs, timeout)
    done = {i for i, ref in enumerate(refs) if ref in ready}
    return done, set(range(len(refs))) - done
