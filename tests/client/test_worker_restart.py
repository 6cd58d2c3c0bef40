"""A worker that Ray restarted mid-round holds no secure-aggregation session and must say so
with empty replies, never fail the round (a reused pool restarts it with the first run's
scenario, which may have no secure aggregation)."""

from fedray.client.worker import Worker
from fedray.scenario import load_scenario
from fedray.scenario.convert import to_plain
from tests.factories import tiny

SECAGG = {"protocol": "secagg", "clip": 1.0, "bits": 20, "modulus_bits": 40, "max_weight": 1000}


def _worker(**overrides) -> Worker:
    return Worker(to_plain(load_scenario(tiny(**overrides))))


def test_a_worker_without_secure_aggregation_answers_every_stage_with_nothing():
    worker = _worker()
    assert worker.secure is None
    assert worker.secagg_share(2, {3: object()}) == []
    assert worker.secagg_mask(2, {3: object()}) == {}
    assert worker.secagg_sign(2, {3: [1, 2]}) == []
    assert worker.secagg_unmask(2, {3: [1, 2]}) == []
    assert worker.secagg_finish(2) == {}
    assert worker.collude_rows(2) == {}
    assert worker.secagg_collude(2, {3: object()}) == []
    assert worker.secagg_buffer(2, ([3], [], None)) == []


def test_a_fresh_secure_worker_holds_no_session_of_a_round_it_did_not_train():
    worker = _worker(secure_aggregation=SECAGG)
    assert worker.secure is not None
    assert worker.secagg_mask(2, {3: object()}) == {}
    assert worker.secagg_unmask(2, {3: [1, 2]}) == []
    assert worker.secagg_finish(2) == {}
