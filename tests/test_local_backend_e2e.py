"""`resources.backend: local` end to end: the worker and the Aggregator in the driver's
process give a Ray pool's bits, resume, run `fedray stress`, and start no Ray."""

import json
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

import fedray
from fedray.cli import main
from tests.factories import tiny

pytestmark = pytest.mark.slow

FAST = {"federated_clients": 0}
SECAGG = {"protocol": "secagg", "clip": 1.0, "bits": 20, "modulus_bits": 40, "max_weight": 1000}
ASYNC = {
    "mode": "async",
    "devices": {"speed": {"median": 20.0, "sigma": 0.8}},
    "fedbuff": {"concurrency": 8, "buffer": 4},
}
CASES = {
    "fedavg": tiny(rounds=3),
    # the client state store, read by the worker and written by the Aggregator
    "scaffold": tiny(rounds=3, strategy={"name": "scaffold"}, evaluation=FAST),
    # the protocol's stages between the Aggregator and the worker, with dropouts
    "secagg": tiny(
        rounds=2, evaluation=FAST, secure_aggregation={**SECAGG, "dropout": {"masked_input": 0.2}}
    ),
    # versions in flight, put in the store by the driver
    "fedbuff": tiny(rounds=4, system=ASYNC, evaluation=FAST),
    "local_dp": tiny(
        rounds=2, evaluation=FAST, privacy={"mode": "local", "noise_multiplier": 1.0, "clip": 1.0}
    ),
    # torch's global generator: the loop seeds it per client for dropout, and so does the
    # centralized baseline, which must not overlap the rounds in one process
    "dropout_baseline": tiny(
        rounds=3,
        model={"type": "tests.plugins:dropout_mlp"},
        evaluation={**FAST, "centralized_baseline": True},
    ),
}


def local(scenario: dict) -> dict:
    return {**scenario, "resources": {**scenario["resources"], "backend": "local"}}


def untimed(table) -> list[dict]:
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in table.to_pylist()]


@pytest.mark.parametrize("case", list(CASES))
def test_local_gives_a_ray_pools_bits(case, tmp_path, warm):
    on_ray = fedray.run(CASES[case], out=tmp_path / "ray", warm=warm)
    here = fedray.run(local(CASES[case]), out=tmp_path / "local")

    assert here.summary["params_sha256"] == on_ray.summary["params_sha256"]
    assert untimed(here.history) == untimed(on_ray.history)
    assert here.summary["backend"] == "local" and on_ray.summary["backend"] == "ray"
    assert here.summary["num_workers"] == 1 and here.summary["nodes"][0]["node_id"] == "local"
    clients = [pq.read_table(r.out_dir / "clients.parquet") for r in (here, on_ray)]
    assert untimed(clients[0]) == untimed(clients[1])


def test_a_local_run_resumes_to_the_same_bits(tmp_path, warm):
    full = fedray.run(CASES["scaffold"], out=tmp_path / "full", warm=warm)
    fedray.run(local({**CASES["scaffold"], "rounds": 2}), out=tmp_path / "part")

    resumed = fedray.run(None, ["rounds=3"], resume=tmp_path / "part")

    assert resumed.summary["params_sha256"] == full.summary["params_sha256"]
    assert resumed.summary["backend"] == "local"


def test_a_local_run_starts_no_ray(tmp_path):
    """In a fresh interpreter: the run ends with Ray never initialised."""
    script = (
        "import json, sys, ray, fedray\n"
        "r = fedray.run(json.loads(sys.argv[1]), out=sys.argv[2], progress=False)\n"
        "assert not ray.is_initialized()\n"
        "print(json.dumps(r.summary))\n"
    )
    scenario = local(tiny(rounds=2))
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(scenario), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["backend"] == "local" and summary["rounds"] == 2


def write(tmp_path, scenario) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return str(path)


def test_local_refuses_an_address_and_side_by_side_stress(tmp_path, capsys):
    path = write(tmp_path, local(tiny(rounds=1)))

    assert main(["run", path, "--address", "auto", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "resources.backend: local" in err and "--address auto" in err
    assert not (tmp_path / "o").exists()
    grid = ["--grid", "client.lr=0.05,0.1", "--out", str(tmp_path / "s")]
    assert main(["stress", path, *grid, "--parallel", "2"]) == 2
    assert "--parallel 2: resources.backend: local" in capsys.readouterr().err
    assert main(["stress", path, *grid, "--address", "auto"]) == 2
    assert "every cell runs with resources.backend: local" in capsys.readouterr().err
    bad = write(tmp_path, local(tiny(rounds=1, client={"lr": -1})))
    assert main(["stress", bad, *grid, "--address", "auto"]) == 2  # its own problem first
    err = capsys.readouterr().err
    assert "client.lr" in err and "every cell" not in err


def test_an_actor_that_fails_to_build_is_a_startup_error(tmp_path, capsys, monkeypatch):
    """As on Ray: one line naming what failed, exit 1, no traceback."""
    from tests import plugins

    monkeypatch.setitem(plugins.BUILDS, "count", 0)
    scenario = local(tiny(rounds=1, model={"type": "tests.plugins:fails_in_the_worker"}))

    assert main(["run", write(tmp_path, scenario), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "failed to start: RuntimeError: no such device" in err and "Traceback" not in err


def test_stress_runs_a_local_matrix_in_this_process(tmp_path, capsys):
    path = write(tmp_path, local(tiny(rounds=2, evaluation=FAST)))
    out = tmp_path / "s"

    code = main(
        ["stress", path, "--grid", "client.lr=0.05,0.1", "--out", str(out), "--no-progress"]
    )

    assert code == 0, capsys.readouterr().err[-2000:]
    table = pq.read_table(out / "stress.parquet").to_pylist()
    assert len(table) == 2
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/*/summary.json"))]
    summaries = summaries or [json.loads(p.read_text()) for p in out.rglob("summary.json")]
    assert len(summaries) == 2 and {s["backend"] for s in summaries} == {"local"}


def test_tune_trains_each_local_trial_in_its_own_trial_process(tmp_path, capsys, warm):
    pytest.importorskip("ray.tune")
    import ray

    warm.close()  # the module's idle workers hold the CPUs the trials need
    deadline = time.monotonic() + 60  # Ray frees a killed actor's CPUs a moment later
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    path = write(tmp_path, local(tiny(rounds=2, evaluation=FAST)))
    out = tmp_path / "t"

    code = main(["tune", path, "--space", "client.lr=grid(0.05,0.2)", "--out", str(out)])

    assert code == 0, capsys.readouterr().err[-2000:]
    rows = pq.read_table(out / "tune_results.parquet").to_pylist()
    assert sorted(r["client.lr"] for r in rows) == [0.05, 0.2]
    summaries = [json.loads(p.read_text()) for p in (out / "runs").rglob("summary.json")]
    assert len(summaries) == 2 and {s["backend"] for s in summaries} == {"local"}
    assert {s["nodes"][0]["node_id"] for s in summaries} == {"local"}
