"""The server half of a round: screening bad updates, then the strategy."""

import numpy as np
import pytest

from fedray.scenario import load_scenario
from fedray.server.state import ServerState, screen, server_round
from fedray.strategies.fedavg import fedavg
from fedray.types import UpdateBatch
from tests.strategies.common import step

D = 3


def batch(deltas, examples, ids=None) -> UpdateBatch:
    deltas = np.asarray(deltas, dtype=np.float32)
    ids = np.arange(10, 10 + len(deltas)) if ids is None else np.asarray(ids)
    return UpdateBatch(ids.astype(np.int64), deltas, np.asarray(examples, dtype=np.int64))


def strategy(**params):
    """A scenario whose strategy is FedAvg with `params` (server_round reads the scenario)."""
    return load_scenario({"strategy": {"name": "fedavg", **params}})


GOOD = [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "rows, examples, keep, counts",
    [
        ([GOOD, GOOD], [4, 5], [True, True], (0, 0)),
        ([GOOD, [np.nan, 0, 0]], [4, 5], [True, False], (1, 0)),
        ([[np.inf, 0, 0], GOOD, [0, -np.inf, 0]], [1, 1, 1], [False, True, False], (2, 0)),
        ([GOOD, GOOD], [0, 5], [False, True], (0, 1)),
        ([[np.nan, 0, 0], GOOD, GOOD, GOOD], [0, 0, 2, 3], [False, False, True, True], (1, 1)),
    ],
)
def test_screen_rejects_nonfinite_and_empty_rows_and_counts_each(rows, examples, keep, counts):
    mask, got = screen(batch(rows, examples), D)

    assert mask.tolist() == keep
    assert (got["rejected_nonfinite"], got["rejected_empty"], got["rejected_shape"]) == (*counts, 0)


@pytest.mark.parametrize("width", [D - 1, D + 1])
def test_screen_rejects_every_row_of_the_wrong_width(width):
    mask, counts = screen(batch(np.ones((4, width)), [1, 1, 1, 1]), D)

    assert not mask.any()
    assert counts == {"rejected_shape": 4, "rejected_nonfinite": 0, "rejected_empty": 0}


def test_screen_of_an_empty_batch_keeps_nothing():
    mask, counts = screen(UpdateBatch.stack([], D), D)

    assert mask.shape == (0,)
    assert sum(counts.values()) == 0


@pytest.mark.parametrize(
    "rows, examples",
    [
        ([[np.nan, 0, 0], [0, np.inf, 0]], [3, 4]),
        ([GOOD, GOOD], [0, 0]),
        (np.ones((2, D + 2)), [3, 4]),
    ],
)
def test_round_with_every_row_rejected_keeps_params_and_bumps_the_round(rows, examples):
    params = np.array([0.5, -1.0, 2.0], np.float32)
    state = ServerState(round=4, params=params, strategy_state={"k": 1})

    new, metrics = server_round(state, batch(rows, examples), strategy())

    assert new.round == 5
    assert new.params.tobytes() == state.params.tobytes()
    assert new.strategy_state == {"k": 1}
    assert metrics["updates_aggregated"] == 0 and metrics["updates_received"] == 2
    assert metrics["rejected_ids"] == [10, 11]


def test_round_averages_only_the_accepted_rows_and_lists_the_rejected_ids():
    rows = [[1.0, 1.0, 1.0], [np.nan, 0, 0], [3.0, 5.0, 7.0], [9.0, 9.0, 9.0]]
    examples = [1, 2, 3, 0]
    params = np.zeros(D, np.float32)
    cfg = strategy(server_lr=0.5)
    updates = batch(rows, examples, ids=[2, 5, 7, 9])

    new, metrics = server_round(ServerState(0, params), updates, cfg)

    expected, _, _ = step(fedavg, params, [rows[0], rows[2]], [1, 3], cfg.strategy.params)
    assert new.params.tobytes() == expected.tobytes()
    assert new.round == 1
    assert metrics["rejected_ids"] == [5, 9]
    assert (metrics["updates_received"], metrics["updates_aggregated"]) == (4, 2)
    assert (metrics["rejected_nonfinite"], metrics["rejected_empty"]) == (1, 1)


def test_round_does_not_modify_the_previous_state():
    state = ServerState(0, np.zeros(D, np.float32))

    server_round(state, batch([GOOD], [2]), strategy())

    assert state.round == 0 and not state.params.any()


def test_strategy_returning_nonfinite_params_is_an_error():
    cfg = strategy(server_lr=1.0)
    huge = np.full((1, D), np.finfo(np.float32).max, np.float32)
    state = ServerState(0, np.full(D, np.finfo(np.float32).max, np.float32))

    with np.errstate(over="ignore"), pytest.raises(ValueError, match="finite"):
        server_round(state, batch(huge, [1]), cfg)


def test_a_short_round_below_the_defense_precondition_applies_nothing():
    scenario = load_scenario(
        {
            "federation": {"population": 20, "clients_per_round": 8},
            "defense": {"type": "krum", "f": 2},
        }
    )
    params = np.zeros(D, np.float32)
    short = batch(np.ones((5, D)), [1] * 5)  # 5 <= 2f + 2: three clients were lost this round

    new, metrics = server_round(ServerState(0, params), short, scenario)

    assert new.round == 1 and new.params.tobytes() == params.tobytes()
    assert metrics["defense_skipped"] == 1.0 and "krum needs" in metrics["defense_error"]


def test_a_nonfinite_control_variate_rejects_its_row():
    rows = UpdateBatch(
        np.array([1, 2]),
        np.ones((2, D), np.float32),
        np.array([3, 3]),
        {"control_delta": np.array([[np.nan, 0, 0], [0, 0, 0]], np.float32)},
    )

    keep, counts = screen(rows, D)

    assert keep.tolist() == [False, True] and counts["rejected_nonfinite"] == 1
