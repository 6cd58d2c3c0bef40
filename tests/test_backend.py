"""`fedray.backend`: local actors behave as Ray's do, in the caller's process (no Ray here)."""

import numpy as np
import pytest
import torch

from fedray import backend, calls


class Store:
    def __init__(self, rows: np.ndarray):
        self.rows = rows

    def read(self) -> np.ndarray:
        return self.rows

    def add(self, delta: np.ndarray) -> None:
        self.rows = self.rows + delta


class Server:
    def __init__(self, store):
        self.store = store  # another actor's handle, as the Aggregator holds the state store
        self.seen = None

    def step(self, params: np.ndarray, extra: np.ndarray) -> np.ndarray:
        self.seen = params
        self.store.add.remote(extra)
        return params + 1

    def write_into(self, params: np.ndarray) -> None:
        params += 1  # Ray's arguments are read-only: so are a local actor's

    def seen_params(self) -> np.ndarray:
        return self.seen

    def pair(self, x):
        return x, x * 2

    def fail(self):
        raise ValueError("bad client")

    def threads(self) -> int:
        return torch.get_num_threads()

    def blas_threads(self) -> list[int]:
        from threadpoolctl import threadpool_info

        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def blas_threads_here() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


class OneThread(Server):
    def __init__(self, store):
        super().__init__(store)
        torch.set_num_threads(1)


def test_calls_get_copies_not_the_callers_arrays():
    store = backend.LocalActor(Store, np.zeros(3))
    server = backend.LocalActor(Server, store)
    params = np.arange(3.0)

    out = backend.get(server.step.remote(params, np.ones(3)))

    assert out.tolist() == [1.0, 2.0, 3.0]
    assert backend.get(store.read.remote()).tolist() == [1.0, 1.0, 1.0]  # the same store
    params[0] = 7  # the caller's array, after the call: the actor kept its own copy
    assert backend.get(server.seen_params.remote()).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="read-only"):
        out[0] = 99  # results are read-only, as Ray's are
    with pytest.raises(ValueError, match="read-only"):
        backend.get(server.write_into.remote(params))


def test_refs_given_as_arguments_are_resolved_and_results_split():
    store = backend.LocalActor(Store, np.zeros(2))
    server = backend.LocalActor(Server, store)
    a, b = server.pair.options(num_returns=2).remote(np.array([1.0, 2.0]))

    assert backend.get([a, b])[1].tolist() == [2.0, 4.0]
    out = backend.get(server.step.remote(b, a))  # refs as top-level arguments: their values
    assert out.tolist() == [3.0, 5.0]
    assert backend.get(store.read.remote()).tolist() == [1.0, 2.0]
    put = backend.put(np.array([7.0]), near=server)
    assert backend.get(server.pair.remote(put))[1].tolist() == [14.0]


def test_an_error_is_raised_where_the_result_is_read():
    server = backend.LocalActor(Server, backend.LocalActor(Store, np.zeros(1)))
    first, second = server.fail.options(num_returns=2).remote()  # no error yet

    with pytest.raises(ValueError, match="bad client"):
        backend.get(second)
    with pytest.raises(ValueError, match="bad client"):
        calls.get(server.fail.remote(), 1.0, "the server")
    with pytest.raises(AttributeError):
        server._instance_of_nothing  # noqa: B018


def test_each_call_runs_with_the_threads_its_actor_chose(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)  # else Ray's actors inherit the driver's
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = backend.LocalActor(OneThread, None)
        assert torch.get_num_threads() == 2  # building it left the caller's count alone
        assert backend.get(one.threads.remote()) == 1
        assert torch.get_num_threads() == 2
        # numpy's BLAS too, as Ray's OMP_NUM_THREADS gives an actor of one CPU: a large
        # product split over more threads sums in another order (a 10,000-client aggregate)
        assert set(backend.get(one.blas_threads.remote())) == {1}
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # Ray leaves a set value to its actors
        assert backend.get(one.blas_threads.remote()) == blas_threads_here()
    finally:
        torch.set_num_threads(saved)


def test_local_refs_are_always_ready_and_kill_is_a_no_op():
    server = backend.LocalActor(Server, None)
    refs = [server.threads.remote(), server.threads.remote()]

    assert calls.split_ready(refs, timeout=0.0) == ({0, 1}, set())
    assert backend.wait(refs, timeout=0.0) == set(refs)
    backend.kill(server)
    assert backend.is_local(server) and not backend.is_local(object())
    assert backend.get(server.threads.remote()) >= 1
