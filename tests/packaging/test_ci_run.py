"""`.ci/run` runs exactly the README's two set-up commands, and fails on what pytest fails on,
a run that collects no test included (exit code 5). Checked on a copy of the script in a
scratch project whose README holds stand-in commands, with `python3` stubbed on the PATH: no
virtual environment is built."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

README = """# a project

```bash
# 1. set up and run the quickstart
python3 -m venv .venv && mkdir -p runs/quickstart && echo '{{}}' > runs/quickstart/summary.json

# 2. run the tests
python3 -m venv .venv && echo "$0" > tests-ran && {tests}
```
"""


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def ci(tmp_path: Path, tests: str) -> subprocess.CompletedProcess:
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(README.format(tests=tests))
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    executable(stubs / "python3", "#!/bin/sh\nexit 0\n")  # `python3 -m venv .venv`: nothing
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    executable(tmp_path / ".venv" / "bin" / "ruff", '#!/bin/sh\necho "$@" >> ruff-ran\n')
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("code", [1, 5])
def test_a_failing_or_empty_test_run_fails_ci_before_lint(tmp_path, code):
    done = ci(tmp_path, f"exit {code}")

    assert done.returncode == code, done.stderr
    assert (tmp_path / "tests-ran").exists() and not (tmp_path / "ruff-ran").exists()


def test_ci_runs_the_readme_s_commands_verbatim_then_lint(tmp_path):
    done = ci(tmp_path, "echo pytest-ran > pytest-ran")

    assert done.returncode == 0, done.stderr
    command = 'python3 -m venv .venv && echo "$0" > tests-ran && echo pytest-ran > pytest-ran'
    assert f"+ {command}" in done.stdout
    assert (tmp_path / "pytest-ran").read_text() == "pytest-ran\n"
    assert (tmp_path / "ruff-ran").read_text() == "check .\nformat --check .\n"


def test_the_readme_s_test_command_is_a_fresh_venv_and_pytest():
    lines = (ROOT / "README.md").read_text().splitlines()
    command = lines[[i for i, x in enumerate(lines) if x.startswith("# 2. ")][0] + 1]

    assert command.startswith("python3 -m venv .venv && ")
    assert ".venv/bin/python -m pytest" in command
