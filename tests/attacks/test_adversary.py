"""The malicious set: reproducible from the seed, the right size; the round schedule."""

import numpy as np
import pytest

from fedray.attacks import is_active, malicious_clients


def test_malicious_set_is_reproducible_from_the_seed():
    first = malicious_clients(42, 1000, 0.2)
    again = malicious_clients(42, 1000, 0.2)
    other = malicious_clients(43, 1000, 0.2)

    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "population, fraction_or_count, size",
    [(50, 0.2, 10), (100, 0.29, 29), (7, 1.0, 7), (10, 0.0, 0), (50, 3, 3), (10, 10, 10)],
)
def test_malicious_set_has_the_right_size(population, fraction_or_count, size):
    ids = malicious_clients(0, population, fraction_or_count)

    assert len(ids) == size and ids.dtype == np.int64
    assert np.all(np.diff(ids) > 0) and (size == 0 or 0 <= ids[0] <= ids[-1] < population)


def test_a_huge_population_costs_only_the_set():
    ids = malicious_clients(1, 10**9, 5)

    assert len(ids) == 5 and ids[-1] < 10**9


@pytest.mark.parametrize(
    "round_, start, every, expected",
    [
        (1, 1, 1, True),
        (4, 1, 1, True),
        (2, 3, 1, False),
        (3, 3, 2, True),
        (4, 3, 2, False),
        (5, 3, 2, True),
    ],
)
def test_is_active(round_, start, every, expected):
    assert is_active(round_, start, every) is expected


@pytest.mark.parametrize(
    "round_, stop, expected",
    [(5, 5, True), (7, 5, False), (7, 9, True), (9, 8, False), (31, None, True)],
)
def test_is_active_stops_after_stop_round(round_, stop, expected):
    assert is_active(round_, 3, 2, stop) is expected  # rounds 3, 5, 7, ... up to stop


def test_a_stop_round_before_the_start_is_refused_and_runtime_follows_it():
    from fedray.attacks import runtime
    from fedray.scenario import ScenarioError, load_scenario

    attack = {"type": "sign_flip", "fraction": 0.2, "start_round": 4}
    with pytest.raises(ScenarioError, match="attack.stop_round: the attack would stop before"):
        load_scenario({"attack": {**attack, "stop_round": 3}})
    s = load_scenario({"attack": {**attack, "stop_round": 6}})
    assert [r for r in range(1, 10) if runtime.active(s, r)] == [4, 5, 6]
