"""A resumed run refuses clients whose data changed since it began (`fedray.data.fingerprint`)."""

import logging

import numpy as np
import pytest

import fedray
from fedray.data import build_federation, synthetic
from fedray.data.fingerprint import fingerprint
from fedray.scenario import ScenarioError, load_scenario
from tests.factories import tiny

SYNTHETIC = tiny(
    rounds=2,
    federation={"population": 50, "clients_per_round": 5},
    data={"dataset": "synthetic", "test_clients": 5},
    evaluation={"federated_clients": 0},
    resources__backend="local",
)


def print_of(scenario: dict) -> str:
    return fingerprint(build_federation(load_scenario(scenario)))


def test_the_fingerprint_follows_the_data_and_nothing_else(monkeypatch):
    assert print_of(tiny()) == print_of(tiny(client={"lr": 0.5}))  # training is not data
    assert print_of(tiny()) != print_of(tiny(seed=4))  # another partition
    assert print_of(SYNTHETIC) != print_of(tiny())
    before = print_of(SYNTHETIC)
    real = synthetic.client_data

    def nudged(params, seed, client_id, size=None):  # one example differs by one ulp
        x, y = real(params, seed, client_id, size)
        if client_id == 3:
            x = x.copy()
            x[0, 0] = np.nextafter(x[0, 0], np.float32(np.inf))
        return x, y

    monkeypatch.setattr(synthetic, "client_data", nudged)
    assert print_of(SYNTHETIC) != before


def test_resume_refuses_clients_that_now_hold_other_data(tmp_path, monkeypatch):
    run = fedray.run(SYNTHETIC, out=tmp_path / "run")
    assert (run.out_dir / "data.sha256").read_text().strip() == print_of(SYNTHETIC)
    metrics = (run.out_dir / "metrics.parquet").read_bytes()
    real = synthetic.client_data
    monkeypatch.setattr(  # a release that draws the clients' inputs differently
        synthetic, "client_data", lambda *a, **k: (real(*a, **k)[0] * 2, real(*a, **k)[1])
    )

    with pytest.raises(ScenarioError, match="hold other data than when the run began"):
        fedray.run(None, ["rounds=3"], resume=run.out_dir)
    assert (run.out_dir / "metrics.parquet").read_bytes() == metrics  # nothing touched


@pytest.mark.parametrize("old", [None, "v0 0123abcd"])
def test_a_run_from_before_fingerprints_resumes_with_a_warning(tmp_path, caplog, old):
    """No fingerprint, or one of another version: nothing to compare, so a warning."""
    run = fedray.run(SYNTHETIC, out=tmp_path / "run")
    path = run.out_dir / "data.sha256"
    path.unlink() if old is None else path.write_text(old + "\n")

    with caplog.at_level(logging.WARNING, logger="fedray"):
        resumed = fedray.run(None, ["rounds=3"], resume=run.out_dir)

    assert resumed.summary["rounds"] == 3
    assert "predates this release's data fingerprints" in caplog.text
    assert (run.out_dir / "data.sha256").read_text().strip() == print_of(SYNTHETIC)
