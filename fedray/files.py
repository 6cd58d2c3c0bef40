"""Files that a crash leaves whole or absent, never half-written."""

from __future__ import annotations

import os
from pathlib import Path


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file, fsync it, rename it over `path`, fsync the folder.

    A reader (a resumed run) then sees the old file or the new one; a SIGKILL or a power
    cut in between leaves at most a stray `.NAME.tmp`, which the next write replaces.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
