"""`tests.retry`: a Ray start that fails is undone and tried once more; a second failure is
raised; what a failed start left running (this process's new children) is killed."""

import subprocess
import sys

import pytest

from tests.retry import children, kill_new_children, twice


def test_a_failed_start_is_undone_then_tried_once_more():
    calls = []

    def start():
        calls.append("start")
        if len(calls) == 1:
            raise Exception("The current node timed out during startup.")
        return "ray"

    assert twice(start, lambda: calls.append("undo"), "a test Ray") == "ray"
    assert calls == ["start", "undo", "start"]


def test_a_second_failure_is_raised():
    def start():
        raise TimeoutError("nodes did not register")

    undone = []
    with pytest.raises(TimeoutError, match="did not register"):
        twice(start, lambda: undone.append(1), "a test Ray")
    assert undone == [1]


def test_only_the_children_started_since_are_killed():
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    before = children()
    new = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert {old.pid, new.pid} <= children()

        kill_new_children(before)

        assert new.wait(timeout=10) == -9 and old.poll() is None
    finally:
        old.kill()
        new.kill()
        old.wait()
