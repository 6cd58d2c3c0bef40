"""Starting Ray in tests on a loaded machine: a start that fails is undone and tried once more.

Ray gives a starting node a fixed 30 s to register with its GCS (`ray._private.node`), and
`Cluster.wait_for_nodes` 30 s for its nodes to show up; a CI machine busy with other jobs can
miss either, once. That should not fail the session: `twice` undoes what the first attempt
left running (only this process's own children, found by pid) and starts again. A second
failure is raised: then something is wrong beyond a slow start.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def twice(start: Callable[[], T], undo: Callable[[], None], what: str) -> T:
    """Return `start()`; if it raises, call `undo()` and return `start()` once more."""
    try:
        return start()
    except Exception as exc:  # Ray raises a bare Exception for a node's start-up timeout
        print(
            f"{what} did not start ({exc!r:.300}); stopping it and trying once more",
            file=sys.stderr,
        )
        undo()
        return start()


def children(pid: int | None = None) -> set[int]:
    """Pids of the live processes whose parent is `pid` (default: this process), from /proc."""
    parent = str(os.getpid() if pid is None else pid)
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            # stat: "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and fields[1] == parent and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def kill_new_children(before: set[int]) -> None:
    """SIGKILL this process's children that were not in `before` (what a failed start left:
    Ray's GCS and raylet are children of the process that called `ray.init`)."""
    for pid in children() - before:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
