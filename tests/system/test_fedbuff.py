"""FedBuff's event schedule: staleness weights, buffers, ties by id, pure replay."""

import numpy as np
import pytest

from fedray.system.config import Devices, FedBuff, Speed, System
from fedray.system.fedbuff import FedBuffClock, staleness_weight


def schedule(steps=6, sigma=0.8, sizes=60, **fedbuff):
    system = System(
        mode="async",
        devices=Devices(speed=Speed(20.0, sigma)),
        fedbuff=FedBuff(**{"concurrency": 8, "buffer": 4, **fedbuff}),
    )
    c = FedBuffClock(
        system,
        seed=0,
        population=50,
        sizes=lambda ids: np.full(len(ids), sizes),
        epochs=1,
        batch_size=16,
        bytes_down=4000,
        bytes_up=4000,
    )
    return [c.next_interval() for _ in range(steps)]


@pytest.mark.parametrize(
    "kind, tau, expected",
    [
        ("constant", [0, 3], [1.0, 1.0]),
        ("polynomial", [0, 3], [1.0, 0.5]),  # (1 + 3)^-0.5
        ("hinge", [4, 6], [1.0, 1 / 21]),  # b = 4; a = 10: 1 / (10 (6 - 4) + 1)
    ],
)
def test_staleness_weights_by_hand(kind, tau, expected):
    cfg = FedBuff(staleness=kind, exponent=0.5, hinge_a=10.0, hinge_b=4.0)

    np.testing.assert_allclose(staleness_weight(cfg, np.array(tau)), expected)


def test_each_step_applies_a_full_buffer_in_time_order_with_true_staleness():
    intervals = schedule()

    times = [i.time for i in intervals]
    assert times == sorted(times)
    for v, interval in enumerate(intervals):
        assert interval.version == v and len(interval.buffer) == 4
        finishes = [r["sim_finish"] for r in interval.buffer]
        assert finishes == sorted(finishes) and max(finishes) == interval.time
        assert all(r["staleness"] == v - r["model_version"] for r in interval.buffer)
        assert all(r["model_version"] <= v for r in interval.buffer)
    assert max(r["staleness"] for i in intervals for r in i.buffer) > 0


def test_a_client_is_never_in_flight_twice():
    intervals = schedule(steps=10)
    flying: dict[int, int] = {}
    for interval in intervals:
        for cid, _ in interval.launched:
            assert cid not in flying
            flying[cid] = interval.version
        for r in interval.buffer:
            assert flying.pop(r["client_id"]) == r["model_version"]


def test_ties_are_broken_by_client_id():
    # Equal sizes and speeds: every client of a fill reports at the same instant.
    intervals = schedule(steps=3, sigma=0.0, concurrency=4, buffer=4)

    for interval in intervals:
        ids = [r["client_id"] for r in interval.buffer]
        assert ids == sorted(ids)
        assert all(r["staleness"] == 0 for r in interval.buffer)


def test_buffer_equal_to_concurrency_with_equal_times_replays_synchronous_cohorts():
    from fedray import seeding
    from fedray.engine import sample_clients

    intervals = schedule(steps=3, sigma=0.0, concurrency=5, buffer=5)

    for v, interval in enumerate(intervals):
        cohort = sample_clients(0, v + 1, 50, 5, seeding.SAMPLE)
        assert sorted(c for c, _ in interval.launched) == cohort.tolist()


def test_the_schedule_is_a_pure_function_of_the_scenario():
    a, b = schedule(steps=5), schedule(steps=5)

    assert [i.buffer for i in a] == [i.buffer for i in b]
    assert [i.launched for i in a] == [i.launched for i in b]
