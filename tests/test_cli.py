"""The command line: exit codes, one line per problem, no tracebacks, a real run."""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from fedray.cli import main
from tests.factories import tiny
from tests.test_progress import BAR, on_a_terminal

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))


def write(tmp_path, scenario, name="s.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(scenario) if not isinstance(scenario, str) else scenario)
    return str(path)


def test_shipped_scenarios_validate(capsys):
    assert SHIPPED, "no scenarios shipped"

    assert main(["validate", *SHIPPED]) == 0
    assert capsys.readouterr().out.count(": ok") == len(SHIPPED)


def test_validate_lists_every_problem_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, tiny(rounds=0, client={"lrr": 0.1}, model={"type": "mpl"}))

    code = main(["validate", path, "--set", "federation.clients_per_round=x"])

    err = capsys.readouterr().err
    assert code == 2
    assert "rounds: out of range (got 0; expected >= 1)" in err
    assert "client.lrr: unknown key; did you mean 'lr'?" in err
    assert "model.type: unknown name; did you mean 'mlp'?" in err
    assert "federation.clients_per_round: wrong type (got 'x'; expected an integer)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rounds: [1\n", "invalid YAML at line"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, capsys, text, expected):
    code = main(["validate", write(tmp_path, text)])

    assert code == 2 and expected in capsys.readouterr().err


def test_missing_file_and_missing_parquet(tmp_path, capsys):
    parquet = write(
        tmp_path, tiny(data={"dataset": "parquet", "path": str(tmp_path / "nope.parquet")})
    )

    assert main(["validate", str(tmp_path / "absent.yaml"), parquet]) == 2

    err = capsys.readouterr().err
    assert "cannot read file" in err
    assert "data.path: file not found" in err


def test_model_that_does_not_fit_the_labels_is_reported_by_validate(tmp_path, capsys):
    path = write(tmp_path, tiny(model={"type": "tests.engine_plugins:five_class_model"}))

    assert main(["validate", path]) == 2
    assert "expected (2, 10)" in capsys.readouterr().err


@pytest.mark.slow
def test_resource_request_that_fits_nowhere_exits_2(ray_cluster, tmp_path, capsys):
    path = write(tmp_path, tiny(resources={"num_cpus": 64}))

    code = main(["run", path, "--out", str(tmp_path / "out"), "--no-progress"])

    err = capsys.readouterr().err
    assert code == 2 and "no worker fits" in err and "num_cpus=64" in err


@pytest.mark.slow
def test_fedray_run_command_end_to_end(tmp_path):
    """A new user's path: the installed `fedray` command with its own embedded Ray, in a
    terminal, where it shows its progress bar."""
    path = write(tmp_path, tiny(rounds=2))
    out = tmp_path / "out"

    code, stdout, shown = on_a_terminal(
        [
            sys.executable,
            "-m",
            "fedray.cli",
            "run",
            path,
            "--set",
            "client.lr=0.2",
            "--out",
            str(out),
        ]
    )

    assert code == 0, shown[-2000:]
    assert '"rounds": 2' in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == 2 and summary["final_test_accuracy"] > 0.1
    assert yaml.safe_load((out / "scenario.yaml").read_text())["client"]["lr"] == 0.2
    last = [line for line in re.split(r"[\r\n]", shown) if BAR.search(line)][-1]
    assert "2/2 [" in last and re.search(r"acc=0\.\d{3}", last), shown[-2000:]
    assert "round/s" in last or "s/round" in last


@pytest.mark.slow
def test_resume_extends_a_finished_run_through_the_cli(ray_cluster, tmp_path, capsys):
    path = write(tmp_path, tiny(rounds=2))
    out = str(tmp_path / "out")
    assert main(["run", path, "--out", out, "--no-progress"]) == 0

    code = main(["run", "--resume", out, "--set", "rounds=3", "--no-progress"])

    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rounds"] == 3
    assert yaml.safe_load((tmp_path / "out" / "scenario.yaml").read_text())["rounds"] == 3


def test_run_refuses_a_scenario_and_resume_together(tmp_path, capsys):
    code = main(["run", write(tmp_path, tiny()), "--resume", str(tmp_path)])

    assert code == 2 and "not both" in capsys.readouterr().err


@pytest.mark.parametrize(
    "attack, fragment",
    [
        (
            {"type": "backdoor", "fraction": 0.2, "target": 12},
            "attack.target must be a class in [0, 10)",
        ),
        (
            {"type": "label_flip", "fraction": 0.2, "source": 1},
            "set both attack.source and attack.target",
        ),
        (
            {"type": "sign_flip", "fraction": 0.2, "count": 3},
            "give attack.fraction or attack.count, not both",
        ),
    ],
)
def test_bad_attack_parameters_are_caught_by_validate(tmp_path, capsys, attack, fragment):
    code = main(["validate", write(tmp_path, tiny(attack=attack))])

    assert code == 2 and fragment in capsys.readouterr().err
