"""Checkpoints: the server state after a round (parameters, strategy and defense state, the
clients' persisted variates, the privacy ledger), as an .npz under `DIR/checkpoints/`.

Each `round_<7-digit round>.npz` has a sidecar `round_<7-digit round>.sha256` holding the SHA-256 of its
bytes. The sidecar is written first and the .npz renamed into place last, each fsynced: an
.npz that exists is complete unless the disk lied, and the checksum catches that (a torn
write, a truncated copy, a flipped bit). Loading reads the bytes once, checks them, and
parses them without unpickling anything.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np

from fedray.files import write_durably
from fedray.server.state import ServerState


class CorruptCheckpoint(ValueError):
    """A checkpoint whose bytes do not match its checksum, or that has none."""


def save(out: Path, state: ServerState) -> Path:
    """Write `checkpoints/round_<7-digit round>.npz` and its checksum, atomically and durably;
    strategy state must be numpy arrays."""
    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"round_{state.round:07d}.npz"
    arrays = {f"strategy/{k}": np.asarray(v) for k, v in state.strategy_state.items()}
    arrays.update({f"defense/{k}": np.asarray(v) for k, v in state.defense_state.items()})
    arrays.update({f"privacy/{k}": np.asarray(v) for k, v in state.privacy_state.items()})
    arrays.update({f"attack/{k}": np.asarray(v) for k, v in state.attack_state.items()})
    if state.client_states is not None:
        arrays["clients/ids"], arrays["clients/values"] = state.client_states
    buffer = io.BytesIO()
    np.savez(buffer, round=np.int64(state.round), params=state.params, **arrays)
    data = buffer.getvalue()
    digest = f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode()
    write_durably(_sidecar(path), digest)
    write_durably(path, data)  # the commit point
    return path


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".sha256")


def all_checkpoints(out: Path) -> list[Path]:
    """Every checkpoint of the run in `out`, oldest first."""
    return sorted((out / "checkpoints").glob("round_*.npz"))


def latest(out: Path) -> Path | None:
    found = all_checkpoints(out)
    return found[-1] if found else None


def problem(path: Path) -> str | None:
    """What is wrong with the checkpoint at `path`, or None if its bytes match its checksum."""
    return _check(path, path.read_bytes())


def _check(path: Path, data: bytes) -> str | None:
    sidecar = _sidecar(path)
    if not sidecar.exists():
        return f"it has no checksum file ({sidecar.name} is missing)"
    recorded = sidecar.read_text().split()[:1]
    actual = hashlib.sha256(data).hexdigest()
    if recorded != [actual]:
        return (
            f"its SHA-256 is {actual[:12]}… but {sidecar.name} records "
            f"{recorded[0][:12] if recorded else 'nothing'}… (a torn write or a damaged copy; "
            f"{len(data)} bytes on disk)"
        )
    return None


def load_latest(out: Path) -> ServerState | None:
    """The state in the newest checkpoint of `out`, or None if there is none yet.

    Raises CorruptCheckpoint naming the bad file, the last good one and what to do.
    """
    found = all_checkpoints(out)
    if not found:
        return None
    try:
        return load(found[-1])
    except CorruptCheckpoint as exc:
        good = next((p for p in reversed(found[:-1]) if problem(p) is None), None)
        if good is None:
            hint = "no earlier checkpoint is intact: start the run again"
        else:
            hint = (
                f"the last good checkpoint is {good}: delete {found[-1]} and its "
                f"{_sidecar(found[-1]).name}, then resume again to continue from round "
                f"{int(good.stem.split('_')[1])}"
            )
        raise CorruptCheckpoint(f"{exc}; {hint}") from None


def load(path: Path) -> ServerState:
    """Read the checkpoint at `path`; CorruptCheckpoint if its bytes fail the checksum."""
    data = path.read_bytes()
    wrong = _check(path, data)
    if wrong is not None:
        raise CorruptCheckpoint(f"checkpoint {path} is corrupt: {wrong}")
    try:
        return _parse(data)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # object arrays, too
        raise CorruptCheckpoint(f"checkpoint {path} does not parse: {exc}") from None


def _parse(data: bytes) -> ServerState:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:

        def group(prefix: str) -> dict:
            return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(prefix + "/")}

        clients = (z["clients/ids"], z["clients/values"]) if "clients/ids" in z.files else None
        return ServerState(
            int(z["round"]),
            z["params"].astype(np.float32),
            group("strategy"),
            group("defense"),
            clients,
            group("privacy"),
            group("attack"),
        )


def prune(out: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints of `out`; return the deleted .npz paths.

    Called after a checkpoint is committed. Each old checkpoint goes .npz first, then its
    checksum and its client-state links: a crash midway leaves at worst stray files of a
    checkpoint that no longer exists, never a newest checkpoint that is incomplete.
    """
    old = all_checkpoints(out)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink()
        _sidecar(path).unlink(missing_ok=True)
        links = clients_dir(out, int(path.stem.split("_")[1]))
        if links.exists():
            shutil.rmtree(links)
    return old


def clients_dir(out: Path, round_: int) -> Path:
    """Where the client state store's checkpoint of `round_` lives (linked segment files)."""
    return out / "checkpoints" / f"round_{round_:07d}.clients"
