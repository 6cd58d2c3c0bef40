"""The progress bar: shown on a terminal (rounds, accuracy, elapsed time), silent otherwise."""

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading

import pytest
import yaml

from fedray.cli import main
from fedray.progress import Progress
from tests.factories import tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAR = re.compile(r"\d+/\d+ \[\d\d:\d\d")  # "2/3 [00:01<00:00, ...": rounds and elapsed


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def rows():
    return [
        {"round": 1, "test_accuracy": 0.5, "train_loss": 1.2},
        {"round": 2, "train_loss": 0.9},  # not evaluated: the last accuracy stays on show
        {"round": 3, "test_accuracy": 0.75, "train_loss": 0.6},
    ]


def test_bar_on_a_terminal_shows_rounds_accuracy_and_elapsed_time(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = Progress(total=4, done=1)  # resumed after round 1

    for row in rows():
        bar.update(row)
    bar.close()

    last = terminal.getvalue().split("\r")[-1]
    assert "4/4 [00:00<00:00" in last
    assert "acc=0.750" in last and "loss=0.600" in last


@pytest.mark.parametrize("stream, enabled", [(io.StringIO(), None), (FakeTerminal(), False)])
def test_bar_is_silent_off_a_terminal_or_when_turned_off(monkeypatch, stream, enabled):
    monkeypatch.setattr(sys, "stderr", stream)
    bar = Progress(total=3, done=0, enabled=enabled)

    for row in rows():
        bar.update(row)
    bar.close()

    assert stream.getvalue() == ""


def write(tmp_path, scenario) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return str(path)


@pytest.mark.slow
def test_fedray_run_is_silent_off_a_terminal_and_with_no_progress(
    ray_cluster, tmp_path, monkeypatch, capsys
):
    path = write(tmp_path, tiny(rounds=1, evaluation={"federated_clients": 0}))
    assert main(["run", path, "--out", str(tmp_path / "piped")]) == 0
    piped = capsys.readouterr().err
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    assert main(["run", path, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0

    assert not BAR.search(piped) and not BAR.search(terminal.getvalue())


def on_a_terminal(args: list[str], timeout: float = 300) -> tuple[int, str, str]:
    """Run `args` with stderr on a 120-column pseudo-terminal; return (exit code, stdout,
    what the terminal showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    shown = []

    def read():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every holder of the terminal's other end has closed it
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            args, stdout=subprocess.PIPE, stderr=slave, text=True, timeout=timeout, cwd=ROOT
        )
    finally:
        os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return done.returncode, done.stdout, b"".join(shown).decode(errors="replace")


# `fedray run` on a real terminal, with its own embedded Ray, showing this bar:
# tests/test_cli.py::test_fedray_run_command_end_to_end (one CLI process serves both).
