"""Where a run's actors live: Ray actors, or the same classes in the driver's process
(`resources.backend: local`) behind the same calls.

The orchestration layer (`fedray.actors`, `fedray.client.pool`, `fedray.engine`, ...) calls
actors as Ray does (`actor.method.remote(...)`, `.options(num_returns=n)`, refs passed as
arguments) and reads results through `get`, `wait`, `put` and `kill` here, which accept
either kind. A local call runs at once, in the caller's thread, on a copy of its arguments
(as Ray's serialisation gives an actor its own copy), and keeps its result, or the exception
it raised, for `get`. Nothing here starts Ray: a local run needs no cluster, and pays for no
processes, no Ray start-up and no serialisation through the object store.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys

import torch
from threadpoolctl import ThreadpoolController, threadpool_limits


class LocalRef:
    """What a local call returned (or raised), until `get` reads it."""

    __slots__ = ("_value", "_error")

    def __init__(self, value=None, error: BaseException | None = None):
        self._value, self._error = value, error

    def value(self):
        if self._error is not None:
            raise self._error
        return self._value


class LocalActor:
    """An instance of an actor class in this process, called like a Ray actor handle.

    Thread counts are per process: each call runs with the torch threads the actor set for
    itself when it was built (a Worker uses `resources.num_cpus`, the Aggregator one), and
    with as many BLAS threads (numpy's OpenBLAS), as in its own Ray process, where Ray sets
    OMP_NUM_THREADS to the actor's CPUs unless the environment sets it (then the actor
    inherits the driver's, and so does this). A BLAS product split over more threads sums
    in another order: a 10,000-client aggregate in the driver's 2 threads differs in its
    last bits from the Aggregator actor's.
    """

    def __init__(self, cls, *args, **kwargs):
        args, kwargs = _resolve(args), _resolve(kwargs)
        saved = torch.get_num_threads()
        try:
            # Read inside: on this project's torch build the count read after leaving
            # threadpoolctl's context was the caller's, not the one the actor set.
            with _blas(1):
                self._instance = cls(*_copy(args), **_copy(kwargs))
                self._threads = torch.get_num_threads()
        finally:
            torch.set_num_threads(saved)
        self._name = cls.__name__
        # The BLAS libraries loaded by now, the actor's imports included: finding them
        # reads the process's memory map (2 ms), too slow to repeat on every call; it is
        # repeated when a call has imported modules (a defense importing scikit-learn
        # brings scipy's own OpenBLAS).
        self._libraries = ThreadpoolController()
        self._modules = len(sys.modules)

    def __getattr__(self, name: str) -> _LocalMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return _LocalMethod(self, name)

    def __repr__(self) -> str:
        return f"LocalActor({self._name})"

    def _call(self, name: str, num_returns: int, args, kwargs):
        if len(sys.modules) != self._modules:
            self._libraries, self._modules = ThreadpoolController(), len(sys.modules)
        saved = torch.get_num_threads()
        try:
            with _blas(self._threads, self._libraries):
                torch.set_num_threads(self._threads)
                out = getattr(self._instance, name)(
                    *_copy(_resolve(args)), **_copy(_resolve(kwargs))
                )
        except Exception as exc:  # raised by `get`, as Ray raises a task's error there
            return LocalRef(error=exc) if num_returns == 1 else (LocalRef(error=exc),) * num_returns
        finally:
            torch.set_num_threads(saved)
        out = _copy(out)
        if num_returns == 1:
            return LocalRef(out)
        return tuple(LocalRef(o) for o in out)


def _blas(threads: int, libraries: ThreadpoolController | None = None):
    """BLAS limited to `threads` (in `libraries`, else those loaded now), as Ray's
    OMP_NUM_THREADS limits an actor's; nothing when the environment fixes BLAS threads,
    which Ray's actors inherit as the driver did."""
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS"):
        return contextlib.nullcontext()
    if libraries is not None:
        return libraries.limit(limits=threads, user_api="blas")
    return threadpool_limits(limits=threads, user_api="blas")


class _LocalMethod:
    def __init__(self, actor: LocalActor, name: str, num_returns: int = 1):
        self._actor, self._name, self._num_returns = actor, name, num_returns

    def options(self, num_returns: int = 1, **_) -> _LocalMethod:
        return _LocalMethod(self._actor, self._name, num_returns)

    def remote(self, *args, **kwargs):
        return self._actor._call(self._name, self._num_returns, args, kwargs)


def is_local(handle) -> bool:
    return isinstance(handle, LocalActor)


def get(refs, timeout: float | None = None):
    """`ray.get` for Ray refs, the value (or the raised error) for local ones; lists of either."""
    if isinstance(refs, LocalRef):
        return refs.value()
    if isinstance(refs, list) and any(isinstance(r, LocalRef) for r in refs):
        return [get(r) for r in refs]
    import ray

    return ray.get(refs, timeout=timeout)


def wait(refs: list, timeout: float | None) -> set:
    """The refs among `refs` ready within `timeout` seconds in all (local ones always are)."""
    if all(isinstance(r, LocalRef) for r in refs):
        return set(refs)
    import ray

    ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout, fetch_local=False)
    return set(ready)


def put(value, near):
    """Store `value` for the actors of the run that `near` (any of its actor handles) is in."""
    if is_local(near):
        return LocalRef(value)
    import ray

    return ray.put(value)


def kill(handle, **kwargs) -> None:
    """Stop an actor; a local one is dropped with its last reference."""
    if is_local(handle):
        return
    import ray

    ray.kill(handle, **kwargs)


def _resolve(args):
    """Refs given as top-level arguments become their values, as Ray resolves them."""
    if isinstance(args, dict):
        return {k: v.value() if isinstance(v, LocalRef) else v for k, v in args.items()}
    return tuple(a.value() if isinstance(a, LocalRef) else a for a in args)


class _Pickler(pickle.Pickler):
    """Copies values, not actor handles or refs: a handle passed to an actor (the client
    state store, to the Aggregator) must stay the one actor."""

    def __init__(self, file, kept: list, buffers: list):
        super().__init__(file, protocol=5, buffer_callback=buffers.append)
        self.kept = kept

    def persistent_id(self, obj):
        if isinstance(obj, LocalActor | LocalRef):
            self.kept.append(obj)
            return len(self.kept) - 1
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, kept: list, buffers: list):
        super().__init__(file, buffers=buffers)
        self.kept = kept

    def persistent_load(self, pid):
        return self.kept[pid]


def _copy(value):
    """A deep copy made the way Ray ships a value to another process (pickle 5, arrays out
    of band), so that an actor never shares an array with its caller. Arrays come out
    read-only, as Ray's do from its object store: code that writes into an argument or a
    result fails here as it would on Ray, not only on a cluster."""
    if value is None or isinstance(value, int | float | str | bool):
        return value
    kept: list = []
    buffers: list = []
    buf = io.BytesIO()
    _Pickler(buf, kept, buffers).dump(value)
    buf.seek(0)
    return _Unpickler(buf, kept, [bytes(b.raw()) for b in buffers]).load()
