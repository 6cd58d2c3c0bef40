"""Checkpoints: the server state after a round (parameters, strategy and defense state, the
clients' persisted variates, the privacy ledger), as an .npz under `DIR/checkpoints/`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fedray.server.state import ServerState


def save(out: Path, state: ServerState) -> Path:
    """Write `checkpoints/round_<7-digit round>.npz` atomically; strategy state must be numpy arrays."""
    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"round_{state.round:07d}.npz"
    tmp = folder / f".{path.name}.tmp"
    arrays = {f"strategy/{k}": np.asarray(v) for k, v in state.strategy_state.items()}
    arrays.update({f"defense/{k}": np.asarray(v) for k, v in state.defense_state.items()})
    arrays.update({f"privacy/{k}": np.asarray(v) for k, v in state.privacy_state.items()})
    if state.client_states is not None:
        arrays["clients/ids"], arrays["clients/values"] = state.client_states
    with open(tmp, "wb") as fh:
        np.savez(fh, round=np.int64(state.round), params=state.params, **arrays)
    os.replace(tmp, path)
    return path


def latest(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("round_*.npz"))
    return found[-1] if found else None


def load(path: Path) -> ServerState:
    with np.load(path, allow_pickle=False) as z:

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
        )


def clients_dir(out: Path, round_: int) -> Path:
    """Where the client state store's checkpoint of `round_` lives (linked segment files)."""
    return out / "checkpoints" / f"round_{round_:07d}.clients"
