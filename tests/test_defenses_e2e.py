"""FoolsGold through the engine: its per-client history lives in the client state store's
`foolsgold` table, is checkpointed with it, and a resumed run with 2 workers is bitwise the
uninterrupted run with 1."""

import numpy as np
import pytest

import fedray
from fedray.client_store import ClientStore
from tests.factories import tiny

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.slow]

BASE = tiny(
    rounds=4,
    defense={"type": "foolsgold"},
    attack={"type": "sign_flip", "fraction": 0.25},
    evaluation={"federated_clients": 0},
    federation={"population": 12, "clients_per_round": 6},
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, warm):
    tmp = tmp_path_factory.mktemp("foolsgold")
    one = fedray.run({**BASE, "resources": {"num_workers": 1}}, out=tmp / "one", warm=warm)
    fedray.run({**BASE, "rounds": 2, "resources": {"num_workers": 2}}, out=tmp / "part", warm=warm)
    resumed = fedray.run(None, ["rounds=4"], resume=tmp / "part", warm=warm)
    return one, resumed


def test_bitwise_with_one_or_two_workers_and_after_resume(runs):
    one, resumed = runs
    assert one.params.tobytes() == resumed.params.tobytes()
    for column in ("test_accuracy", "defense_alpha_mean", "defense_alpha_min"):
        assert one.history.column(column).to_pylist() == resumed.history.column(column).to_pylist()
    saved = resumed.out_dir / "checkpoints" / "round_0000002.clients"
    assert list((saved / "foolsgold").glob("seg_*.npy"))


def test_the_history_table_is_restored_and_grows_like_the_uninterrupted_one(runs, tmp_path):
    tables = []
    for i, run in enumerate(runs):
        saved = run.out_dir / "checkpoints" / "round_0000004.clients" / "foolsgold"
        tables.append(ClientStore.load(saved, tmp_path / str(i)).get(np.arange(12)))
    (ids, rows), (_, resumed_rows) = tables
    assert rows.tobytes() == resumed_rows.tobytes()
    # 4 rounds of 6 from 12 clients: most have a history, and only those sampled do.
    assert 6 <= int((np.abs(rows).sum(axis=1) > 0).sum()) <= 12
