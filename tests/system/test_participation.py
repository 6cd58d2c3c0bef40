"""Participation counts and the max-participation epsilon bound."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fedray.privacy.accounting import epsilon
from fedray.system.participation import Participation, max_participation_epsilon


def test_counts_reporters_only_and_writes_each_count_into_its_record():
    p = Participation()
    first = [
        {"client_id": 1, "status": "trained"},
        {"client_id": 2, "status": "unavailable"},
        {"client_id": 3, "status": "rejected"},
    ]
    second = [{"client_id": 1, "status": "trained"}, {"client_id": 2, "status": "deadline"}]

    p.add(first)
    p.add(second)

    assert (p.ids.tolist(), p.counts.tolist()) == ([1, 3], [2, 1])
    assert second[0]["participation"] == 2 and "participation" not in second[1]
    assert p.summary() == {
        "participation_max": 2,
        "participation_mean": 1.5,
        "participation_clients": 2,
    }


def test_a_resumed_run_rebuilds_its_counts_up_to_the_checkpoint(tmp_path):
    parts = tmp_path / "clients.parts"
    parts.mkdir()
    rows = {"round": [1, 1, 2, 3], "client_id": [4, 5, 4, 4], "status": ["trained"] * 4}
    pq.write_table(pa.table(rows), parts / "0000001-0000003.parquet")

    p = Participation.load(tmp_path, 2)

    assert (p.ids.tolist(), p.counts.tolist()) == ([4, 5], [2, 1])


def test_max_participation_is_that_many_unsampled_gaussian_mechanisms():
    zs = [1.5, 1.0, 2.0, 1.2]

    bound = max_participation_epsilon(zs, 2, 1e-5, "rdp")

    # The two smallest z (the worst rounds to have been in), at q = 1.
    assert bound == pytest.approx(epsilon([(1.0, 1.0, 1), (1.2, 1.0, 1)], delta=1e-5))
    assert bound > epsilon([(1.0, 0.1, 4)], delta=1e-5)  # no amplification by sampling
    assert max_participation_epsilon(zs, 0, 1e-5, "rdp") == 0.0


def test_the_budget_projection_follows_the_max_participation_accountant():
    from fedray.scenario import load_scenario
    from fedray.system.rounds import SystemRounds
    from tests.factories import tiny

    system = {"mode": "sync", "accountant": "max_participation"}
    central = {"mode": "central", "noise_multiplier": 1.3}
    rounds = SystemRounds(load_scenario(tiny(system=system, privacy=central)), dim=10)
    rounds.participation.add([{"client_id": 7, "status": "trained"}])
    rounds.zs = [1.3]

    # The most-participating client may report once more: two rounds at q = 1.
    assert rounds.projection(1.3) == pytest.approx(
        epsilon([(1.3, 1.0, 1), (1.3, 1.0, 1)], delta=1e-5)
    )
    poisson = SystemRounds(load_scenario(tiny(system={"mode": "sync"}, privacy=central)), dim=10)
    assert poisson.projection(1.3) is None
