"""How many runs go at once and with how many workers (`fedray.concurrency`), and the
slot loop that runs them (`fedray.slots.run_on_slots`), without Ray."""

import threading

import pytest

from fedray.concurrency import Share, parse_parallel, share, worker_capacity


def node(cpus, gpus=0, alive=True):
    return {"Alive": alive, "Resources": {"CPU": cpus, "GPU": gpus}}


@pytest.mark.parametrize(
    "free, nodes, cpus, gpus, expected",
    [
        ({"CPU": 4}, [node(2), node(2)], 1, 0, 4),
        ({"CPU": 3}, [node(2), node(2)], 1, 0, 3),  # another job holds one CPU
        ({"CPU": 3}, [node(1.5), node(1.5)], 1, 0, 2),  # a worker cannot straddle nodes
        ({"CPU": 8, "GPU": 1}, [node(8, 1)], 1, 0.5, 2),  # GPUs bind first
        ({"CPU": 4}, [node(4), node(4, alive=False)], 1, 0, 4),
        ({}, [node(4)], 1, 0, 0),
    ],
)
def test_capacity_is_the_free_resources_capped_by_what_each_node_holds(
    free, nodes, cpus, gpus, expected
):
    assert worker_capacity(free, nodes, cpus, gpus) == expected


@pytest.mark.parametrize(
    "capacity, todo, wanted, useful, parallel, expected",
    [
        (4, 8, "auto", 6, "auto", Share(4, 1)),  # more runs than CPUs: one worker each
        (4, 2, "auto", 6, "auto", Share(2, 2)),  # fewer runs: the CPUs shared evenly
        (4, 1, "auto", 6, "auto", Share(1, 4)),
        (8, 1, "auto", 3, "auto", Share(1, 3)),  # never more workers than the cohort
        (5, 2, "auto", 6, "auto", Share(2, 2)),
        (4, 8, 2, 6, "auto", Share(2, 2)),  # a fixed pool: as many as hold it
        (4, 8, 1, 6, 3, Share(3, 1)),  # at most --parallel
        (4, 8, "auto", 6, 2, Share(2, 2)),
        (4, 0, "auto", 6, "auto", Share(1, 4)),
    ],
)
def test_runs_at_once_and_workers_each(capacity, todo, wanted, useful, parallel, expected):
    assert share(capacity, todo=todo, wanted=wanted, useful=useful, parallel=parallel) == expected


def test_never_more_workers_than_fit():
    for capacity in range(1, 17):
        for todo in range(1, 10):
            s = share(capacity, todo=todo, wanted="auto", useful=100)
            assert s.runs * s.workers <= capacity and s.runs == min(capacity, todo)


@pytest.mark.parametrize(
    "capacity, wanted, fragment",
    [(0, "auto", "no worker fits"), (2, 3, "resources.num_workers=3 but only 2 workers fit")],
)
def test_nothing_fits_says_what_to_change(capacity, wanted, fragment):
    with pytest.raises(ValueError, match=fragment):
        share(capacity, todo=2, wanted=wanted, useful=4)


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("3", 3), (2, 2)])
def test_parallel_parses(text, value):
    assert parse_parallel(text) == value


@pytest.mark.parametrize("text", ["0", "-2", "x", "1.5", ""])
def test_bad_parallel_is_refused(text):
    with pytest.raises(ValueError, match="expected auto or a whole number >= 1"):
        parse_parallel(text)


def test_slots_run_every_job_each_on_a_slot_of_its_own(monkeypatch):
    from fedray import slots

    closed = []
    monkeypatch.setattr(slots.Slot, "close", lambda self: closed.append(self))
    seen, lock = {}, threading.Lock()

    def run_one(job, slot):
        with lock:
            seen[job] = slot
        return job * 10

    done = []
    slots.run_on_slots(range(7), run_one, runs=3, workers=1, on_done=done.append)

    assert sorted(done) == [j * 10 for j in range(7)]
    assert 1 <= len({id(s) for s in seen.values()}) <= 3 and len(closed) == 3


def test_a_failed_job_stops_the_slots_and_is_raised(monkeypatch):
    from fedray import slots

    monkeypatch.setattr(slots.Slot, "close", lambda self: None)
    ran = []

    def run_one(job, slot):
        ran.append(job)
        if job == 0:
            raise RuntimeError("cell 0 failed")
        return job

    with pytest.raises(RuntimeError, match="cell 0 failed"):
        slots.run_on_slots(range(50), run_one, runs=1, workers=1)
    assert ran == [0]
