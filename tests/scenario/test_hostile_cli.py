"""Command-line arguments that cannot run (`--set foo`, `--grid` without values, a bad
scenario, an output path under a file) exit 2 with one line each, before Ray starts."""

import subprocess
import sys
from pathlib import Path

import pytest

from fedray.cli import main
from fedray.scenario import ScenarioError, load_scenario, to_yaml
from fedray.stress import parse_grid

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def _no_ray(address):
    raise AssertionError("Ray must not start for arguments that cannot run")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["validate", "Q", "--set", "foo"], "--set 'foo': expected path=value"),
        (["run", "Q", "--set", "foo"], "--set 'foo': expected path=value"),
        (["run", "Q", "--set", "=3"], "--set '=3': expected path=value"),
        (["run", "Q", "--set", "rounds.x=1"], "rounds: --set rounds.x: not a section"),
        (["stress", "Q", "--grid", "foo"], "--grid 'foo': expected path=v1,v2"),
        (["stress", "Q", "--grid", "rounds="], "--grid 'rounds=': expected path=v1,v2"),
        (["stress", "Q", "--grid", "=1,2"], "--grid '=1,2': expected path=v1,v2"),
        (["stress", "Q", "--grid", "rounds=[1"], "--grid 'rounds=[1': a value is not valid YAML"),
        (["stress", "Q", "--grid", "rounds=x,2"], "[rounds=x, seed=0] rounds: wrong type"),
        (["stress", "Q", "--grid", "rounds=2020-01-01"], "rounds: wrong type (got '2020-01-01'"),
        (["stress", "Q", "--grid", "rounds=2", "--set", "foo"], "--set 'foo': expected"),
        (
            ["stress", "Q", "--grid", "rounds=2", "--parallel", "0"],
            "--parallel: expected auto or a whole number >= 1",
        ),
        (["stress", "Q", "--grid", "rounds=2", "--seeds", "0"], "--seeds must be >= 1"),
        (["stress", "Q"], "give at least one --grid path=v1,v2"),
        (["stress", "absent.yaml", "--grid", "rounds=2"], "cannot read file"),
        (["run"], "give a scenario file, or --resume DIR"),
    ],
)
def test_bad_arguments_exit_2_before_ray_starts(monkeypatch, capsys, argv, expected):
    monkeypatch.setattr("fedray.api._connect", _no_ray)
    argv = [str(QUICKSTART) if a == "Q" else a for a in argv]

    code = main(argv)

    assert code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["stress", "Q", "--grid"], "argument --grid: expected one argument"),
        (["run", "Q", "--set"], "argument --set: expected one argument"),
        (["stress", "Q", "--grid", "rounds=2", "--seeds", "x"], "invalid int value: 'x'"),
        (["validate"], "the following arguments are required: scenarios"),
        ([], "the following arguments are required: command"),
    ],
)
def test_malformed_command_lines_exit_2_with_usage(capsys, argv, expected):
    argv = [str(QUICKSTART) if a == "Q" else a for a in argv]

    with pytest.raises(SystemExit) as info:
        main(argv)

    assert info.value.code == 2
    assert expected in capsys.readouterr().err


def test_resume_with_a_malformed_set_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("fedray.api._connect", _no_ray)
    (tmp_path / "scenario.yaml").write_text(to_yaml(load_scenario(QUICKSTART)))

    code = main(["run", "--resume", str(tmp_path), "--set", "foo"])

    assert code == 2
    assert "--set 'foo': expected path=value" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, argv, expected",
    [
        (b"rounds: " + b"[" * 3000 + b"]" * 3000, ["validate", "S"], "nested too deeply"),
        (b"rounds: 3\n", ["run", "S", "--set", "foo"], "--set 'foo': expected path=value"),
        (b"rounds: 3\n", ["stress", "S", "--grid"], "argument --grid: expected one argument"),
    ],
)
@pytest.mark.slow  # a fresh interpreter imports torch: seconds each
def test_cli_subprocess_exits_2_without_a_traceback(tmp_path, content, argv, expected):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    argv = [str(path) if a == "S" else a for a in argv]

    done = subprocess.run(
        [sys.executable, "-m", "fedray.cli", *argv], capture_output=True, text=True, cwd=tmp_path
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert expected in done.stderr


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("rounds=[1", "a value is not valid YAML (line 1, column 3: expected ',' or ']'"),
        ("rounds=a\0b", "a value is not valid YAML (character 2: special characters are not"),
        ("rounds=" + "[" * 3000, "a value is not valid YAML (lists or mappings nested too deeply)"),
        ("defense={type: krum, type: median}", "(line 1, column 14: duplicate key 'type')"),
    ],
)
def test_grid_values_that_are_not_yaml_are_one_problem(spec, expected):
    # Each once raised AttributeError: the error had no `problem` to quote.
    with pytest.raises(ScenarioError) as info:
        parse_grid([spec])

    (line,) = info.value.problems
    assert expected in line and len(line) < 200


@pytest.mark.parametrize("out", ["a_file", "a_file/run"])
def test_run_into_a_file_exits_2_before_ray_starts(monkeypatch, tmp_path, capsys, out):
    monkeypatch.setattr("fedray.api._connect", _no_ray)
    (tmp_path / "a_file").write_text("")

    code = main(["run", str(QUICKSTART), "--out", str(tmp_path / out)])

    assert code == 2
    assert "a_file is a file, not a directory" in capsys.readouterr().err
